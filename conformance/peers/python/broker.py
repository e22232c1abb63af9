#!/usr/bin/python3
"""broker.py — a broker of the handoff wire v1 spec (revision 1.0.0-rc2), in
Python 3 with the standard library only: the example for broker
implementers, as backend.py is for backends. Every rule it implements names
its requirement ID in a comment; read it with spec/broker.md,
negotiation.md, handoff-sequence.md §2.2, token-lifecycle.md, ready.md and
fallback.md beside it.

What it does:
  - accepts clients on --listen (peer credentials first, SEC-1), reads
    exactly one Hello frame (never a byte more, FRAME-6), checks it in the
    order of negotiation.md §3 and answers Negotiated or Refused;
  - hands the connection off to the backend on --handoff-endpoint over
    SCM_RIGHTS (one sendmsg: 16 token bytes and the descriptor, XFER-3; the
    offer right behind, XFER-4), matches ACKs by correlation id (ACK-2),
    enforces ACK deadlines from its own timers (ACK-6), and on every failure
    revokes the token and lets the client fall back to --backend-pipe;
  - legacy mode, backend-ready mode and coalesced mode, each only once the
    backend declared it in an ACK on the control connection that carries
    the offer (READY-36, READY-25); several offers in flight on a connection
    once it declared BACKEND_CAP_MULTI_OFFER (XFER-37);
  - the failed-attempt rate limit (FALLBACK-7) and a Hello limit per process
    (HELLO-14).

Usage:
  broker.py --listen PATH --backend-pipe PATH [--handoff-endpoint PATH]
            [--service NAME] [--ack-timeout-ms N] [--hello-timeout-ms N]
            [--hello-rate N] [--failed-attempts N] [--failure-window-ms N]
            [--backend-ready] [--log-level error|warn|info|debug]

--backend-ready is the operator's statement that the backend writes the
ready frame itself (READY-36): backend-ready mode from the first attempt,
until an ACK proves it wrong (ACK-16). Without it the broker learns the
mode from the ACKs on each control connection.

Test it with the conformance runner (conformance/peers/python/README.md):
  build/bin/handoff-conform broker --manifest conformance/peers/python/manifest-broker.json

Plain blocking sockets throughout, every call with MSG_DONTWAIT: the client
descriptor must be in blocking mode when it is sent (XFER-25), and its file
status flags are shared with the backend's copy.
"""

import argparse
import errno
import hmac
import os
import re
import secrets
import selectors
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import backend  # noqa: E402
from backend import (KIND_REQUEST, KIND_RESPONSE, PAYLOAD_HANDOFF, ProtocolError, decode_message,  # noqa: E402
                     put_field, wall_ms)
from handshake import (BACKEND_CAP_BACKEND_READY, BACKEND_CAP_COALESCED_REPLY, BACKEND_CAP_MULTI_OFFER,  # noqa: E402
                       CAP_BACKEND_READY, CAP_COALESCED_REPLY, CAP_EARLY_DATA, CAP_HANDLE_PASSING, HELLO_CAP,
                       HELLO_SCHEMA, OFFER_FLAG_BACKEND_READY, OFFER_FLAG_COALESCED_REPLY, PEER_REJECTED,
                       RATE_LIMITED, SERVICE_UNKNOWN, VERSION_UNSUPPORTED, decode_ack, encode_negotiated,
                       encode_ready, encode_refused, envelope, frame)

DONT = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
SERVICE_RE = re.compile(r"^[a-z0-9-]{1,64}$")
SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                       r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                       r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
READY_BUDGET_MS = 1000            # READY-10
LEGACY_READY_BUDGET_MS = 1500     # ACK-17
MAX_CONTROLS = 64                 # XFER-37: a bounded number per backend
ACK_CAP = 64 * 1024               # FRAME-8: a local cap on ACK frames


class Log(backend.Log):
    """One line per event on stderr; SEC-8: never token bytes."""

    def __call__(self, level, event, **kv):
        if backend.LEVELS[level] <= self.level:
            sys.stderr.write("broker.py[%d] %s %s %s\n" % (os.getpid(), level, event,
                                                           " ".join("%s=%s" % kv_ for kv_ in kv.items())))
            sys.stderr.flush()


def now_ms():
    return time.monotonic() * 1000


def peer_uid(sock):
    return struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))


def encode_offer(token, service, corr, flags, deadline, adopted=b"", declined=b""):
    """XFER-4: token, service_name, correlation_id; handle_value 0 (omitted)."""
    p = bytearray()
    put_field(p, 2, bytes(token))
    put_field(p, 3, service)
    put_field(p, 4, corr)
    put_field(p, 11, flags)
    put_field(p, 12, adopted)
    put_field(p, 13, declined)
    return frame(KIND_REQUEST, PAYLOAD_HANDOFF, p, request_id=corr, deadline=deadline)


class Attempt:
    """One handoff: the token's life from issue to its one exit (TOKEN-7)."""

    def __init__(self, client, token, corr, mode):
        self.client, self.token, self.corr, self.mode = client, token, corr, mode
        self.ctl = None
        self.deadline = None          # ACK deadline (monotonic ms), once registered
        self.negotiated_at = now_ms()
        self.adopted_reply = self.declined_reply = b""


class Client:
    """A client connection until its Hello is answered (and, with a token,
    until the attempt ends)."""

    def __init__(self, broker, sock):
        self.b, self.sock = broker, sock
        self.buf = bytearray()
        self.need = 5                                 # FRAME-6: the header, then exactly the body
        self.deadline = now_ms() + broker.args.hello_timeout_ms    # BROKER-2
        self.hello_read_at = None
        self.closed = False

    def on_readable(self):
        try:
            data = self.sock.recv(self.need - len(self.buf), DONT)   # never past the Hello
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self.close("eof")                  # ERR-12, ERR-13: no reply
        self.buf += data
        if len(self.buf) == 5 and self.need == 5:
            bad = self.header_check()
            if bad is not None:
                return self.refuse(*bad)
            self.need = 5 + struct.unpack("<I", bytes(self.buf[1:5]))[0]
        if len(self.buf) == self.need and self.need >= 5 and (self.need > 5 or self.buf[1:5] == b"\0\0\0\0"):
            self.b.sel.unregister(self.sock)
            self.hello_read_at = now_ms()
            self.b.on_hello(self, bytes(self.buf[5:]))

    def header_check(self):
        """Steps 1 and 2 of the table, on the 5 header bytes alone."""
        if self.buf[0] != 1:
            return VERSION_UNSUPPORTED, "FRAMING_VERSION"                     # HELLO-4
        if struct.unpack("<I", bytes(self.buf[1:5]))[0] > HELLO_CAP:
            return PEER_REJECTED, "initial Hello frame exceeds 64 KiB"        # HELLO-5: body never read
        return None

    def write(self, data):
        """Replies are small: written whole at once, or the client is dropped."""
        try:
            return self.sock.send(data, DONT) == len(data)
        except OSError:
            return False

    def refuse(self, code, reason, retry=0):
        """HELLO-8, HELLO-10: a Refused, then close; no handoff."""
        self.b.log("info", "refused", code=code, reason=reason.replace(" ", "_"))
        self.write(encode_refused(code, reason, retry))
        self.close("refused")

    def close(self, why, shut=False):
        """BROKER-4: the broker's copy, exactly once, on every path."""
        if self.closed:
            return
        self.closed = True
        try:
            self.b.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        if shut:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)  # FALLBACK-21: EOF at once
            except OSError:
                pass
        self.sock.close()
        self.b.clients.discard(self)
        self.b.log("debug", "client-closed", why=why)


class Control:
    """A control connection to the backend (XFER-37)."""

    def __init__(self, broker):
        self.b = broker
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.rbuf = bytearray()
        self.inflight = {}                            # corr -> Attempt (AWAITING_ACK)
        self.waiting = []                             # attempts waiting for the connection
        self.caps = 0                                 # backend_capabilities of its last ACK
        self.acks = self.offers = 0
        self.connected = self.draining = self.dead = False
        self.opened_at = now_ms()
        try:
            self.sock.connect(broker.args.handoff_endpoint)   # a Unix socket connects at once
            self.on_connected()
        except OSError as e:                          # XFER-23, ERR-62 (EAGAIN: backlog full)
            self.dead = True
            broker.log("warn", "control-connect-failed", why=errno.errorcode.get(e.errno, "IO"))

    def on_connected(self):
        pid, uid, gid = peer_uid(self.sock)
        if uid != os.geteuid():                       # SEC-10: the backend policy, same user
            self.b.log("warn", "backend-rejected", uid=uid)
            return self.end("peer")
        self.connected = True
        self.b.sel.register(self.sock, selectors.EVENT_READ, self)
        for a in self.waiting:
            self.b.send_offer(self, a)
        self.waiting = []

    def usable(self):
        """Room for another offer: before a MULTI declaration one in flight."""
        if self.dead or self.draining:
            return False
        n = len(self.inflight) + len(self.waiting)
        return self.offers + n == 0 or (self.caps & BACKEND_CAP_MULTI_OFFER and n < 64)

    def on_event(self, _mask):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return self.end("eof")                    # ACK-10, ERR-60
        self.rbuf += data
        while len(self.rbuf) >= 5 and not self.dead:
            if self.rbuf[0] != 1:
                return self.end("FRAMING_VERSION")    # ERR-50
            n = struct.unpack("<I", bytes(self.rbuf[1:5]))[0]
            if n > ACK_CAP:
                return self.end("FRAME_TOO_LARGE")
            if len(self.rbuf) < 5 + n:
                return
            body = bytes(self.rbuf[5:5 + n])
            del self.rbuf[:5 + n]
            self.b.on_ack(self, body)

    def end(self, why):
        """ACK-10: every attempt in flight on it, and waiting for it, fails."""
        if self.dead and not self.inflight and not self.waiting:
            return
        self.dead = True
        try:
            self.b.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()
        self.b.log("info", "control-closed", why=why, inflight=len(self.inflight))
        for a in list(self.inflight.values()) + self.waiting:
            self.b.fail(a, "BACKEND_ACK_TIMEOUT", "control_" + why.lower(), count=True)
        self.inflight, self.waiting = {}, []
        if self in self.b.controls:
            self.b.controls.remove(self)


class Broker:
    def __init__(self, args):
        self.args = args
        self.log = Log(args.log_level)
        self.sel = selectors.DefaultSelector()
        self.clients, self.controls = set(), []
        self.next_corr = 1                            # ACK-12
        self.next_conn = 1
        self.pending = {}                             # token -> Attempt (TOKEN-7)
        self.failures, self.window_start = 0, None    # FALLBACK-7
        self.hellos = {}                              # pid -> (second, count): HELLO-14
        self.configured_ready = args.backend_ready    # READY-36: the operator's statement
        self.paths = []
        # SEC-2: the socket appears at its path with mode 0600 only (the
        # backend's way: bound under a temporary name, then renamed).
        self.listener = backend.Backend.listen(self, args.listen)
        self.log("info", "listening", path=args.listen)

    def on_accept(self):
        try:
            sock, _ = self.listener.accept()          # blocking (XFER-25), I/O with MSG_DONTWAIT
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            return self.log("warn", "accept-failed", why=errno.errorcode.get(e.errno, "IO"))
        pid, uid, _gid = peer_uid(sock)
        if uid != os.geteuid():                       # SEC-1: nothing read, nothing written
            sock.close()
            return self.log("warn", "peer-rejected", uid=uid)
        c = Client(self, sock)
        c.pid = pid
        self.clients.add(c)
        self.sel.register(sock, selectors.EVENT_READ, c)

    # ---- the Hello (negotiation.md §3) ------------------------------------------

    def check_hello(self, c, body):
        """The table's steps 4 to 11 in order; returns the Hello or refuses."""
        try:
            env = envelope(body, KIND_REQUEST, 0)     # step 4, ENV-4 (ERR-14)
            h = decode_message(env["payload"], HELLO_SCHEMA)   # ERR-15
        except ProtocolError as e:
            return c.refuse(PEER_REJECTED, str(e))
        if not h["client_min_protocol"] <= 1 <= h["client_max_protocol"]:
            return c.refuse(VERSION_UNSUPPORTED, "PROTOCOL_UNSUPPORTED")     # step 5
        if not SERVICE_RE.match(h["service_name"]):
            return c.refuse(PEER_REJECTED, "SERVICE_NAME")                    # step 6, HELLO-6
        if h["wanted_version"] and not SEMVER_RE.match(h["wanted_version"]):
            return c.refuse(PEER_REJECTED, "VERSION_SYNTAX")                  # step 7, HELLO-7
        if h["peer_pid"] and c.pid and h["peer_pid"] != c.pid:
            return c.refuse(PEER_REJECTED, "PEER_REJECTED")                   # step 8, SEC-3
        if self.hello_limited(c.pid):
            return c.refuse(RATE_LIMITED, "RATE_LIMITED", 1000 - int(time.monotonic() * 1000) % 1000 or 1)
        if h["service_name"] != self.args.service:
            return c.refuse(SERVICE_UNKNOWN, "service not served")             # step 11
        return h

    def hello_limited(self, pid):
        """HELLO-14: Hellos per second per process (0: no limit)."""
        if self.args.hello_rate <= 0:
            return False
        sec = int(time.monotonic())
        s, n = self.hellos.get(pid, (sec, 0))
        n = n + 1 if s == sec else 1
        self.hellos[pid] = (sec, n)
        return n > self.args.hello_rate

    def on_hello(self, c, body):
        h = self.check_hello(c, body)
        if h is None:
            return
        caps = h["client_capabilities"]
        c.keepalive = h["client_keepalive_secs"] or 1800        # HELLO-9
        c.conn_id = self.next_conn
        self.next_conn += 1
        reason, ctl = self.decide(caps)
        base = CAP_EARLY_DATA                         # CAP-6
        if reason is not None:
            self.log("info", "fallback", reason=reason)
            # FALLBACK-3: no token, written whole, closed without reading again.
            c.write(encode_negotiated(self.args.backend_pipe, base, b"", c.conn_id, c.keepalive))
            return c.close("no-handoff")
        token = self.issue()
        mode = "legacy"
        if caps & CAP_BACKEND_READY and self.ready_declared(ctl):
            mode = "backend-ready"                    # READY-36
            if caps & CAP_COALESCED_REPLY and ctl is not None and ctl.caps & BACKEND_CAP_COALESCED_REPLY:
                mode = "coalesced"                    # READY-25
        a = Attempt(c, token, self.next_corr, mode)
        self.next_corr += 1
        self.pending[token] = a
        if mode == "coalesced":
            # READY-26: both replies go into the offer; nothing to the client.
            a.adopted_reply = encode_negotiated(self.args.backend_pipe, base | CAP_HANDLE_PASSING | CAP_BACKEND_READY
                                                | CAP_COALESCED_REPLY, token, c.conn_id, c.keepalive)
            a.declined_reply = encode_negotiated(self.args.backend_pipe, base | CAP_COALESCED_REPLY, b"", c.conn_id,
                                                 c.keepalive)
        else:
            mcaps = base | CAP_HANDLE_PASSING | (CAP_BACKEND_READY if mode == "backend-ready" else 0)   # CAP-4, CAP-5
            if not c.write(encode_negotiated(self.args.backend_pipe, mcaps, token, c.conn_id, c.keepalive)):
                return self.fail(a, "CLIENT_GONE", "negotiated_write", count=False)
            a.negotiated_at = now_ms()
        if ctl is None:
            ctl = Control(self)
            if ctl.dead:
                return self.fail(a, "BACKEND_ACK_TIMEOUT", "connect", count=True)
            self.controls.append(ctl)
        if ctl.connected:
            self.send_offer(ctl, a)
        else:
            a.ctl = ctl
            ctl.waiting.append(a)

    def decide(self, caps):
        """FALLBACK-2, in order; returns (reason, control connection)."""
        if not caps & CAP_HANDLE_PASSING:
            return "CLIENT_UNSUPPORTED", None
        if not self.args.handoff_endpoint:
            return "NO_ENDPOINT", None
        ctl = next((c for c in self.controls if c.usable()), None)
        if ctl is None and len(self.controls) >= MAX_CONTROLS:
            return "QUEUE_FULL", None
        ready = self.ready_declared(ctl) and caps & CAP_BACKEND_READY
        if caps & CAP_EARLY_DATA and not ready:
            return "EARLY_DATA_UNSUPPORTED", None     # FALLBACK-16, READY-18
        if self.rate_limited():
            return "RATE_LIMITED", None
        return None, ctl

    def ready_declared(self, ctl):
        """READY-36: declared in an ACK on the connection, or configured."""
        return bool(ctl is not None and ctl.caps & BACKEND_CAP_BACKEND_READY or self.configured_ready)

    def issue(self):
        """TOKEN-1, TOKEN-4: 16 bytes of the OS random source, not pending."""
        while True:
            t = secrets.token_bytes(16)
            if t not in self.pending:
                return t

    # ---- the offer (handoff-sequence.md §2.2) ------------------------------------

    def send_offer(self, ctl, a):
        c = a.client
        a.ctl = ctl
        if a.mode == "coalesced":
            deadline = wall_ms() - int(now_ms() - c.hello_read_at) + READY_BUDGET_MS      # READY-26
            flags = OFFER_FLAG_BACKEND_READY | OFFER_FLAG_COALESCED_REPLY
        elif a.mode == "backend-ready":
            deadline = wall_ms() - int(now_ms() - a.negotiated_at) + READY_BUDGET_MS      # READY-10
            flags = OFFER_FLAG_BACKEND_READY
        else:
            deadline, flags = 0, 0                    # ENV-9: a legacy offer may carry 0
        offer = encode_offer(a.token, self.args.service, a.corr, flags, deadline, a.adopted_reply, a.declined_reply)
        try:
            self.transfer(ctl, a, offer)
        except OSError as e:
            self.log("warn", "offer-failed", corr=a.corr, why=errno.errorcode.get(e.errno, "IO"))
            if a.mode == "coalesced":
                c.write(a.declined_reply)             # READY-27: nobody else will write
            self.fail(a, "BACKEND_ACK_TIMEOUT", "send", count=True)
            return ctl.end("send")
        # ACK-17: registered with its deadline before any ACK is read.
        a.deadline = min(now_ms() + self.args.ack_timeout_ms,
                         a.negotiated_at + LEGACY_READY_BUDGET_MS if a.mode == "legacy" else float("inf"))
        ctl.inflight[a.corr] = a
        ctl.offers += 1
        if a.mode == "coalesced":
            c.close("coalesced-offer")                # READY-27: at once, never written to
        self.log("debug", "offer", corr=a.corr, mode=a.mode)

    def transfer(self, ctl, a, offer):
        """XFER-3: one sendmsg, exactly the 16 token bytes and the descriptor
        (blocking, XFER-25); XFER-4: the offer right behind it."""
        sent = ctl.sock.sendmsg([a.token], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                             struct.pack("i", a.client.sock.fileno()))], DONT)
        if sent != 16:
            raise OSError(errno.EPIPE, "partial sideband")           # XFER-6: out of step
        ctl.sock.sendall(offer, socket.MSG_NOSIGNAL)

    # ---- ACKs (token-lifecycle.md §4) ----------------------------------------------

    def on_ack(self, ctl, body):
        try:
            _env, ack = decode_ack(body, KIND_RESPONSE)   # ENV-4, ENV-7 (ERR-51..53)
        except ProtocolError as e:
            return ctl.end(str(e))                    # ACK-9
        ctl.acks += 1
        ctl.caps = ack["backend_capabilities"]       # CAP-7, CAP-10, CAP-11: every ACK declares
        corr = ack["correlation_id"]
        a = ctl.inflight.pop(corr, None)
        if a is None:
            if corr == 0 or corr >= self.next_corr:
                return ctl.end("CORRELATION_MISMATCH")            # ACK-8
            self.log("info", "ack-discarded", corr=corr)          # ACK-7
        elif not hmac.compare_digest(bytes(ack["token"]), a.token):
            self.fail(a, "BACKEND_ACK_TIMEOUT", "ack_token_mismatch", count=True)   # ACK-5 MISMATCH
            return ctl.end("ACK_TOKEN_MISMATCH")                  # ACK-13
        elif not ack["accepted"]:
            detail = ack["error_detail"]
            if detail == "DRAINING":
                ctl.draining = True                   # BROKER-9
            # FALLBACK-25: CLOSED and DRAINING do not count.
            self.fail(a, "BACKEND_REFUSED", detail, count=detail not in ("CLOSED", "DRAINING"))   # ACK-4
        elif now_ms() >= a.deadline:
            self.fail(a, "BACKEND_ACK_TIMEOUT", "late", count=True)   # ACK-5 LATE
        else:
            self.completed(a, ack["backend_capabilities"])
        if not ctl.caps & BACKEND_CAP_MULTI_OFFER or ctl.draining:
            if not ctl.inflight:
                ctl.end("one-offer")                  # XFER-37, BROKER-9

    def completed(self, a, caps):
        c = a.client
        self.pending.pop(a.token, None)               # TOKEN-7: revoked exactly once
        if a.mode == "coalesced" and not caps & BACKEND_CAP_COALESCED_REPLY:
            return self.count_failure("BACKEND_READY_VIOLATION")   # READY-30
        if a.mode == "backend-ready" and not caps & BACKEND_CAP_BACKEND_READY:
            self.configured_ready = False             # ACK-16: the configuration was wrong
            c.close("ack-16")                         # no write, no shutdown
            return self.count_failure("BACKEND_READY_VIOLATION")
        if a.mode == "legacy":
            if not c.write(encode_ready(a.token, a.corr)):         # READY-2, ACK-15
                return c.close("ready-write-failed")  # the client left: not counted
        c.close("completed")                          # READY-8: backend-ready: nothing written
        self.failures = 0                             # FALLBACK-8
        self.log("info", "handoff", corr=a.corr, mode=a.mode)

    def fail(self, a, reason, detail, count):
        """FALLBACK-20: token revoked, nothing more written, copy closed;
        FALLBACK-21 shuts a legacy connection down, FALLBACK-22 never a
        backend-ready one."""
        if self.pending.pop(a.token, None) is None:
            return
        if a.ctl is not None:
            a.ctl.inflight.pop(a.corr, None)
        self.log("info", "fallback", reason=reason, detail=detail.replace(" ", "_") or "-", corr=a.corr)
        a.client.close("failed", shut=a.mode == "legacy")
        if count:
            self.count_failure(reason)

    def count_failure(self, reason):
        """FALLBACK-7: a fixed window from the first failure."""
        now, w = now_ms(), self.args.failure_window_ms
        if self.window_start is None or now - self.window_start >= w:
            self.window_start, self.failures = now, 1
        else:
            self.failures = min(self.failures + 1, self.args.failed_attempts)

    def rate_limited(self):
        if self.window_start is None or now_ms() - self.window_start >= self.args.failure_window_ms:
            self.failures = 0
            return False
        return self.failures >= self.args.failed_attempts

    # ---- timers and the loop ----------------------------------------------------

    def on_timer(self):
        now = now_ms()
        for c in [c for c in self.clients if c.hello_read_at is None and now >= c.deadline]:
            c.close("hello-timeout")                  # BROKER-2: no reply
        for ctl in list(self.controls):
            for a in [a for a in ctl.inflight.values() if now >= a.deadline]:
                self.fail(a, "BACKEND_ACK_TIMEOUT", "expired", count=True)    # ACK-6 EXPIRED
            if not ctl.usable() and not ctl.inflight and not ctl.waiting and not ctl.dead:
                ctl.end("no-further-offer")           # XFER-37: it carries nothing more

    def run(self):
        while True:
            for key, mask in self.sel.select(0.01):
                if key.data is self.listener:
                    self.on_accept()
                elif isinstance(key.data, Client):
                    key.data.on_readable()
                else:
                    key.data.on_event(mask)
            self.on_timer()

    def close(self):
        for c in list(self.clients):
            c.close("shutdown")
        for ctl in list(self.controls):
            ctl.end("shutdown")
        self.listener.close()
        try:
            os.unlink(self.args.listen)
        except OSError:
            pass


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--backend-pipe", required=True)
    ap.add_argument("--handoff-endpoint", default="")
    ap.add_argument("--service", default="echo")
    ap.add_argument("--ack-timeout-ms", type=int, default=1500)
    ap.add_argument("--hello-timeout-ms", type=int, default=30000)
    ap.add_argument("--hello-rate", type=int, default=256)
    ap.add_argument("--failed-attempts", type=int, default=8)
    ap.add_argument("--failure-window-ms", type=int, default=30000)
    ap.add_argument("--backend-ready", action="store_true")
    ap.add_argument("--log-level", default="info", choices=["error", "warn", "info", "debug"])
    return ap.parse_args(argv)


def main(broker_class=Broker, argv=None):
    b = broker_class(parse_args(argv))

    def stop(_sig, _frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        b.run()
    finally:
        b.close()


if __name__ == "__main__":
    main()
