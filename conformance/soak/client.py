"""client — an rc1 client written from the spec (not from the reference
client), as an asyncio coroutine so that one process runs hundreds at once.

One call of `run()` is one client's whole life: connect to the broker,
Hello (with early data for the early-data variant), one HelloReply frame,
then either the ready frame (legacy or backend-ready mode) or the silent
fallback to Negotiated.backend_pipe, one request (its unique nonce) and
the check of its echo. It never re-sends a request written on the broker
connection except where READY-21 allows it, and never reconnects after a
valid ready frame (CLIENT-6). It can also be told to disconnect at a given
step (the soak's client-side faults).

Every step is timestamped (time.monotonic(), CLOCK_MONOTONIC, the clock of
the soak's fault timeline) so failures can be matched to faults.
spec: CLIENT-1 CLIENT-5 CLIENT-6 FALLBACK-4 FALLBACK-15 FALLBACK-24 READY-4
spec: READY-37 READY-13 READY-14 READY-20 READY-21
"""
import asyncio
import errno
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "peers", "v1"))
import v1wire as W  # noqa: E402

CAP_HP, CAP_BR, CAP_ED = 1, 2, 4
READY_TIMEOUT = 2.0      # READY_TIMEOUT; backend-ready mode never waits less (READY-14)
READY_EXTEND = 1.0       # a ready frame in progress gets this much more, once
IO_TIMEOUT = 10.0        # connect, Hello reply
SERVICE_TIMEOUT = 20.0   # the echo: longer than any SIGSTOP of a backend
VARIANTS = {"none": 0, "legacy": CAP_HP, "br": CAP_HP | CAP_BR, "early": CAP_HP | CAP_BR | CAP_ED}
ABORT_STEPS = ("connect", "hello", "negotiated", "ready", "request")


class Stop(Exception):
    """The client's life ends here: outcome, step and error recorded."""


def errname(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    if isinstance(e, W.WireError):
        return e.name
    if isinstance(e, (TimeoutError, asyncio.TimeoutError)):
        return "TIMEOUT"
    return type(e).__name__


class Client:
    def __init__(self, nonce, variant, abort=None):
        self.r = {"id": nonce, "kind": "py", "variant": variant, "abort": abort,
                  "outcome": None, "route": "none", "mode": "none", "step": None, "error": None,
                  "fallback": None, "req_broker": False, "pipe_pid": 0}
        self.msg = (nonce + "\n").encode()
        self.caps = VARIANTS[variant]
        self.loop = asyncio.get_running_loop()
        self.sock = None

    # ---- small I/O helpers ------------------------------------------------
    def mark(self, name):
        self.r["t_" + name] = round(time.monotonic(), 4)

    def end(self, outcome, step=None, error=None):
        self.r.update(outcome=outcome, step=step, error=error)
        raise Stop()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def connect(self, path, step):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        self.sock = s
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            try:
                s.connect(path)
                return
            except BlockingIOError:  # EAGAIN: the listen backlog is full; nothing sent yet
                if time.monotonic() >= deadline:
                    self.end("failed", step, "EAGAIN")
                await asyncio.sleep(0.01)
            except OSError as e:
                self.end("failed", step, errname(e))

    async def send(self, data):
        await self.loop.sock_sendall(self.sock, data)

    async def recv_exact(self, n, deadline):
        buf = bytearray()
        while len(buf) < n:
            async with asyncio.timeout_at(deadline):
                chunk = await self.loop.sock_recv(self.sock, n - len(buf))
            if not chunk:
                raise W.Closed() if not buf else W.WireError("TRUNCATED")
            buf += chunk
        return bytes(buf)

    async def read_frame(self, deadline):
        hdr = await self.recv_exact(W.HEADER_BYTES, deadline)
        if hdr[0] != W.FRAMING_VERSION:
            raise W.WireError("FRAMING_VERSION")
        length = struct.unpack_from("<I", hdr, 1)[0]
        if length > W.MAX_FRAME_BYTES:
            raise W.WireError("FRAME_TOO_LARGE")
        return await self.recv_exact(length, deadline) if length else b""

    # ---- the steps ----------------------------------------------------------
    async def run(self, broker_path):
        self.mark("start")
        try:
            await self._run(broker_path)
        except Stop:
            pass
        except Exception as e:  # a bug of this client must not pass for a verdict
            self.r.update(outcome="failed", step="client-bug", error="%s: %s" % (type(e).__name__, e))
        finally:
            self.close()
            self.mark("end")
        return self.r

    async def _run(self, broker_path):
        await self.connect(broker_path, "broker-connect")
        self.mark("conn")
        if self.r["abort"] == "connect":
            self.end("aborted", "connect")
        early = bool(self.caps & CAP_ED)
        hello = W.hello_frame("echo", self.caps)
        try:  # spec: READY-20 — early data in the same write as the Hello
            await self.send(hello + self.msg if early else hello)
        except OSError as e:
            # spec: CLIENT-5 — a broker that answered and closed makes the
            # write fail; its reply may still be there to read.
            self.r["hello_error"] = errname(e)
        self.r["req_broker"] = early
        self.mark("hello")
        if self.r["abort"] == "hello":
            self.end("aborted", "hello")
        try:  # spec: CLIENT-1 — exactly one frame as the HelloReply
            fr = W.decode_frame(await self.read_frame(time.monotonic() + IO_TIMEOUT))
            W.validate_envelope(fr, W.KIND_RESPONSE, W.PROTO_HELLO)
            which, neg = W.decode_hello_reply(fr["payload"])
        except (OSError, W.WireError, TimeoutError) as e:
            self.end("failed", "reply", errname(e))
        if which != "negotiated":
            self.end("failed", "reply", "REFUSED:%s" % (neg or {}).get("code") if neg else "MALFORMED")
        if not neg["backend_pipe"]:
            self.end("failed", "reply", "MALFORMED")  # spec: CLIENT-4
        self.mark("neg")
        self.r["neg_caps"] = neg["server_capabilities"]
        if self.r["abort"] == "negotiated":
            self.end("aborted", "negotiated")
        token = neg["handle_passed_token"]
        offered = bool(self.caps & CAP_HP) and len(token) == 16 and \
            bool(neg["server_capabilities"] & CAP_HP)
        if not offered:
            if early and len(token) == 16:  # a token we cannot use, request queued: READY-21
                self.r["route"] = "handoff"
                self.end("unknown", "ready", "OUTCOME_UNKNOWN")
            # spec: FALLBACK-4 READY-21 (a) — the names of ref/include/handoff/reasons.h
            self.r["fallback"] = "NOT_OFFERED" if self.caps & CAP_HP else "CLIENT_UNSUPPORTED"
            return await self.fallback(neg["backend_pipe"])
        br = bool(self.caps & CAP_BR) and bool(neg["server_capabilities"] & CAP_BR)
        self.r["mode"] = "backend-ready" if br else "legacy"
        safe_resend = br and (not early or bool(neg["server_capabilities"] & CAP_ED))
        if br and not early:  # spec: READY-13
            try:
                await self.send(self.msg)
            except OSError:
                pass  # the request may be partly written: READY-21 decides below
            self.r["req_broker"] = True
            self.mark("req")
        verdict, bytes_seen = await self.read_ready(token, time.monotonic() + READY_TIMEOUT)
        if verdict != "ready":
            # spec: FALLBACK-24 READY-21 — not adopted; re-send only when allowed
            if not self.r["req_broker"] or (safe_resend and not bytes_seen):
                self.r["fallback"] = verdict
                return await self.fallback(neg["backend_pipe"])
            self.r["route"] = "handoff"
            self.r["fallback"] = verdict
            self.end("unknown", "ready", "OUTCOME_UNKNOWN")
        self.mark("ready")
        self.r["route"] = "handoff"  # spec: CLIENT-6 — from here no reconnect
        if self.r["abort"] == "ready":
            self.end("aborted", "ready")
        if not self.r["req_broker"]:  # legacy: the request goes only after ready
            try:
                await self.send(self.msg)
            except OSError as e:
                self.end("failed", "service", errname(e))
            self.mark("req")
        await self.echo("service")

    async def read_ready(self, token, deadline):
        """The next frame as the ready frame (READY-4), within the ready
        timeout (READY-37/READY-14), extended once while a frame is arriving.
        Returns (verdict, bytes_seen): 'ready', 'eof', 'invalid', 'timeout'."""
        buf = bytearray()
        need = W.HEADER_BYTES
        extended = False
        while len(buf) < need:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await self.loop.sock_recv(self.sock, need - len(buf))
            except TimeoutError:
                try:  # spec: READY-14 — a last non-blocking check before giving up
                    chunk = self.sock.recv(need - len(buf), socket.MSG_DONTWAIT)
                except BlockingIOError:
                    return "timeout", bool(buf)
                except OSError:
                    return "eof", bool(buf)
                if chunk and extended:
                    buf += chunk
                    return ("timeout", True) if len(buf) < need else self._check(buf, token)
            except OSError:  # spec: CLIENT-5 — a reset is EOF
                return "eof", bool(buf)
            if not chunk:
                return "eof", bool(buf)
            if not extended:
                deadline = max(deadline, time.monotonic() + READY_EXTEND)
                extended = True
            buf += chunk
            if len(buf) == W.HEADER_BYTES:
                if buf[0] != W.FRAMING_VERSION:
                    return "invalid", True
                length = struct.unpack_from("<I", buf, 1)[0]
                if length > 4096:  # no ready frame is that large
                    return "invalid", True
                need = W.HEADER_BYTES + length
        return self._check(buf, token)

    @staticmethod
    def _check(buf, token):
        try:  # spec: READY-4 — the checks in their order
            fr = W.decode_frame(bytes(buf[W.HEADER_BYTES:]))
            W.validate_envelope(fr, W.KIND_EVENT, W.PROTO_HANDOFF)
            ack = W.decode(W.ACK, fr["payload"])
        except W.WireError:
            return "invalid", True
        if fr["request_id"] != ack["correlation_id"] or ack["token"] != token or not ack["accepted"]:
            return "invalid", True
        return "ready", True

    async def fallback(self, pipe):
        """spec: FALLBACK-4 FALLBACK-15 — close the broker connection first
        (READY-14), then backend_pipe, once; its failure is an error."""
        self.close()
        self.r["route"] = "reconnect"
        self.r["req_broker"] = False
        await self.connect(pipe, "pipe-connect")
        self.mark("pipe")
        try:
            self.r["pipe_pid"] = W.peer_cred(self.sock)[0]
            await self.send(self.msg)
        except OSError as e:
            self.end("failed", "pipe-service", errname(e))
        self.mark("req")
        await self.echo("pipe-service")

    async def echo(self, step):
        if self.r["abort"] == "request":
            self.end("aborted", "request")
        try:
            got = await self.recv_exact(len(self.msg), time.monotonic() + SERVICE_TIMEOUT)
        except (OSError, W.WireError, TimeoutError) as e:
            self.end("failed", step, errname(e))
        if got != self.msg:
            self.end("failed", step, "ECHO_MISMATCH")
        self.end("served")
