#!/usr/bin/python3
"""test_v1wire — the v1 peers' hand-rolled codec against the golden vectors.

  * the frames the peers write are byte-identical to the vectors of the
    original's frames (Hello, Negotiated, the `08 00` Unix offer, ACK, ready);
  * every valid vector of the five frame types decodes to the expected fields
    (fields 1-4 of offer and ACK; field 11 is skipped, as the original does);
  * the sideband passes one descriptor over a real socketpair;
  * broker.py refuses bad Hellos with the original's codes (reference §1).
Standard library only; exit 1 on the first difference.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import v1wire as w  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "vectors")
EXPECT = {"hello": (w.KIND_REQUEST, w.PROTO_HELLO), "hello_reply": (w.KIND_RESPONSE, w.PROTO_HELLO),
          "offer": (w.KIND_REQUEST, w.PROTO_HANDOFF), "ack": (w.KIND_RESPONSE, w.PROTO_HANDOFF),
          "ready": (w.KIND_EVENT, w.PROTO_HANDOFF)}
SCHEMA = {"hello": w.HELLO, "offer": w.OFFER, "ack": w.ACK, "ready": w.ACK}
failures = []


def vec(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        return json.load(f)


def check(cond, what):
    if not cond:
        failures.append(what)


def same(decoded, expected, where):
    """Compare the fields the v1 schema knows (ints arrive as strings in the
    vectors, bytes as hex)."""
    for k, v in decoded.items():
        if k not in expected:
            failures.append("%s: field %s not in the vector" % (where, k))
            continue
        e = expected[k]
        if isinstance(v, bytes):
            ok = v.hex() == e
        elif isinstance(v, bool):
            ok = v == e
        elif isinstance(v, int):
            ok = v == int(e)
        else:
            ok = v == e
        check(ok, "%s: %s = %r, vector says %r" % (where, k, v, e))


def test_encoders():
    tok = bytes(range(16))
    # spec: FRAME-1 ENV-1 — the Hello of an original client.
    check(w.hello_frame("echo", w.CAP_HANDLE_PASSING).hex() == vec("hello-typical")["hex"],
          "hello_frame differs from hello-typical")
    # spec: XFER-5 MSG-3 — the original's Unix offer with its 08 00 prefix.
    check(w.offer_frame(tok, "echo", 1).hex() == vec("offer-original-unix-0800")["hex"],
          "offer_frame differs from offer-original-unix-0800")
    check(w.ack_frame(tok, True, "", 1).hex() == vec("ack-accepted")["hex"],
          "ack_frame differs from ack-accepted")
    rtok = bytes(range(0xA0, 0xB0))
    check(w.ready_frame(rtok, 1).hex() == vec("ready-legacy-broker")["hex"],
          "ready_frame differs from ready-legacy-broker")
    neg = {"negotiated_protocol": 1, "daemon_version": "0.1.0",
           "backend_pipe": "/run/handoff/echo.sock", "server_capabilities": 1,
           "keepalive_interval_secs": 1800, "handle_passed_token": tok, "connection_id": 7}
    check(w.negotiated_frame(neg).hex() == vec("hello-reply-negotiated-typical")["hex"],
          "negotiated_frame differs from hello-reply-negotiated-typical")


def test_decoders():
    n = 0
    for fn in sorted(os.listdir(VECTORS)):
        if not fn.endswith(".json"):
            continue
        v = vec(fn[:-5])
        if "ok" not in v["expect"] or v["message"] not in EXPECT:
            continue
        n += 1
        raw = bytes.fromhex(v["hex"])
        where = v["id"]
        try:
            check(raw[0] == w.FRAMING_VERSION, where + ": framing byte")
            length = int.from_bytes(raw[1:5], "little")
            body = raw[5:5 + length]
            fr = w.decode_frame(body)
            kind, proto = EXPECT[v["message"]]
            w.validate_envelope(fr, kind, proto)
            exp = v["expect"]["ok"]
            same({k: fr[k] for k in fr}, exp["envelope"], where + " envelope")
            if v["message"] == "hello_reply":
                which, msg = w.decode_hello_reply(fr["payload"])
                if which is None:
                    check(exp["message"] == {} or all(x not in exp["message"]
                                                      for x in ("negotiated", "refused")),
                          where + ": empty reply")
                else:
                    check(which in exp["message"], where + ": oneof member")
                    same(msg, exp["message"].get(which, {}), where)
            else:
                same(w.decode(SCHEMA[v["message"]], fr["payload"]), exp["message"], where)
        except w.WireError as e:
            failures.append("%s: rejected with %s (%s)" % (where, e.name, e.detail))
    check(n >= 40, "only %d valid vectors found in %s" % (n, VECTORS))
    return n


def test_sideband():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, x = os.pipe()
    try:
        tok = os.urandom(16)
        check(w.send_sideband(a, tok, x) == 16, "sideband: short send")
        a.sendall(w.offer_frame(tok, "echo", 1))
        data, fds, ctrunc = w.recv_sideband(b)
        check(data == tok and len(fds) == 1 and not ctrunc, "sideband: token or fd lost")
        # The offer frame is still whole: the receiver read only 16 bytes.
        fr = w.decode_frame(w.read_frame(b))
        check(w.decode(w.OFFER, fr["payload"])["token"] == tok, "sideband: offer after it")
        os.write(fds[0], b"!")
        check(os.read(r, 1) == b"!", "sideband: the passed fd is not the pipe")
        w.close_all(fds)
    finally:
        for s in (a, b):
            s.close()
        os.close(r)
        os.close(x)


def ask(path, raw):
    """One Hello exchange with broker.py: ('refused'|'negotiated', msg) or the
    error name of what came back."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
        s.sendall(raw)
        fr = w.decode_frame(w.read_frame(s))
        w.validate_envelope(fr, w.KIND_RESPONSE, w.PROTO_HELLO)
        return w.decode_hello_reply(fr["payload"])
    except w.WireError as e:
        return e.name, None
    finally:
        s.close()


def test_broker_refusals():
    d = tempfile.mkdtemp(prefix="hov1.", dir="/tmp")
    lst = os.path.join(d, "b.sock")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "broker.py"), "--listen", lst,
                          "--backend-pipe", os.path.join(d, "pipe.sock"), "--log",
                          os.path.join(d, "b.log")])
    try:
        for _ in range(500):
            if os.path.exists(lst):
                break
            time.sleep(0.01)
        hello = lambda **kw: w.envelope(w.KIND_REQUEST, w.PROTO_HELLO, w.encode(w.HELLO, dict(
            {"client_min_protocol": 1, "client_max_protocol": 1, "service_name": "echo"}, **kw)))
        cases = [
            ("framing byte 2", b"\x02\x00\x00\x00\x00", w.ERROR_VERSION_UNSUPPORTED, None),
            ("Hello above 64 KiB", b"\x01" + struct.pack("<I", 65537), w.ERROR_PEER_REJECTED,
             "initial Hello frame exceeds 64 KiB"),
            ("wrong kind", w.envelope(w.KIND_EVENT, w.PROTO_HELLO, b""), w.ERROR_PEER_REJECTED,
             None),
            ("compressed", w.frame(w.encode(w.FRAME, {"envelope_version": 1,
                                                      "payload_encoding": 1})),
             w.ERROR_PEER_REJECTED, "payload is compressed"),
            ("protocol 2..3", hello(client_min_protocol=2, client_max_protocol=3),
             w.ERROR_VERSION_UNSUPPORTED, None),
            ("service syntax", hello(service_name="Echo"), w.ERROR_PEER_REJECTED, None),
            ("peer_pid", hello(peer_pid=1), w.ERROR_PEER_REJECTED, None),
            ("unknown service", hello(service_name="other"), w.ERROR_SERVICE_UNKNOWN, None),
        ]
        for what, raw, code, reason in cases:
            which, msg = ask(lst, raw)
            check(which == "refused" and msg["code"] == code and
                  (reason is None or msg["reason"] == reason) and
                  msg["daemon_min_protocol"] == 1 == msg["daemon_max_protocol"],
                  "broker.py, %s: got %s %r" % (what, which, msg))
        # Every client bit but CAP_HANDLE_PASSING is unknown to the original.
        which, msg = ask(lst, hello(client_capabilities=7))
        check(which == "negotiated" and msg["server_capabilities"] == w.CAP_HANDLE_PASSING and
              len(msg["handle_passed_token"]) == 16 and msg["connection_id"] == 1 and
              msg["keepalive_interval_secs"] == 1800 and msg["backend_pipe"],
              "broker.py, caps 7: got %s %r" % (which, msg))
        which, msg = ask(lst, hello())
        check(which == "negotiated" and msg["server_capabilities"] == 0 and
              not msg["handle_passed_token"], "broker.py, no caps: got %s %r" % (which, msg))
        return len(cases) + 2
    finally:
        p.terminate()
        p.wait(5)
        shutil.rmtree(d, ignore_errors=True)


def main():
    test_encoders()
    n = test_decoders()
    test_sideband()
    nb = test_broker_refusals()
    for f in failures:
        print("test_v1wire: FAIL " + f)
    if failures:
        return 1
    print("test_v1wire: encoders match 5 vectors, %d valid vectors decode, sideband ok, "
          "broker.py answers %d Hellos as the original" % (n, nb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
