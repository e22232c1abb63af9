"""Shared helpers of the vector tools: the message classes built from
proto/ by protoc, protobuf wire builders, and the canonical JSON rendering
of conformance/vectors/README.md (the same bytes ref/lib/wire/msg_json.c
produces)."""
import json
import os
import struct
import subprocess
import tempfile

from google.protobuf import descriptor_pb2, message_factory

PROTOS = ["handoff/v1/handoff_v1_envelope.proto", "handoff/v1/handoff_v1_handoff.proto"]
FRAME_TYPES = {  # message -> (payload class, kind, payload_protocol, handoff frame?)
    "hello": ("Hello", 0, 0x0000, False),
    "hello_reply": ("HelloReply", 1, 0x0000, False),
    "offer": ("HandoffOffer", 0, 0xD0FF, True),
    "ack": ("HandoffAck", 1, 0xD0FF, True),
    "ready": ("HandoffAck", 2, 0xD0FF, True),
}


def load_messages(root):
    """Message classes by short name, from a descriptor set protoc builds."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "--include_imports", "--descriptor_set_out=" + out,
                        "-I" + os.path.join(root, "proto")] + PROTOS, check=True)
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(out, "rb").read())
    classes = message_factory.GetMessages(list(fds.file))
    return {name.split(".")[-1]: cls for name, cls in classes.items()}


# ---- wire builders --------------------------------------------------------
def varint(v, width=None):
    """Minimal varint of v, or padded with 0x80 continuation bytes to width."""
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            break
    if width is not None and width > len(out):
        out[-1] |= 0x80
        out += b"\x80" * (width - len(out) - 1) + b"\x00"
    return bytes(out)


def tag(num, wt, width=None):
    return varint(num << 3 | wt, width)


def f_varint(num, v, width=None):
    return tag(num, 0) + varint(v, width)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return tag(num, 2) + varint(len(b)) + b


def f_fixed32(num, v):
    return tag(num, 5) + struct.pack("<I", v)


def f_fixed64(num, v):
    return tag(num, 1) + struct.pack("<Q", v)


def split_frame(wire):
    assert wire[0] == 1 and len(wire) >= 5
    n = struct.unpack("<I", wire[1:5])[0]
    assert len(wire) == 5 + n, "not exactly one frame"
    return wire[5:]


# ---- canonical JSON ---------------------------------------------------------
def _u32(v):
    return int(v) & 0xFFFFFFFF


def render_envelope(f):
    return {"deadline_unix_ms": str(f.deadline_unix_ms), "envelope_version": _u32(f.envelope_version),
            "kind": _u32(f.kind), "payload": f.payload.hex(),
            "payload_encoding": _u32(f.payload_encoding), "payload_protocol": _u32(f.payload_protocol),
            "request_id": str(f.request_id), "traceparent": f.traceparent, "tracestate": f.tracestate}


def render_hello(h):
    return {"auth_token": h.auth_token.hex(), "capability_token": h.capability_token.hex(),
            "client_capabilities": str(h.client_capabilities),
            "client_keepalive_secs": str(h.client_keepalive_secs),
            "client_lib_name": h.client_lib_name, "client_lib_version": h.client_lib_version,
            "client_max_protocol": _u32(h.client_max_protocol),
            "client_min_protocol": _u32(h.client_min_protocol),
            "client_version": h.client_version, "connection_id": str(h.connection_id),
            "peer_attestation_nonce": h.peer_attestation_nonce.hex(), "peer_pid": _u32(h.peer_pid),
            "request_id": h.request_id, "service_name": h.service_name,
            "wanted_version": h.wanted_version}


def render_negotiated(n):
    return {"backend_pipe": n.backend_pipe, "connection_id": str(n.connection_id),
            "daemon_version": n.daemon_version, "handle_passed_token": n.handle_passed_token.hex(),
            "keepalive_interval_secs": str(n.keepalive_interval_secs),
            "negotiated_protocol": _u32(n.negotiated_protocol),
            "server_capabilities": str(n.server_capabilities), "warnings": list(n.warnings)}


def render_refused(r):
    return {"code": _u32(r.code), "daemon_max_protocol": _u32(r.daemon_max_protocol),
            "daemon_min_protocol": _u32(r.daemon_min_protocol), "details": dict(sorted(r.details.items())),
            "reason": r.reason, "retry_after_ms": str(r.retry_after_ms)}


def render_reply(r):
    which = r.WhichOneof("result")
    if which == "negotiated":
        return {"negotiated": render_negotiated(r.negotiated)}
    if which == "refused":
        return {"refused": render_refused(r.refused)}
    return {}


def render_offer(o):
    return {"correlation_id": str(o.correlation_id), "handle_value": str(o.handle_value),
            "offer_flags": str(o.offer_flags), "reply_adopted": o.reply_adopted.hex(),
            "reply_declined": o.reply_declined.hex(), "service_name": o.service_name,
            "token": o.token.hex()}


def render_ack(a):
    return {"accepted": bool(a.accepted), "backend_capabilities": str(a.backend_capabilities),
            "correlation_id": str(a.correlation_id), "error_detail": a.error_detail,
            "token": a.token.hex()}


RENDER = {"Hello": render_hello, "HelloReply": render_reply, "HandoffOffer": render_offer,
          "HandoffAck": render_ack}


def render_frame(M, message, frame_msg):
    cls = FRAME_TYPES[message][0]
    payload = M[cls].FromString(frame_msg.payload)
    return {"envelope": render_envelope(frame_msg), "message": RENDER[cls](payload)}


def decode_expect(M, message, wire):
    """Google's decoding of a complete frame, rendered canonically."""
    return render_frame(M, message, M["Frame"].FromString(split_frame(wire)))


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_canonical(M, message, wire):
    """True if Google's deterministic re-encoding (unknown fields dropped)
    gives the same bytes: then so must ours."""
    f = M["Frame"].FromString(split_frame(wire))
    p = M[FRAME_TYPES[message][0]].FromString(f.payload)
    p.DiscardUnknownFields()
    f.DiscardUnknownFields()
    f.payload = p.SerializeToString(deterministic=True)
    body = f.SerializeToString(deterministic=True)
    return wire == bytes([1]) + struct.pack("<I", len(body)) + body
