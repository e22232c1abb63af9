"""v1wire — the running-process broker v1 wire, hand-rolled (standard library only).

Shared by the three v1 test peers (backend.py, broker.py, client.py). It speaks
only what the ORIGINAL v1 speaks (reference: running-process-v1-handoff.md §1):

  framing   [u8 framing_version=1][u32 LE body_length][protobuf Frame]
  Frame     1 envelope_version, 2 kind, 3 payload_protocol, 4 payload,
            5 request_id, 6 payload_encoding, 7 deadline_unix_ms,
            8 traceparent, 9 tracestate
  payloads  Hello / HelloReply{Negotiated|Refused} on 0x0000,
            HandoffOffer / HandoffAck on 0xD0FF (fields 1-4 only)
  sideband  Unix: 16 raw token bytes carrying one fd (SCM_RIGHTS), then the
            framed offer

Decoding is prost-like, as the original's: unknown fields (field 11 of the
offer and ACK included) are skipped, the last occurrence of a field wins,
explicit defaults (the `08 00` offer prefix) are accepted, strings must be
UTF-8. The peers add none of this spec's extensions.
"""

import os
import socket
import struct
import time

FRAMING_VERSION = 1
HEADER_BYTES = 5
MAX_FRAME_BYTES = 16 * 1024 * 1024  # original: MAX_FRAME_SIZE_BYTES
MAX_HELLO_BYTES = 64 * 1024  # original: MAX_HELLO_SIZE_BYTES
TOKEN_BYTES = 16  # original: HANDOFF_TOKEN_BYTES
PROTOCOL_VERSION = 1

PROTO_HELLO = 0x0000
PROTO_HANDOFF = 0xD0FF

KIND_REQUEST, KIND_RESPONSE, KIND_EVENT, KIND_CANCEL = 0, 1, 2, 3
KIND_NAMES = {0: "REQUEST", 1: "RESPONSE", 2: "EVENT", 3: "CANCEL"}
ENCODING_NONE = 0

CAP_HANDLE_PASSING = 1 << 0  # the only capability bit the original knows

# ErrorCode (Refused.code)
ERROR_VERSION_UNSUPPORTED = 1
ERROR_SERVICE_UNKNOWN = 2
ERROR_RATE_LIMITED = 4
ERROR_PEER_REJECTED = 6
ERROR_INTERNAL = 7

# Timing constants of the original (reference §2).
DEFAULT_HANDOFF_ACK_DEADLINE_S = 5.0
DEFAULT_HANDOFF_READY_TIMEOUT_S = 2.0
HELLO_TIMEOUT_S = 30.0
CLIENT_TIMEOUT_S = 30.0
DEFAULT_KEEPALIVE_SECS = 1800


class WireError(Exception):
    """A rejected input. `name` is the spec's error name (spec/errors.md),
    `detail` the original's wording where the reference document gives it."""

    def __init__(self, name, detail=None):
        super().__init__(detail or name)
        self.name = name
        self.detail = detail or name


class Closed(WireError):
    """EOF at a frame boundary (no byte of the next frame read)."""

    def __init__(self):
        super().__init__("CLOSED", "connection closed")


# ---- varints and fields -----------------------------------------------------

def varint(v):
    if v < 0:
        v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, pos):
    """(value, new_pos); up to 10 bytes, as protobuf decoders accept."""
    result = 0
    shift = 0
    for i in range(10):
        if pos >= len(buf):
            raise WireError("MALFORMED", "truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            if i == 9 and b > 1:
                raise WireError("MALFORMED", "varint overflows 64 bits")
            return result & ((1 << 64) - 1), pos
        shift += 7
    raise WireError("MALFORMED", "varint longer than 10 bytes")


def key(field, wire_type):
    return varint(field << 3 | wire_type)


def f_varint(field, v, keep_default=False):
    if not v and not keep_default:
        return b""
    return key(field, 0) + varint(int(v))


def f_bytes(field, v):
    if not v:
        return b""
    if isinstance(v, str):
        v = v.encode("utf-8")
    return key(field, 2) + varint(len(v)) + bytes(v)


def parse_fields(buf):
    """Split a protobuf message into [(field, wire_type, value)]: ints for
    varint/fixed fields, bytes for length-delimited ones."""
    out = []
    pos = 0
    n = len(buf)
    while pos < n:
        tag, pos = read_varint(buf, pos)
        field, wt = tag >> 3, tag & 7
        if field == 0 or field > (1 << 29) - 1:
            raise WireError("MALFORMED", "invalid field number")
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 1:
            if pos + 8 > n:
                raise WireError("MALFORMED", "truncated fixed64")
            v = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 5:
            if pos + 4 > n:
                raise WireError("MALFORMED", "truncated fixed32")
            v = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        elif wt == 2:
            ln, pos = read_varint(buf, pos)
            if ln > n - pos:
                raise WireError("MALFORMED", "length-delimited field runs past the buffer")
            v = bytes(buf[pos:pos + ln])
            pos += ln
        else:
            raise WireError("MALFORMED", "invalid wire type %d" % wt)
        out.append((field, wt, v))
    return out


# ---- schemas (field number -> (name, type)) --------------------------------

FRAME = {1: ("envelope_version", "u32"), 2: ("kind", "enum"), 3: ("payload_protocol", "u32"),
         4: ("payload", "bytes"), 5: ("request_id", "u64"), 6: ("payload_encoding", "enum"),
         7: ("deadline_unix_ms", "u64"), 8: ("traceparent", "string"),
         9: ("tracestate", "string")}
HELLO = {1: ("client_min_protocol", "u32"), 2: ("client_max_protocol", "u32"),
         3: ("service_name", "string"), 4: ("wanted_version", "string"),
         5: ("client_version", "string"), 6: ("client_capabilities", "u64"),
         7: ("auth_token", "bytes"), 8: ("request_id", "string"), 9: ("connection_id", "u64"),
         10: ("peer_pid", "u32"), 11: ("client_lib_name", "string"),
         12: ("client_lib_version", "string"), 13: ("peer_attestation_nonce", "bytes"),
         14: ("capability_token", "bytes"), 15: ("client_keepalive_secs", "u64")}
NEGOTIATED = {1: ("negotiated_protocol", "u32"), 2: ("daemon_version", "string"),
              3: ("backend_pipe", "string"), 4: ("warnings", "rstring"),
              5: ("server_capabilities", "u64"), 6: ("keepalive_interval_secs", "u64"),
              7: ("handle_passed_token", "bytes"), 8: ("connection_id", "u64")}
REFUSED = {1: ("reason", "string"), 2: ("daemon_min_protocol", "u32"),
           3: ("daemon_max_protocol", "u32"), 4: ("code", "enum"), 5: ("details", "map"),
           6: ("retry_after_ms", "u64")}
# The original's offer and ACK: fields 1-4. Field 11 (this spec's extension)
# is deliberately absent: the original skips it as an unknown field.
OFFER = {1: ("handle_value", "u64"), 2: ("token", "bytes"), 3: ("service_name", "string"),
         4: ("correlation_id", "u64")}
ACK = {1: ("token", "bytes"), 2: ("accepted", "bool"), 3: ("error_detail", "string"),
       4: ("correlation_id", "u64")}

_DEFAULTS = {"u32": 0, "u64": 0, "enum": 0, "bool": False, "string": "", "bytes": b""}


def _defaults(schema):
    d = {}
    for name, typ in schema.values():
        if typ == "rstring":
            d[name] = []
        elif typ == "map":
            d[name] = {}
        else:
            d[name] = _DEFAULTS[typ]
    return d


def _utf8(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("STRING_INVALID", "invalid UTF-8 in a string field") from None


def decode(schema, buf, base=None):
    """Decode `buf` per `schema` (prost semantics: unknown fields skipped,
    last one wins, repeated appended). `base` merges into an existing dict."""
    msg = base if base is not None else _defaults(schema)
    for field, wt, v in parse_fields(buf):
        spec = schema.get(field)
        if spec is None:
            continue  # unknown field (e.g. field 11 of offer/ACK): skipped
        name, typ = spec
        want = 0 if typ in ("u32", "u64", "enum", "bool") else 2
        if wt != want:
            raise WireError("WIRE_TYPE", "invalid wire type for %s" % name)
        if typ == "u32" or typ == "enum":
            msg[name] = v & 0xFFFFFFFF
        elif typ == "u64":
            msg[name] = v
        elif typ == "bool":
            msg[name] = v != 0
        elif typ == "string":
            msg[name] = _utf8(v)
        elif typ == "bytes":
            msg[name] = v
        elif typ == "rstring":
            msg[name].append(_utf8(v))
        elif typ == "map":
            ent = decode({1: ("key", "string"), 2: ("value", "string")}, v)
            msg[name][ent["key"]] = ent["value"]
    return msg


def encode(schema, msg):
    """Canonical encoding: increasing field numbers, defaults omitted."""
    out = bytearray()
    for field in sorted(schema):
        name, typ = schema[field]
        v = msg.get(name)
        if v is None:
            continue
        if typ in ("u32", "u64", "enum"):
            out += f_varint(field, v)
        elif typ == "bool":
            out += f_varint(field, 1 if v else 0)
        elif typ in ("string", "bytes"):
            out += f_bytes(field, v)
        elif typ == "rstring":
            for s in v:
                out += key(field, 2) + varint(len(s.encode())) + s.encode()
        elif typ == "map":
            for k2, v2 in v.items():
                ent = f_bytes(1, k2) + f_bytes(2, v2)
                out += key(field, 2) + varint(len(ent)) + ent
    return bytes(out)


def decode_hello_reply(buf):
    """HelloReply: oneof result {1 negotiated, 2 refused}; the last member
    present decides, repeated occurrences of it merge (prost)."""
    which, msg = None, None
    for field, wt, v in parse_fields(buf):
        if field not in (1, 2):
            continue
        if wt != 2:
            raise WireError("WIRE_TYPE", "invalid wire type for HelloReply.result")
        schema = NEGOTIATED if field == 1 else REFUSED
        name = "negotiated" if field == 1 else "refused"
        msg = decode(schema, v, msg if which == name else None)
        which = name
    return which, msg


# ---- frames -------------------------------------------------------------------

def frame(body):
    """[u8 1][u32 LE length][body]."""
    return bytes([FRAMING_VERSION]) + struct.pack("<I", len(body)) + body


def envelope(kind, protocol, payload, request_id=0):
    return frame(encode(FRAME, {"envelope_version": 1, "kind": kind, "payload_protocol": protocol,
                                "payload": payload, "request_id": request_id}))


def hello_frame(service_name, caps, peer_pid=0, client_version="", lib_name="", lib_version=""):
    return envelope(KIND_REQUEST, PROTO_HELLO, encode(HELLO, {
        "client_min_protocol": PROTOCOL_VERSION, "client_max_protocol": PROTOCOL_VERSION,
        "service_name": service_name, "client_version": client_version,
        "client_capabilities": caps, "peer_pid": peer_pid, "client_lib_name": lib_name,
        "client_lib_version": lib_version}))


def negotiated_frame(neg):
    inner = encode(NEGOTIATED, neg)
    return envelope(KIND_RESPONSE, PROTO_HELLO, key(1, 2) + varint(len(inner)) + inner)


def refused_frame(code, reason, retry_after_ms=0):
    inner = encode(REFUSED, {"reason": reason, "daemon_min_protocol": PROTOCOL_VERSION,
                             "daemon_max_protocol": PROTOCOL_VERSION, "code": code,
                             "retry_after_ms": retry_after_ms})
    return envelope(KIND_RESPONSE, PROTO_HELLO, key(2, 2) + varint(len(inner)) + inner)


def offer_frame(token, service_name, correlation_id):
    """The production offer of the original on Unix:
    `handoff_offer_frame_with_attachment` prepends `08 varint(attachment)`,
    literally `08 00`, to the encoding of an offer whose handle_value is 0.
    REQUEST on 0xD0FF, request_id = correlation_id. spec: XFER-5 MSG-3"""
    payload = b"\x08\x00" + encode(OFFER, {"token": token, "service_name": service_name,
                                           "correlation_id": correlation_id})
    return envelope(KIND_REQUEST, PROTO_HANDOFF, payload, correlation_id)


def ack_payload(token, accepted, error_detail, correlation_id):
    """HandoffAck fields 1-4 only: never field 11 (backend_capabilities)."""
    return encode(ACK, {"token": token, "accepted": accepted, "error_detail": error_detail,
                        "correlation_id": correlation_id})


def ack_frame(token, accepted, error_detail, correlation_id):
    return envelope(KIND_RESPONSE, PROTO_HANDOFF,
                    ack_payload(token, accepted, error_detail, correlation_id), correlation_id)


def ready_frame(token, correlation_id):
    """The broker-built ready relay: EVENT on 0xD0FF carrying
    HandoffAck{token, accepted, "", correlation_id = connection_id}."""
    return envelope(KIND_EVENT, PROTO_HANDOFF, ack_payload(token, True, "", correlation_id),
                    correlation_id)


def decode_frame(body):
    return decode(FRAME, body)


def validate_envelope(fr, kind, protocol):
    """The original's envelope check, in its fixed order: version, kind,
    payload_protocol, encoding (protocol/validate.rs, wire.rs)."""
    if fr["envelope_version"] != 1:
        raise WireError("ENVELOPE_VERSION", "envelope_version is not v1")
    if fr["kind"] not in KIND_NAMES or fr["kind"] == KIND_CANCEL:
        raise WireError("UNKNOWN_KIND", "kind is not REQUEST|EVENT|RESPONSE")
    if fr["kind"] != kind:
        raise WireError("WRONG_KIND", "kind is not %s" % KIND_NAMES[kind])
    if fr["payload_protocol"] != protocol:
        raise WireError("PAYLOAD_PROTOCOL",
                        "payload_protocol is not %s" % ("handoff" if protocol == PROTO_HANDOFF
                                                        else "hello"))
    if fr["payload_encoding"] != ENCODING_NONE:
        raise WireError("PAYLOAD_COMPRESSED", "payload is compressed")


# ---- reading frames (never past the end of the frame) ------------------------

def recv_exact(sock, n, deadline=None):
    """Exactly n bytes, with reads bounded to the bytes still missing.
    With `deadline` (time.monotonic()), the socket's timeout is set to what
    is left before each read (socket.timeout when it passes); without it the
    socket is used as it is. Raises Closed on EOF at 0 bytes, WireError
    TRUNCATED on EOF later."""
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if buf:
                raise WireError("TRUNCATED", "connection closed inside a frame")
            raise Closed()
        buf += chunk
    return bytes(buf)


def read_frame(sock, cap=MAX_FRAME_BYTES, deadline=None, header=None):
    """Read one frame: the 5 header bytes, the length checked against `cap`
    before anything is read or allocated for the body, then exactly the body.
    Returns the body. `header` passes 5 header bytes already read."""
    hdr = header if header is not None else recv_exact(sock, HEADER_BYTES, deadline)
    if hdr[0] != FRAMING_VERSION:
        raise WireError("FRAMING_VERSION", "unsupported framing version %d" % hdr[0])
    length = struct.unpack_from("<I", hdr, 1)[0]
    if length > cap:
        raise WireError("FRAME_TOO_LARGE", "frame of %d bytes exceeds %d" % (length, cap))
    try:
        return recv_exact(sock, length, deadline) if length else b""
    except Closed:
        raise WireError("TRUNCATED", "connection closed inside a frame") from None


# ---- Unix sideband ----------------------------------------------------------------

def send_sideband(sock, token, fd, flags=socket.MSG_NOSIGNAL):
    """One sendmsg: data = the 16 token bytes, SCM_RIGHTS = one fd. Returns
    the number of bytes sent (a short send is the caller's failure)."""
    return sock.sendmsg([token], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))],
                       flags)


def recv_sideband(sock):
    """The original's hand-rolled receiver: a 16-byte iov plus room for one
    fd, read until 16 bytes are in. Returns (bytes, [fds], ctrunc). EOF at 0
    bytes raises Closed; EOF inside raises TRUNCATED (fds already received are
    closed first)."""
    data = bytearray()
    fds = []
    ctrunc = False
    while len(data) < TOKEN_BYTES:
        try:
            msg, anc, flags, _ = sock.recvmsg(TOKEN_BYTES - len(data), socket.CMSG_SPACE(4))
        except BaseException:
            close_all(fds)
            raise
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                usable = len(cdata) - len(cdata) % 4
                fds.extend(struct.unpack("%di" % (usable // 4), cdata[:usable]))
        if flags & socket.MSG_CTRUNC:
            ctrunc = True
        if not msg:
            close_all(fds)
            if data:
                raise WireError("TRUNCATED", "control connection closed inside the sideband")
            raise Closed()
        data += msg
    return bytes(data), fds, ctrunc


def close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    del fds[:]


# ---- small helpers ---------------------------------------------------------------

def bind_owner_only(path, backlog=512):
    """A Unix listening socket only its owner can use: parent directory 0700
    (created if missing), socket 0600 (bound under umask 077). Returns the
    socket; a stale socket file at `path` is replaced."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, mode=0o700, exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        tmp = path + ".tmp%d" % os.getpid()
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        s.bind(tmp)
    finally:
        os.umask(old)
    os.chmod(tmp, 0o600)
    s.listen(backlog)
    os.rename(tmp, path)  # the path appears only once we accept connections
    return s


def peer_cred(sock):
    """(pid, uid, gid) of a connected Unix socket's peer (Linux SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)


class Log:
    """One line per event, `time prog[pid] event=... k=v`, to a file or stderr."""

    def __init__(self, prog, path=None):
        import sys
        import threading
        self.prog = prog
        self.f = open(path, "a", buffering=1) if path else sys.stderr
        self.lock = threading.Lock()

    def __call__(self, event, **kv):
        parts = " ".join("%s=%s" % (k, v) for k, v in kv.items())
        line = "%.6f %s[%d] event=%s%s%s\n" % (time.time(), self.prog, os.getpid(), event,
                                              " " if parts else "", parts)
        with self.lock:
            self.f.write(line)
            self.f.flush()
