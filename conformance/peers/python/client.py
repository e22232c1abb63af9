#!/usr/bin/python3
"""client.py — a client of the handoff wire v1 spec (revision 1.0.0-rc2), in
Python 3 with the standard library only: the example for client
implementers, as backend.py is for backends. Every rule it implements names
its requirement ID in a comment. Read it with spec/client.md, ready.md §2-6
and errors.md §4 beside it.

It connects to a broker, sends its Hello, and ends up on a connection to the
service — the broker connection handed off to the backend, or a new
connection to Negotiated.backend_pipe (fallback is never an error) — sends
its request there once, reads the reply (the conformance test service echoes
it) and prints it. A request it has written where it cannot tell whether it
was executed is never sent again: the client reports OUTCOME_UNKNOWN.

Usage:
  client.py --connect PATH --service NAME --message TEXT [--handoff]
            [--backend-ready] [--early-data] [--coalesced-reply]
            [--ready-timeout-ms N] [--reply-timeout-ms N] [--print-reply] [--json]

Exit status: 0 served; 1 an error (Refused, a bad reply, OUTCOME_UNKNOWN,
backend_pipe unreachable); 2 usage; 3 the reply is not the echo.

Test it with the conformance runner (conformance/peers/python/README.md):
  build/bin/handoff-conform client --manifest conformance/peers/python/manifest-client.json
"""

import argparse
import hmac
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backend import KIND_EVENT, ProtocolError  # noqa: E402
from handshake import (CAP_BACKEND_READY, CAP_COALESCED_REPLY, CAP_EARLY_DATA, CAP_HANDLE_PASSING,  # noqa: E402
                       FRAME_CAP, KNOWN_CODES, decode_ack, decode_hello_reply, encode_hello, header_length)

READY_TIMEOUT_MS = 2000          # READY-37 default
MIN_BACKEND_READY_WAIT_MS = 2000  # READY-14
REPLY_TIMEOUT_MS = 30000         # CLIENT-1 default


class Failure(Exception):
    """The connection failed: `name` is the error name (errors.md §1)."""

    def __init__(self, name, route="none", detail=""):
        super().__init__(name)
        self.name, self.route, self.detail = name, route, detail


def now_ms():
    return time.monotonic() * 1000


def check_peer(sock):
    """CLIENT-9: who serves the endpoint must be our user (or root), checked
    before we write anything to it."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    if uid not in (os.geteuid(), 0):
        raise Failure("PEER_REJECTED")


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(5)
        s.connect(path)
        check_peer(s)
    except Failure:
        s.close()
        raise
    except OSError as e:
        s.close()
        raise Failure("CLOSED", detail="connect %s: %s" % (path, e.strerror)) from None
    return s


class Reader:
    """The bytes of one connection. `exact` reads ask for no more than the
    current frame still needs (CLIENT-1); read-ahead reads take what there is
    (READY-32)."""

    def __init__(self, sock):
        self.sock, self.buf, self.ended = sock, bytearray(), False

    def fill(self, want, deadline, exact):
        while len(self.buf) < want and not self.ended:
            left = (deadline - now_ms()) / 1000
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(want - len(self.buf) if exact else 65536)
            except socket.timeout:
                return False
            except OSError:
                data = b""                            # CLIENT-5: a reset is an EOF
            if not data:
                self.ended = True
            self.buf += data
        return len(self.buf) >= want

    def poll(self):
        """READY-14: a last non-blocking look before a timeout counts."""
        self.sock.setblocking(False)
        try:
            data = self.sock.recv(65536)
            self.buf += data
            self.ended = self.ended or not data
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.ended = True
        self.sock.setblocking(True)

    def frame(self, deadline, exact):
        """The next complete frame's body, or None (ended or timed out).
        FRAME-2, FRAME-3: the header is checked before the body is read."""
        if not self.fill(5, deadline, exact):
            return None
        n = header_length(self.buf[:5], FRAME_CAP)
        if not self.fill(5 + n, deadline, exact):
            return None
        body = bytes(self.buf[5:5 + n])
        del self.buf[:5 + n]
        return body


def valid_ready(body, token):
    """READY-4: framing, ENV-4 for an EVENT on 0xD0FF, the HandoffAck,
    request_id == correlation_id, the negotiated token (TOKEN-8: constant
    time), accepted. The correlation id's value is not ours to judge."""
    try:
        _env, ack = decode_ack(body, KIND_EVENT)
    except ProtocolError:
        return False
    return hmac.compare_digest(bytes(ack["token"]), bytes(token)) and ack["accepted"]


def exchange(sock, send, want, pending=b""):
    """The service: our request (unless it is already on the connection),
    then its reply of `want` bytes (the echo service gives back ours)."""
    if send is not None:
        sock.sendall(send)
    r = Reader(sock)
    r.buf += pending
    r.fill(want, now_ms() + 30000, True)
    return bytes(r.buf)


class Client:
    def __init__(self, args):
        self.a = args
        self.request = args.message.encode()
        self.caps = 0
        if args.handoff:
            self.caps |= CAP_HANDLE_PASSING            # CAP-8: only because we adopt
        if args.backend_ready:
            self.caps |= CAP_BACKEND_READY
        if args.early_data:
            self.caps |= CAP_EARLY_DATA                # READY-20: the operator's statement
        if args.coalesced_reply:
            self.caps |= CAP_COALESCED_REPLY
        self.written = False                          # the request is on the broker connection
        self.route, self.mode, self.reason = "none", "none", "NONE"

    def reconnect(self, pipe, why):
        """FALLBACK-4, FALLBACK-24: backend_pipe, once (FALLBACK-15)."""
        self.route, self.reason = "reconnect", why
        s = connect(pipe)
        try:
            return exchange(s, self.request, len(self.request))
        finally:
            s.close()

    def unknown(self):
        """READY-21, READY-31: written, and nobody can tell: never re-sent."""
        raise Failure("OUTCOME_UNKNOWN", route="handoff")

    def run(self):
        s = connect(self.a.connect)
        try:
            return self.negotiate(s)
        finally:
            s.close()

    def negotiate(self, s):
        hello = encode_hello(self.a.service, self.caps, peer_pid=os.getpid())
        if self.a.early_data:                         # READY-20: request right behind the Hello
            s.sendall(hello + self.request)
            self.written = True
        else:
            s.sendall(hello)                          # HELLO-1: exactly one Hello
        r = Reader(s)
        coalesced = (self.caps & CAP_COALESCED_REPLY) != 0
        try:
            body = r.frame(now_ms() + self.a.reply_timeout_ms, exact=not coalesced)
        except ProtocolError as e:
            if coalesced and self.written:
                self.unknown()                        # READY-31
            raise Failure(str(e)) from None           # CLIENT-2: no backend_pipe to fall back to
        if body is None:
            if coalesced and self.written:
                self.unknown()                        # READY-31: nothing at all
            raise Failure("CLOSED" if r.ended else "TIMEOUT")
        try:
            kind, m = decode_hello_reply(body)
        except ProtocolError as e:
            if coalesced and self.written:
                self.unknown()                        # ERR-71: the first frame is no HelloReply
            raise Failure(str(e)) from None           # ERR-20, ERR-21, ERR-22
        if kind == "refused":                         # CLIENT-3
            code = m["code"] if m["code"] in KNOWN_CODES else 0
            raise Failure("REFUSED", detail="code=%d reason=%s" % (code, m["reason"]))
        if m["negotiated_protocol"] != 1:
            raise Failure("PROTOCOL_UNSUPPORTED")     # CLIENT-2
        if not m["backend_pipe"]:
            raise Failure("MALFORMED")                # CLIENT-4
        return self.decide(s, r, m)

    def decide(self, s, r, n):
        sc, token, pipe = n["server_capabilities"], bytes(n["handle_passed_token"]), n["backend_pipe"]
        if not (token and sc & CAP_HANDLE_PASSING and self.caps & CAP_HANDLE_PASSING):
            s.close()                                 # FALLBACK-4, CAP-9, READY-21 (a)
            # The names of ref/include/handoff/reasons.h: the spec reason the
            # client sees itself, else the client-only NOT_OFFERED.
            why = "NOT_OFFERED" if self.caps & CAP_HANDLE_PASSING else "CLIENT_UNSUPPORTED"
            return self.reconnect(pipe, why)
        if sc & CAP_COALESCED_REPLY and self.caps & CAP_COALESCED_REPLY:
            return self.coalesced(r, token)
        if sc & CAP_BACKEND_READY and self.caps & CAP_BACKEND_READY:
            return self.backend_ready(s, r, token, pipe, sc)
        return self.legacy(s, r, token, pipe)

    def adopted(self, s, r, mode):
        """CLIENT-6: from now on a connection to the service, never re-sent."""
        self.route, self.mode = "handoff", mode
        request = None if self.written else self.request
        return exchange(s, request, len(self.request), bytes(r.buf))

    def ready(self, r, token, wait_ms):
        """The next frame as the ready frame: True, False (another frame or
        bytes), or None (ended or timed out without a byte)."""
        try:
            body = r.frame(now_ms() + wait_ms, exact=True)
        except ProtocolError:
            return False
        if body is None and not r.buf and not r.ended:
            r.poll()                                  # READY-14: the last look
            if r.buf:
                return self.ready(r, token, 50)
        if body is None:
            return None if not r.buf else False      # FRAME-4: a truncated ready frame
        return valid_ready(body, token)

    def legacy(self, s, r, token, pipe):
        """READY-37: nothing written until a valid ready, at most the ready
        timeout. ERR-68: after early data only a valid ready will do."""
        ok = self.ready(r, token, self.a.ready_timeout_ms)
        if ok:
            return self.adopted(s, r, "legacy")
        if self.written:
            self.unknown()
        s.close()                                     # FALLBACK-24
        return self.reconnect(pipe, "NOT_ADOPTED")

    def backend_ready(self, s, r, token, pipe, sc):
        """READY-13: the request right after Negotiated; READY-14: wait for
        ready at least 2 s; READY-21 (b): re-sent only when nothing at all
        came after the Negotiated (after early data: with CAP_EARLY_DATA)."""
        if not self.written:
            try:
                s.sendall(self.request)
            except OSError:                           # CLIENT-5: EPIPE before ready is an EOF
                s.close()
                return self.reconnect(pipe, "NOT_ADOPTED")
            self.written = True
        wait = max(MIN_BACKEND_READY_WAIT_MS, self.a.ready_timeout_ms)
        ok = self.ready(r, token, wait)
        if ok:
            return self.adopted(s, r, "backend-ready")
        resend = ok is None and (not self.a.early_data or sc & CAP_EARLY_DATA)
        if not resend:
            self.unknown()                            # ERR-68: someone has the connection
        s.close()                                     # READY-14: closed before the re-send
        return self.reconnect(pipe, "NOT_ADOPTED")

    def coalesced(self, r, token):
        """READY-31: a Negotiated with the token must be followed at once by
        a valid ready frame; READY-32: the bytes behind it are the reply."""
        try:
            body = r.frame(now_ms() + READY_TIMEOUT_MS, exact=False)
        except ProtocolError:
            body = None
        if body is None or not valid_ready(body, token):
            self.unknown()
        return self.adopted(r.sock, r, "coalesced")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--message", default="ping")
    ap.add_argument("--handoff", action="store_true")
    ap.add_argument("--backend-ready", action="store_true")
    ap.add_argument("--early-data", action="store_true")
    ap.add_argument("--coalesced-reply", action="store_true")
    ap.add_argument("--ready-timeout-ms", type=int, default=READY_TIMEOUT_MS)
    ap.add_argument("--reply-timeout-ms", type=int, default=REPLY_TIMEOUT_MS)
    ap.add_argument("--print-reply", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    # CAP-8: each extension only on top of the one it needs.
    if (a.backend_ready and not a.handoff) or (a.early_data and not a.backend_ready) or \
            (a.coalesced_reply and not a.early_data) or not a.message:
        ap.error("--backend-ready needs --handoff, --early-data needs --backend-ready, "
                 "--coalesced-reply needs --early-data; --message must not be empty")
    return a


def report(a, c, t0, error=None, detail=""):
    out = {"ok": error is None, "route": c.route, "reason": c.reason, "mode": c.mode,
           "total_us": int((time.monotonic() - t0) * 1e6), "error": error}
    if a.json:
        print(json.dumps(out))
    else:
        print("route=%s reason=%s mode=%s%s%s" % (c.route, c.reason, c.mode, " error=" + error if error else "",
                                                 " " + detail if detail else ""))


def main(argv=None):
    a = parse_args(argv)
    t0 = time.monotonic()
    c = Client(a)
    try:
        reply = c.run()
    except Failure as e:
        c.route = e.route if e.route != "none" else c.route
        report(a, c, t0, e.name, e.detail)
        return 1
    except OSError as e:
        report(a, c, t0, "CLOSED" if c.route != "handoff" else "IO", e.strerror or "")
        return 1
    if reply != c.request:
        report(a, c, t0, "ECHO_MISMATCH")
        return 3
    if a.print_reply:
        print("reply: %s" % reply.decode(errors="replace"))
    report(a, c, t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
