#!/usr/bin/python3
"""client.py — a client of the ORIGINAL running-process v1 kind (test peer).

What it imitates (reference running-process-v1-handoff.md §3 "What the client
sees", §1 "Client ready check"):

  * Hello{min 1, max 1, service, client_capabilities = CAP_HANDLE_PASSING
    (adopt_handed_off_connection) or 0 with --no-handoff, peer_pid}; the
    original knows no other capability bit;
  * reads the HelloReply (30 s): Refused -> error; an empty backend_pipe ->
    EmptyBackendPipe error;
  * with the bit set on both sides and a non-empty token it waits up to 2 s
    for ONE ready frame: EVENT on 0xD0FF, token equal to the negotiated one,
    accepted; correlation_id (and request_id) ignored;
  * ready -> HandlePassed: it then writes its request on the same connection
    (never before ready: the original's tests always have the client write
    first, after ready) and reads the echo; a broken connection after that
    is an error, not a retry;
  * timeout, EOF, malformed, refused or wrong token -> silent reconnect to
    backend_pipe, where it sends the request.
spec: READY-37 FALLBACK-4 FALLBACK-24 CAP-8 — what of this spec the original
client already does; it does NOT check request_id == correlation_id in the
ready frame (READY-4 does; D-21).

Prints one JSON line: ok, route (handoff|reconnect|none), reason, nonce_ok,
timings in microseconds from connect. Exit 0 when served with a correct
echo; 1 on an error; 3 when the echo differs.
"""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v1wire as w  # noqa: E402


class Report(dict):
    def us(self, t0, name):
        self[name] = int((time.monotonic() - t0) * 1e6)


def read_ready(s, token, timeout_s):
    """One ready frame within `timeout_s`, checked as the original does
    (client.rs::read_handoff_ready). Returns None when adopted, else the reason."""
    deadline = time.monotonic() + timeout_s
    try:
        body = w.read_frame(s, w.MAX_FRAME_BYTES, deadline)
        fr = w.decode_frame(body)
        w.validate_envelope(fr, w.KIND_EVENT, w.PROTO_HANDOFF)
        ack = w.decode(w.ACK, fr["payload"])
    except socket.timeout:
        return "TIMEOUT"
    except w.WireError as e:
        return e.name
    except OSError:
        return "CLOSED"  # reset before a complete ready frame
    # correlation_id is ignored: the client never knew it.
    if ack["token"] != token:
        return "TOKEN_MISMATCH"
    if not ack["accepted"]:
        return "ACK_REFUSED"
    return None


def exchange(s, nonce, io_timeout_s):
    """Send the request, read its echo (exactly len(nonce) bytes)."""
    deadline = time.monotonic() + io_timeout_s
    s.settimeout(io_timeout_s)
    s.sendall(nonce)
    return w.recv_exact(s, len(nonce), deadline)


def main():
    ap = argparse.ArgumentParser(
        description="Test peer: a client of the ORIGINAL running-process v1 kind. Hello "
        "with CAP_HANDLE_PASSING only (none with --no-handoff); with a token waits up to "
        "2 s for one ready frame, then sends its request on the adopted connection; "
        "otherwise reconnects to backend_pipe and sends it there. Prints one JSON line.",
        epilog="Exit status: 0 served (echo correct), 1 error, 2 usage, 3 echo mismatch.")
    ap.add_argument("--connect", required=True, metavar="PATH", help="broker client endpoint")
    ap.add_argument("--service", default="echo", help="service name for the Hello")
    ap.add_argument("--no-handoff", action="store_true",
                    help="do not set CAP_HANDLE_PASSING (opt out, always reconnect)")
    ap.add_argument("--message", default="ping",
                    help="the request (a nonce); a trailing newline is added if missing")
    ap.add_argument("--ready-timeout-ms", type=int,
                    default=int(w.DEFAULT_HANDOFF_READY_TIMEOUT_S * 1000),
                    help="ready wait (default 2000, the original's)")
    ap.add_argument("--io-timeout-ms", type=int, default=int(w.CLIENT_TIMEOUT_S * 1000),
                    help="Hello round trip and service I/O (default 30000)")
    args = ap.parse_args()
    nonce = args.message.encode()
    if not nonce.endswith(b"\n"):
        nonce += b"\n"
    io_s = args.io_timeout_ms / 1000.0

    r = Report(ok=False, route="none", reason=None, nonce_ok=False, error=None)
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(io_s)
        s.connect(args.connect)
        caps = 0 if args.no_handoff else w.CAP_HANDLE_PASSING
        s.sendall(w.hello_frame(args.service, caps, peer_pid=os.getpid(),
                                client_version="0.1.0", lib_name="v1-peer-client",
                                lib_version="1"))
        body = w.read_frame(s, w.MAX_FRAME_BYTES, time.monotonic() + io_s)
        fr = w.decode_frame(body)
        w.validate_envelope(fr, w.KIND_RESPONSE, w.PROTO_HELLO)
        which, msg = w.decode_hello_reply(fr["payload"])
    except (OSError, w.WireError) as e:
        s.close()
        r["error"] = getattr(e, "name", type(e).__name__)
        print(json.dumps(r))
        return 1
    if which == "refused":
        s.close()
        r.update(error="REFUSED", code=msg["code"], refused_reason=msg["reason"])
        print(json.dumps(r))
        return 1
    if which != "negotiated" or not msg["backend_pipe"]:
        s.close()
        r["error"] = "EmptyBackendPipe" if which == "negotiated" else "MALFORMED"
        print(json.dumps(r))
        return 1
    r.us(t0, "negotiated_us")
    token = msg["handle_passed_token"]

    conn = None
    if args.no_handoff:
        r["reason"] = "ClientUnsupported"
    elif not token or not msg["server_capabilities"] & w.CAP_HANDLE_PASSING:
        r["reason"] = "NotOffered"
    else:
        why = read_ready(s, token, args.ready_timeout_ms / 1000.0)
        if why is None:
            r.us(t0, "ready_us")
            r["route"] = "handoff"  # HandlePassed: the same socket, now backend-served
            conn = s
        else:
            r["reason"] = why
    if conn is None:
        s.close()
        r["route"] = "reconnect"  # BrokerNegotiated: silent reconnect to backend_pipe
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(io_s)
            conn.connect(msg["backend_pipe"])
        except OSError as e:
            conn.close()
            r["error"] = "backend_pipe:%s" % type(e).__name__
            print(json.dumps(r))
            return 1
    r.us(t0, "connected_us")
    try:
        echo = exchange(conn, nonce, io_s)
    except (OSError, w.WireError) as e:
        r["error"] = getattr(e, "name", type(e).__name__)
        r.us(t0, "total_us")
        print(json.dumps(r))
        return 1
    finally:
        conn.close()
    r.us(t0, "total_us")
    r["nonce_ok"] = echo == nonce
    r["ok"] = r["nonce_ok"]
    if not r["ok"]:
        r["error"] = "ECHO_MISMATCH"
    print(json.dumps(r))
    return 0 if r["ok"] else 3


if __name__ == "__main__":
    sys.exit(main())
