#!/usr/bin/python3
"""System test against the reference programs: tokens stay out of logs, and
the broker's answer does not depend on the client's version strings.

Starts handoff-backend (backend-ready capable) and handoff-broker with
--log-level debug in a private 0700 directory, then acts as a client itself
(raw sockets, frames built from proto/ by protoc): several Hellos with
CAP_HANDLE_PASSING (+ CAP_BACKEND_READY), each read to its ready frame, the
echo answered on the adopted connection. Then:

  * spec: SEC-8 — no token (as raw bytes, lower- or upper-case hex, or
    base64) appears in the broker's or the backend's output;
  * spec: VER-2 — Hellos that differ only in client_version,
    client_lib_name and client_lib_version get the same Negotiated apart
    from the token and connection_id (this checks the broker side only);
  * spec: CAP-6 — every Negotiated has CAP_EARLY_DATA.

    /usr/bin/python3 conformance/system/test_token_secrecy.py BIN_DIR
"""
import base64
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "conformance", "tools"))
import vectorlib as V  # noqa: E402

M = V.load_messages(ROOT)
CAP_HP, CAP_BR, CAP_ED = 1, 2, 4


def frame(kind, proto, payload, rid=0):
    body = M["Frame"](envelope_version=1, kind=kind, payload_protocol=proto, payload=payload,
                      request_id=rid).SerializeToString()
    return b"\x01" + struct.pack("<I", len(body)) + body


def read_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("EOF after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def read_frame(s):
    hdr = read_exact(s, 5)
    assert hdr[0] == 1, "framing version %d" % hdr[0]
    (n,) = struct.unpack("<I", hdr[1:])
    return M["Frame"].FromString(read_exact(s, n))


def wait_path(path, proc, what):
    for _ in range(200):
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError("%s exited early (%d)" % (what, proc.returncode))
        time.sleep(0.01)
    raise RuntimeError("%s did not create %s" % (what, path))


def one_client(sock_path, caps, version_strings):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock_path)
    cv, ln, lv = version_strings
    hello = M["Hello"](client_min_protocol=1, client_max_protocol=1, service_name="echo",
                       client_capabilities=caps, client_version=cv, client_lib_name=ln,
                       client_lib_version=lv)
    s.sendall(frame(0, 0x0000, hello.SerializeToString()))
    reply = M["HelloReply"].FromString(read_frame(s).payload)
    assert reply.WhichOneof("result") == "negotiated", reply
    neg = reply.negotiated
    token = bytes(neg.handle_passed_token)
    assert len(token) == 16, "no token: %r" % neg
    ready = read_frame(s)
    assert (ready.kind, ready.payload_protocol) == (2, 0xD0FF), ready
    ack = M["HandoffAck"].FromString(ready.payload)
    assert ack.accepted and bytes(ack.token) == token
    s.sendall(b"ping\n")
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(64)
        if not chunk:
            break
        got += chunk
    s.close()
    return neg, token


def main():
    bindir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        hs, bp, ls = (os.path.join(tmp, n) for n in ("h.sock", "b.sock", "l.sock"))
        be_log, br_log = os.path.join(tmp, "backend.log"), os.path.join(tmp, "broker.log")
        with open(be_log, "wb") as bel, open(br_log, "wb") as brl:
            be = subprocess.Popen([os.path.join(bindir, "handoff-backend"), "--handoff-endpoint", hs,
                                   "--backend-pipe", bp, "--service", "echo", "--ready-mode", "backend",
                                   "--log-level", "debug"], stdout=bel, stderr=subprocess.STDOUT)
            br = None
            try:
                wait_path(hs, be, "handoff-backend")
                br = subprocess.Popen([os.path.join(bindir, "handoff-broker"), "--listen", ls,
                                       "--handoff-endpoint", hs, "--backend-pipe", bp,
                                       "--service", "echo", "--log-level", "debug"],
                                      stdout=brl, stderr=subprocess.STDOUT)
                wait_path(ls, br, "handoff-broker")
                tokens, negs = [], []
                variants = [("1.0.0", "libA", "0.1"), ("9.9.9-rc.1", "other-lib", "77"),
                            ("", "", "")]
                for caps in (CAP_HP, CAP_HP | CAP_BR, CAP_HP | CAP_BR):
                    for v in variants:
                        neg, tok = one_client(ls, caps, v)
                        tokens.append(tok)
                        negs.append((caps, v, neg))
            finally:
                for p in (br, be):
                    if p is not None:
                        p.terminate()
                        try:
                            p.wait(5)
                        except subprocess.TimeoutExpired:
                            p.kill()
                            p.wait()
        logs = open(be_log, "rb").read() + open(br_log, "rb").read()
        # SEC-8: no token in any form.
        for t in tokens:
            for form in (t, t.hex().encode(), t.hex().upper().encode(), base64.b64encode(t),
                         base64.b64encode(t).rstrip(b"=")):
                if form in logs:
                    failures.append("SEC-8: token %s appears in the logs as %r" % (t.hex()[:4], form[:8]))
        if len(set(tokens)) != len(tokens):
            failures.append("tokens repeat across connections")
        # CAP-6 and VER-2.
        by_caps = {}
        for caps, v, neg in negs:
            if not neg.server_capabilities & CAP_ED:
                failures.append("CAP-6: Negotiated without CAP_EARLY_DATA (caps %d)" % caps)
            n = M["Negotiated"]()
            n.CopyFrom(neg)
            n.handle_passed_token = b""
            n.connection_id = 0
            by_caps.setdefault(caps, []).append((v, n.SerializeToString()))
        for caps, seen in by_caps.items():
            # The third batch repeats the second once the broker has learnt the
            # backend's declaration; compare within each run of equal caps only
            # where the broker's knowledge cannot have changed (the later run).
            runs = [seen[i:i + len(variants)] for i in range(0, len(seen), len(variants))]
            for run in runs[-1:]:
                if len({b for _, b in run}) != 1:
                    failures.append("VER-2: Negotiated differs with the client's version strings "
                                    "(caps %d): %r" % (caps, [v for v, _ in run]))
        if not logs.strip():
            failures.append("the programs wrote no log output at --log-level debug")
    for f in failures:
        print("FAIL: " + f)
    print("test_token_secrecy: %d handoffs, %s" % (len(tokens), "ok" if not failures else "FAILED"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
