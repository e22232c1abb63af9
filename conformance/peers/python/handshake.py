"""handshake.py — the frames of the client connection (Hello, HelloReply with
Negotiated or Refused, the ready frame), for the Python client and broker.
The protobuf wire format and the spec's decoding rules (MSG-1..MSG-17) are
those of backend.py, section 2; this module adds the messages a backend
never sees. Standard library only.
"""

import struct

from backend import (BOOL, BYTES, ENUM, ENVELOPE_VERSION, FRAME_SCHEMA, FRAMING_VERSION,
                     KIND_EVENT, KIND_REQUEST, KIND_RESPONSE, MAX_SERVICE_NAME, PAYLOAD_HANDOFF,
                     STRING, TOKEN, TOKEN_BYTES, UINT32, UINT64, ProtocolError, check_envelope, decode_message,
                     encode_ack, put_field)

PAYLOAD_HELLO = 0x0000
HELLO_CAP = 64 * 1024                  # FRAME-3: the Hello cap
FRAME_CAP = 16 * 1024 * 1024           # every other frame
REPLY_MAX = 4096                       # READY-29: a reply inside an offer

CAP_HANDLE_PASSING, CAP_BACKEND_READY, CAP_EARLY_DATA, CAP_COALESCED_REPLY = 1, 2, 4, 8
OFFER_FLAG_BACKEND_READY, OFFER_FLAG_COALESCED_REPLY = 1, 2
BACKEND_CAP_BACKEND_READY, BACKEND_CAP_MULTI_OFFER, BACKEND_CAP_COALESCED_REPLY = 1, 2, 4

# Refused.code (ErrorCode)
VERSION_UNSUPPORTED, SERVICE_UNKNOWN, RATE_LIMITED, PEER_REJECTED, INTERNAL = 1, 2, 4, 6, 7
KNOWN_CODES = range(1, 10)

HELLO_SCHEMA = {                                      # messages.md §2
    1: ("client_min_protocol", UINT32, None),
    2: ("client_max_protocol", UINT32, None),
    3: ("service_name", STRING, MAX_SERVICE_NAME),
    4: ("wanted_version", STRING, 64),
    5: ("client_version", STRING, 128),
    6: ("client_capabilities", UINT64, None),
    7: ("auth_token", BYTES, 256),
    8: ("request_id", STRING, 128),
    9: ("connection_id", UINT64, None),
    10: ("peer_pid", UINT32, None),
    11: ("client_lib_name", STRING, 64),
    12: ("client_lib_version", STRING, 64),
    13: ("peer_attestation_nonce", BYTES, 256),
    14: ("capability_token", BYTES, 256),
    15: ("client_keepalive_secs", UINT64, None),
}
REPLY_SCHEMA = {1: ("negotiated", BYTES, None), 2: ("refused", BYTES, None)}
NEGOTIATED_SCHEMA = {
    1: ("negotiated_protocol", UINT32, None),
    2: ("daemon_version", STRING, 128),
    3: ("backend_pipe", STRING, 256),
    4: ("warning", STRING, 256),                      # repeated: the last one is kept
    5: ("server_capabilities", UINT64, None),
    6: ("keepalive_interval_secs", UINT64, None),
    7: ("handle_passed_token", BYTES, None),          # 0 or 16 bytes, checked below
    8: ("connection_id", UINT64, None),
}
REFUSED_SCHEMA = {
    1: ("reason", STRING, 256),
    2: ("daemon_min_protocol", UINT32, None),
    3: ("daemon_max_protocol", UINT32, None),
    4: ("code", ENUM, None),
    6: ("retry_after_ms", UINT64, None),
}
ACK_SCHEMA = {                                        # messages.md §6
    1: ("token", TOKEN, None),
    2: ("accepted", BOOL, None),
    3: ("error_detail", STRING, 256),
    4: ("correlation_id", UINT64, None),
    11: ("backend_capabilities", UINT64, None),
}


def frame(kind, protocol, payload, request_id=0, deadline=0):
    """FRAME-1: [0x01][u32 LE length][Frame]; canonical envelope (MSG-14)."""
    body = bytearray()
    put_field(body, 1, ENVELOPE_VERSION)
    put_field(body, 2, kind)
    put_field(body, 3, protocol)
    put_field(body, 4, bytes(payload))
    put_field(body, 5, request_id)
    put_field(body, 7, deadline)
    return bytes([FRAMING_VERSION]) + struct.pack("<I", len(body)) + bytes(body)


def header_length(header, cap):
    """FRAME-2, FRAME-3: the body length of a 5-byte header, checked against
    the cap before any body byte is read."""
    if header[0] != FRAMING_VERSION:
        raise ProtocolError("FRAMING_VERSION")
    n = struct.unpack("<I", bytes(header[1:5]))[0]
    if n > cap:
        raise ProtocolError("FRAME_TOO_LARGE")
    return n


def envelope(body, kind, protocol):
    """ENV-4 steps 2 to 8 for a frame expected to be `kind` on `protocol`."""
    return check_envelope(decode_message(body, FRAME_SCHEMA), kind, protocol)


def encode_hello(service, caps, peer_pid=0, keepalive=0):
    """HELLO-1: protocols 1..1, the service, the reserved fields empty."""
    p = bytearray()
    put_field(p, 1, 1)
    put_field(p, 2, 1)
    put_field(p, 3, service)
    put_field(p, 6, caps)
    put_field(p, 10, peer_pid)
    put_field(p, 11, "handoff-python")
    put_field(p, 15, keepalive)
    return frame(KIND_REQUEST, PAYLOAD_HELLO, p)


def decode_hello(body):
    env = envelope(body, KIND_REQUEST, PAYLOAD_HELLO)
    return env, decode_message(env["payload"], HELLO_SCHEMA)


def encode_negotiated(backend_pipe, caps, token=b"", connection_id=1, keepalive=1800, version="handoff-python"):
    n = bytearray()
    put_field(n, 1, 1)
    put_field(n, 2, version)
    put_field(n, 3, backend_pipe)
    put_field(n, 5, caps)
    put_field(n, 6, keepalive)
    put_field(n, 7, bytes(token))
    put_field(n, 8, connection_id)
    reply = bytearray()
    put_field(reply, 1, bytes(n))
    return frame(KIND_RESPONSE, PAYLOAD_HELLO, reply)


def encode_refused(code, reason, retry_after_ms=0):
    """HELLO-8: protocols 1..1, a code, a reason that is an error name or a
    fixed phrase, retry_after_ms only with ERROR_RATE_LIMITED."""
    r = bytearray()
    put_field(r, 1, reason)
    put_field(r, 2, 1)
    put_field(r, 3, 1)
    put_field(r, 4, code)
    put_field(r, 6, retry_after_ms)
    reply = bytearray()
    put_field(reply, 2, bytes(r))
    return frame(KIND_RESPONSE, PAYLOAD_HELLO, reply)


def decode_hello_reply(body):
    """ENV-4, then HelloReply: ("negotiated", dict) or ("refused", dict).
    CLIENT-2: neither is MALFORMED (an empty embedded message counts as
    absent here: it could not pass CLIENT-2 anyway); MSG-8: a token of 0 or
    16 bytes."""
    env = envelope(body, KIND_RESPONSE, PAYLOAD_HELLO)
    r = decode_message(env["payload"], REPLY_SCHEMA)
    if r["refused"]:
        return "refused", decode_message(r["refused"], REFUSED_SCHEMA)
    if not r["negotiated"]:
        raise ProtocolError("MALFORMED")
    n = decode_message(r["negotiated"], NEGOTIATED_SCHEMA)
    if len(n["handle_passed_token"]) not in (0, TOKEN_BYTES):
        raise ProtocolError("TOKEN_LENGTH")
    return "negotiated", n


def encode_ready(token, correlation_id):
    """READY-1: HandoffAck{token, accepted, correlation_id} as an EVENT."""
    return encode_ack(KIND_EVENT, token, True, "", correlation_id, 0)


def decode_ack(body, kind):
    """ENV-4 for an ACK (RESPONSE) or ready frame (EVENT), ENV-7."""
    env = envelope(body, kind, PAYLOAD_HANDOFF)
    ack = decode_message(env["payload"], ACK_SCHEMA)
    if env["request_id"] != ack["correlation_id"]:
        raise ProtocolError("REQUEST_ID_MISMATCH")
    return env, ack
