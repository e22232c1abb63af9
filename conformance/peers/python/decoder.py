#!/usr/bin/python3
"""decoder.py — a complete frame decoder of the handoff wire v1 spec, in
Python 3 with the standard library only, and a SUT of the decoder oracle
(`handoff-conform decode`, spec/conformance.md §6).

    decoder.py FRAME_TYPE        (hello, hello_reply, offer, ack, ready)

reads records on stdin — a 4-byte little-endian length, then that many
bytes: everything a receiver reads from the stream before EOF — and writes
one line per record: the decoded frame in the golden vectors' JSON form
(conformance/vectors/README.md), or the error name. An empty record is
CLOSED (FRAME-9); bytes after the first frame are not part of it (FRAME-6).

The protobuf wire format is decoded by hand with the spec's rules, as in
backend.py section 2 (whose varint reader it shares), but complete: every
message of the five frames, the item caps of repeated and map fields
(MSG-9), the HelloReply oneof with protobuf merging (MSG-2), the map of
Refused.details, and the order of defects (MSG-15, MSG-17). The example
peers (backend.py, handshake.py) decode only what a backend, broker or
client acts on; this module decodes everything, for implementers to copy.

    build/bin/handoff-conform decode -n 100000 -- /usr/bin/python3 \\
        conformance/peers/python/decoder.py {frame_type}
"""

import json
import struct
import sys

from backend import ProtocolError, check_envelope, read_varint

FRAMING_VERSION = 1
HELLO_CAP = 64 * 1024                  # FRAME-3, FRAME-5: the Hello body cap
FRAME_CAP = 16 * 1024 * 1024           # every other frame
TOKEN_BYTES = 16

# Field kinds (the same as ref/lib/wire/scan.h).
U32, BOOL, U64, STRING, BYTES, TOKEN, TOKEN_OPT, ENTRY, ONEOF, RAW = range(10)
LENGTH_DELIMITED = (STRING, BYTES, TOKEN, TOKEN_OPT, ENTRY, ONEOF, RAW)


def f(name, kind, cap=None, items=0, sub=None):
    return (name, kind, cap, items, sub)


ENVELOPE = {                                          # envelope.md §1
    1: f("envelope_version", U32), 2: f("kind", U32), 3: f("payload_protocol", U32),
    4: f("payload", RAW), 5: f("request_id", U64), 6: f("payload_encoding", U32),
    7: f("deadline_unix_ms", U64), 8: f("traceparent", STRING, 128), 9: f("tracestate", STRING, 512),
}
HELLO = {                                             # messages.md §3
    1: f("client_min_protocol", U32), 2: f("client_max_protocol", U32),
    3: f("service_name", STRING, 64), 4: f("wanted_version", STRING, 64),
    5: f("client_version", STRING, 128), 6: f("client_capabilities", U64),
    7: f("auth_token", BYTES, 256), 8: f("request_id", STRING, 128), 9: f("connection_id", U64),
    10: f("peer_pid", U32), 11: f("client_lib_name", STRING, 64),
    12: f("client_lib_version", STRING, 64), 13: f("peer_attestation_nonce", BYTES, 256),
    14: f("capability_token", BYTES, 256), 15: f("client_keepalive_secs", U64),
}
NEGOTIATED = {                                        # messages.md §4.1
    1: f("negotiated_protocol", U32), 2: f("daemon_version", STRING, 128),
    3: f("backend_pipe", STRING, 256), 4: f("warnings", STRING, 256, items=8),
    5: f("server_capabilities", U64), 6: f("keepalive_interval_secs", U64),
    7: f("handle_passed_token", TOKEN_OPT), 8: f("connection_id", U64),
}
DETAIL = {1: f("key", STRING, 64), 2: f("value", STRING, 256)}  # map<string,string> entry
REFUSED = {                                           # messages.md §4.2
    1: f("reason", STRING, 256), 2: f("daemon_min_protocol", U32), 3: f("daemon_max_protocol", U32),
    4: f("code", U32), 5: f("details", ENTRY, items=8, sub=DETAIL), 6: f("retry_after_ms", U64),
}
HELLO_REPLY = {1: f("negotiated", ONEOF, sub=NEGOTIATED), 2: f("refused", ONEOF, sub=REFUSED)}
OFFER = {                                             # messages.md §5
    1: f("handle_value", U64), 2: f("token", TOKEN), 3: f("service_name", STRING, 64),
    4: f("correlation_id", U64), 11: f("offer_flags", U64),
    12: f("reply_adopted", BYTES, 4096), 13: f("reply_declined", BYTES, 4096),
}
ACK = {                                               # messages.md §6
    1: f("token", TOKEN), 2: f("accepted", BOOL), 3: f("error_detail", STRING, 256),
    4: f("correlation_id", U64), 11: f("backend_capabilities", U64),
}

# frame type -> (kind, payload protocol, payload schema, body cap, handoff frame)
FRAMES = {
    "hello": (0, 0x0000, HELLO, HELLO_CAP, False),
    "hello_reply": (1, 0x0000, HELLO_REPLY, FRAME_CAP, False),
    "offer": (0, 0xD0FF, OFFER, FRAME_CAP, True),
    "ack": (1, 0xD0FF, ACK, FRAME_CAP, True),
    "ready": (2, 0xD0FF, ACK, FRAME_CAP, True),
}


class Message:
    """A message being decoded: the values of its known fields (defaults
    for absent ones), how often each occurred, and for a oneof the member
    in effect with its merged value."""

    def __init__(self, schema):
        self.schema = schema
        self.values = {}
        for _num, (name, kind, _cap, items, _sub) in schema.items():
            if items and kind == ENTRY:
                self.values[name] = {}
            elif items:
                self.values[name] = []
            elif kind in (U32, U64):
                self.values[name] = 0
            elif kind == BOOL:
                self.values[name] = False
            elif kind == STRING:
                self.values[name] = ""
            else:
                self.values[name] = b""
        self.count = {}
        self.which = None          # ONEOF: the field number in effect
        self.member = None         # its merged Message


def check_string(value, cap):
    """MSG-17 within one field: the length cap, then the content."""
    if len(value) > cap:
        raise ProtocolError("STRING_TOO_LONG")        # MSG-6, in any occurrence
    if b"\x00" in value:
        raise ProtocolError("STRING_INVALID")         # MSG-7
    try:
        return value.decode("utf-8")                  # strict: no overlongs, no surrogates
    except UnicodeDecodeError:
        raise ProtocolError("STRING_INVALID") from None


def final_check(m):
    """MSG-8, MSG-15: the final token lengths, once the message is read."""
    for _num, (name, kind, _cap, _items, _sub) in m.schema.items():
        if kind == TOKEN and len(m.values[name]) != TOKEN_BYTES:
            raise ProtocolError("TOKEN_LENGTH")
        if kind == TOKEN_OPT and len(m.values[name]) not in (0, TOKEN_BYTES):
            raise ProtocolError("TOKEN_LENGTH")


def scan(buf, m):
    """Read the fields of `buf` into `m` (several occurrences of a merged
    oneof member accumulate into one Message). The first defect in the
    order of the bytes is raised (MSG-15); within a field: tag, wire type,
    extent, item cap, length cap, content (MSG-17)."""
    schema, values, count = m.schema, m.values, m.count
    pos, end = 0, len(buf)
    member_field = None
    while pos < end:
        key, pos = read_varint(buf, pos, 5)           # MSG-4: a tag of at most 5 bytes
        if key > 0xFFFFFFFF or key >> 3 == 0:
            raise ProtocolError("MALFORMED")          # MSG-10: tag above 2^32-1, field 0
        number, wt = key >> 3, key & 7
        if wt not in (0, 1, 2, 5):
            raise ProtocolError("MALFORMED")          # MSG-10: groups, 6, 7 — on any field
        field = schema.get(number)
        if field is not None:
            name, kind, cap, items, sub = field
            if wt != (2 if kind in LENGTH_DELIMITED else 0):
                raise ProtocolError("WIRE_TYPE")      # MSG-5
        if wt == 0:
            value, pos = read_varint(buf, pos, 10)    # MSG-4: up to 10 bytes
        elif wt == 1 or wt == 5:
            size = 8 if wt == 1 else 4
            if end - pos < size:
                raise ProtocolError("MALFORMED")
            pos += size
            continue                                  # only unknown fields get here (MSG-1)
        else:
            length, pos = read_varint(buf, pos, 5)
            if length > end - pos:
                raise ProtocolError("MALFORMED")      # MSG-10: runs past the end
            value = bytes(buf[pos:pos + length])
            pos += length
        if field is None:
            continue                                  # MSG-1: unknown fields are skipped
        n = count.get(number, 0)
        if kind == U32:
            values[name] = value & 0xFFFFFFFF         # MSG-11: the low 32 bits
        elif kind == BOOL:
            values[name] = value != 0
        elif kind == U64:
            values[name] = value
        else:
            if items and n >= items:
                raise ProtocolError("TOO_MANY_ITEMS")  # MSG-9, before the contents
            if kind == STRING:
                s = check_string(value, cap)
                if items:
                    values[name].append(s)            # repeated: in wire order
                else:
                    values[name] = s                  # MSG-2: the last one wins
            elif kind == BYTES:
                if len(value) > cap:
                    raise ProtocolError("STRING_TOO_LONG")  # MSG-6
                values[name] = bytes(value)
            elif kind in (TOKEN, TOKEN_OPT):
                if len(value) > TOKEN_BYTES:
                    raise ProtocolError("TOKEN_LENGTH")  # MSG-8, in any occurrence
                values[name] = bytes(value)
            elif kind == ENTRY:
                entry = decode_message(value, sub)    # MSG-10: its own errors apply
                values[name][entry["key"]] = entry["value"]  # a repeated key: last wins
            elif kind == ONEOF:
                if member_field != number:            # MSG-2: the other member starts afresh
                    member_field = number
                    m.which, m.member = number, Message(sub)
                scan(value, m.member)                 # the same member merges
            else:
                values[name] = bytes(value)           # RAW: Frame.payload
        count[number] = n + 1
    if m.member is not None and member_field is not None:
        final_check(m.member)                         # the merged member is complete


def decode_message(buf, schema):
    m = Message(schema)
    scan(buf, m)
    final_check(m)
    if any(k == ONEOF for (_n, k, _c, _i, _s) in schema.values()):
        if m.which is None:
            return {}                                 # MSG-16: neither member
        name = schema[m.which][0]
        return {name: render(m.member)}
    return render(m)


def render(m):
    """The vectors' decoded form: every field, uint64 as decimal strings,
    bytes as lowercase hex."""
    out = {}
    for _num, (name, kind, _cap, _items, _sub) in m.schema.items():
        v = m.values[name]
        if kind == U64:
            v = str(v)
        elif kind in (BYTES, TOKEN, TOKEN_OPT, RAW):
            v = v.hex()
        out[name] = v
    return out


def decode_frame(frame_type, data):
    """ENV-4: framing, envelope decoding, envelope checks, payload decoding,
    request_id == correlation_id; the first failure names the error."""
    kind, protocol, schema, cap, handoff = FRAMES[frame_type]
    if not data:
        raise ProtocolError("CLOSED")                 # FRAME-9: EOF at a frame boundary
    if data[0] != FRAMING_VERSION:
        raise ProtocolError("FRAMING_VERSION")        # FRAME-2, from the first byte
    if len(data) < 5:
        raise ProtocolError("TRUNCATED")              # FRAME-4
    length = struct.unpack_from("<I", data, 1)[0]
    if length > cap:
        raise ProtocolError("FRAME_TOO_LARGE")        # FRAME-3: from the header alone
    if len(data) - 5 < length:
        raise ProtocolError("TRUNCATED")              # FRAME-4
    body = memoryview(data)[5:5 + length]             # FRAME-6: nothing after the frame
    env_m = Message(ENVELOPE)
    scan(body, env_m)
    env = env_m.values
    check_envelope(env, kind, protocol)               # ENV-4 steps 3 to 8, ENV-5
    message = decode_message(env["payload"], schema)
    if handoff and str(env["request_id"]) != message["correlation_id"]:
        raise ProtocolError("REQUEST_ID_MISMATCH")    # ENV-7
    return {"envelope": render(env_m), "message": message}


def answer(frame_type, data):
    try:
        v = decode_frame(frame_type, data)
    except ProtocolError as e:
        return str(e)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_exactly(stream, n):
    data = stream.read(n)
    return data if data is not None else b""


def serve(frame_type, stdin=None, stdout=None):
    """The oracle's contract: records in, one line each out, until EOF."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    while True:
        header = read_exactly(stdin, 4)
        if len(header) < 4:
            return 0 if not header else 1
        n = struct.unpack("<I", header)[0]
        data = read_exactly(stdin, n)
        if len(data) < n:
            return 1
        stdout.write(answer(frame_type, data).encode("utf-8") + b"\n")
        stdout.flush()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    frame_type = argv[0] if argv else ""
    if frame_type not in FRAMES:
        sys.stderr.write("usage: decoder.py hello|hello_reply|offer|ack|ready\n")
        return 2
    return serve(frame_type)


if __name__ == "__main__":
    sys.exit(main())
