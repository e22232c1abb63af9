#!/usr/bin/python3
"""Generate the golden vectors of conformance/vectors/ (one JSON file each).

Valid vectors are built with Google's protobuf (python3-protobuf, C++
backend) from descriptors that protoc builds from proto/, and their
expectation is Google's own decoding of the bytes, rendered in the
canonical JSON of conformance/vectors/README.md. Malformed and
non-canonical vectors are assembled by hand, byte by byte.

    /usr/bin/python3 conformance/tools/make_vectors.py [--check]

--check regenerates in memory and fails if a committed file differs.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "conformance", "vectors")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vectorlib as V  # noqa: E402

M = V.load_messages(ROOT)
T = bytes(range(16))                       # the token of most vectors
T2 = bytes(range(0xA0, 0xB0))
D_HELLO, D_REPLY, D_OFFER, D_ACK = ("client->broker", "broker->client",
                                    "broker->backend", "backend->broker")
REQ, RESP, EVENT = 0, 1, 2
P_HELLO, P_HANDOFF = 0x0000, 0xD0FF
U64 = 2**64 - 1
U32 = 2**32 - 1

vectors = []


def add(vid, desc, reqs, direction, message, wire, error=None, canonical=None):
    v = {"id": vid, "description": desc, "requirements": reqs,
         "direction": direction, "message": message, "hex": wire.hex()}
    if error is not None:
        v["expect"] = {"error": error}
    else:
        v["expect"] = {"ok": V.decode_expect(M, message, wire)}
        v["canonical"] = bool(canonical) if canonical is not None else V.is_canonical(M, message, wire)
    vectors.append(v)


# ---- builders -------------------------------------------------------------
varint, tag, fv, fb, fx32, fx64 = V.varint, V.tag, V.f_varint, V.f_bytes, V.f_fixed32, V.f_fixed64


def frame(body, version=1, length=None):
    return bytes([version]) + struct.pack("<I", len(body) if length is None else length) + body


def env(payload, kind=REQ, proto=P_HELLO, rid=0, enc=0, ver=1, extra=b"", deadline=0,
        tp="", ts=""):
    """Canonical envelope bytes (Google's serializer)."""
    f = M["Frame"](envelope_version=ver, kind=kind, payload_protocol=proto, payload=payload,
                   request_id=rid, payload_encoding=enc, deadline_unix_ms=deadline,
                   traceparent=tp, tracestate=ts)
    return f.SerializeToString(deterministic=True) + extra


def ser(name, **kw):
    return M[name](**kw).SerializeToString(deterministic=True)


def hello_frame(payload, **kw):
    return frame(env(payload, REQ, P_HELLO, **kw))


def reply_frame(payload, **kw):
    return frame(env(payload, RESP, P_HELLO, **kw))


def offer_frame(payload, rid, **kw):
    return frame(env(payload, REQ, P_HANDOFF, rid, **kw))


def ack_frame(payload, rid, **kw):
    return frame(env(payload, RESP, P_HANDOFF, rid, **kw))


def ready_frame(payload, rid, **kw):
    return frame(env(payload, EVENT, P_HANDOFF, rid, **kw))


HELLO = ser("Hello", client_min_protocol=1, client_max_protocol=1, service_name="echo",
            client_capabilities=1)
OFFER = ser("HandoffOffer", token=T, service_name="echo", correlation_id=1)
ACK = ser("HandoffAck", token=T, accepted=True, correlation_id=1)
NEG = M["Negotiated"](negotiated_protocol=1, daemon_version="0.1.0",
                      backend_pipe="/run/handoff/echo.sock", server_capabilities=1,
                      keepalive_interval_secs=1800, handle_passed_token=T, connection_id=7)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vectors_ok  # noqa: E402
import vectors_bad  # noqa: E402
import vectors_fuzz  # noqa: E402  (make fuzz-promote)

ctx = dict(globals())
vectors_ok.build(ctx)
vectors_bad.build(ctx)
vectors_fuzz.build(ctx)


def main():
    check = "--check" in sys.argv
    ids = [v["id"] for v in vectors]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit("duplicate vector ids: %s" % sorted(dup))
    os.makedirs(OUT, exist_ok=True)
    want = {}
    for v in vectors:
        want[v["id"] + ".json"] = json.dumps(v, indent=2, ensure_ascii=False) + "\n"
    bad = []
    for name, text in sorted(want.items()):
        path = os.path.join(OUT, name)
        if check:
            if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
                bad.append(name)
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
    stale = [n for n in os.listdir(OUT) if n.endswith(".json") and n not in want]
    if check and (bad or stale):
        sys.exit("vectors out of date: %s %s" % (bad, stale))
    if not check:
        for n in stale:
            os.remove(os.path.join(OUT, n))
    if not check:  # fuzz seeds: every vector's bytes, named by sha1
        import hashlib
        corpus = os.path.join(ROOT, "fuzz", "corpus", "fuzz_frame_decode")
        os.makedirs(corpus, exist_ok=True)
        for v in vectors:
            b = bytes.fromhex(v["hex"])
            with open(os.path.join(corpus, hashlib.sha1(b).hexdigest()), "wb") as fh:
                fh.write(b)
    print("%d vectors (%d ok, %d error)" % (len(vectors),
          sum("ok" in v["expect"] for v in vectors), sum("error" in v["expect"] for v in vectors)))


if __name__ == "__main__":
    main()
