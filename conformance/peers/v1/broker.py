#!/usr/bin/python3
"""broker.py — a broker of the ORIGINAL running-process v1 kind (test peer).

What it imitates (reference running-process-v1-handoff.md §1 "Versioning and
capabilities", §2 "What production actually does", §3 "Production serve
sequence"):

  * spec: FRAME-6 XFER-3 XFER-5 XFER-25 XFER-37 CAP-4 — what of this spec the
    original already does (D-6, D-10, D-26);
  * a SERIALIZED, blocking accept loop: one client at a time, from the Hello
    to the end of its handoff (a slow backend stalls everybody, as in the
    original);
  * owner-only client endpoint; peers of another uid are dropped without a
    reply; reads exactly the Hello frame (30 s deadline), refuses bad Hellos
    as the original does (framing byte -> ERROR_VERSION_UNSUPPORTED, > 64 KiB
    -> ERROR_PEER_REJECTED "initial Hello frame exceeds 64 KiB", envelope and
    syntax errors -> ERROR_PEER_REJECTED, protocol range ->
    ERROR_VERSION_UNSUPPORTED, peer_pid mismatch -> ERROR_PEER_REJECTED, more
    than 256 Hellos/s per pid -> ERROR_RATE_LIMITED, other service ->
    ERROR_SERVICE_UNKNOWN);
  * Negotiated: backend_pipe always; a 16-byte token iff the client set
    CAP_HANDLE_PASSING, even without --handoff-endpoint (the original issues
    it anyway); server_capabilities = CAP_HANDLE_PASSING iff a token was
    issued; NO extension bit ever (no CAP_BACKEND_READY, no CAP_EARLY_DATA);
    connection_id 1, so correlation_id is always 1;
  * post_hello with the client stream in BLOCKING mode: dial a FRESH control
    connection per handoff, sendmsg(16 token bytes + SCM_RIGHTS fd,
    MSG_DONTWAIT|MSG_NOSIGNAL), the offer frame with the `08 00` prefix, the
    ACK awaited with a 5 s deadline and checked in the original's order
    (envelope RESPONSE, request_id, correlation_id, token, accepted,
    deadline), then the ready EVENT it builds itself, and it drops its copy;
  * any failure drops the stream: the client sees EOF and falls back.
"""

import argparse
import errno
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v1wire as w  # noqa: E402

SERVICE_RE = re.compile(r"^[a-z0-9-]{1,64}$")
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
HELLOS_PER_SECOND = 256
CORRELATION_ID = 1  # connection_id starts at 1 per handler: always 1


class Stop(Exception):
    pass


class HandoffFailed(Exception):
    def __init__(self, stage, detail):
        super().__init__("%s: %s" % (stage, detail))
        self.stage = stage
        self.detail = detail


def ename(e):
    return errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)


class Broker:
    def __init__(self, args, log):
        self.a = args
        self.log = log
        self.conn_seq = 0
        self.rate = {}  # pid -> [window_start, count]
        self.counters = {"clients": 0, "refused": 0, "negotiated": 0, "tokens": 0,
                         "handoffs": 0, "ready_write_failed": 0, "failed": 0}

    # ---- Hello ---------------------------------------------------------------

    def refuse(self, c, code, reason, retry_after_ms=0):
        self.counters["refused"] += 1
        self.log("refused", conn=self.conn_seq, code=code, reason=repr(reason))
        try:
            c.sendall(w.refused_frame(code, reason, retry_after_ms))
        except OSError:
            pass

    def rate_limited(self, pid):
        now = time.monotonic()
        ent = self.rate.get(pid)
        if ent is None or now - ent[0] >= 1.0:
            self.rate[pid] = [now, 1]
            if len(self.rate) > 4096:
                self.rate = {p: e for p, e in self.rate.items() if now - e[0] < 1.0}
            return 0
        ent[1] += 1
        if ent[1] > HELLOS_PER_SECOND:
            return max(1, int((1.0 - (now - ent[0])) * 1000))
        return 0

    def serve(self, c):
        self.conn_seq += 1
        self.counters["clients"] += 1
        pid, uid, _ = w.peer_cred(c)
        if uid != os.geteuid():
            self.log("peer-rejected", conn=self.conn_seq, uid=uid)  # dropped, no reply
            return
        deadline = time.monotonic() + self.a.hello_timeout_ms / 1000.0
        try:
            hdr = w.recv_exact(c, w.HEADER_BYTES, deadline)
        except (w.WireError, OSError) as e:
            self.log("hello-failed", conn=self.conn_seq, reason=getattr(e, "name", ename(e)))
            return
        if hdr[0] != w.FRAMING_VERSION:
            return self.refuse(c, w.ERROR_VERSION_UNSUPPORTED,
                               "unsupported framing version %d" % hdr[0])
        length = int.from_bytes(hdr[1:5], "little")
        if length > w.MAX_HELLO_BYTES:
            return self.refuse(c, w.ERROR_PEER_REJECTED, "initial Hello frame exceeds 64 KiB")
        try:
            body = w.read_frame(c, w.MAX_HELLO_BYTES, deadline, header=hdr)
        except (w.WireError, OSError) as e:
            self.log("hello-failed", conn=self.conn_seq, reason=getattr(e, "name", ename(e)))
            return
        try:
            fr = w.decode_frame(body)
            w.validate_envelope(fr, w.KIND_REQUEST, w.PROTO_HELLO)
            hello = w.decode(w.HELLO, fr["payload"])
        except w.WireError as e:
            return self.refuse(c, w.ERROR_PEER_REJECTED, e.detail)
        if not hello["client_min_protocol"] <= w.PROTOCOL_VERSION <= hello["client_max_protocol"]:
            return self.refuse(c, w.ERROR_VERSION_UNSUPPORTED, "protocol version 1 not offered")
        if not SERVICE_RE.match(hello["service_name"]):
            return self.refuse(c, w.ERROR_PEER_REJECTED, "invalid service_name")
        wv = hello["wanted_version"]
        if wv and (len(wv.encode()) > 64 or not SEMVER_RE.match(wv)):
            return self.refuse(c, w.ERROR_PEER_REJECTED, "invalid wanted_version")
        if len(hello["client_version"].encode()) > 128 or \
                len(hello["client_lib_name"].encode()) > 64 or \
                len(hello["client_lib_version"].encode()) > 64:
            return self.refuse(c, w.ERROR_PEER_REJECTED, "client version string too long")
        if hello["peer_pid"] and pid and hello["peer_pid"] != pid:
            return self.refuse(c, w.ERROR_PEER_REJECTED, "peer_pid does not match the OS pid")
        retry = self.rate_limited(pid)
        if retry:
            return self.refuse(c, w.ERROR_RATE_LIMITED, "too many Hellos", retry)
        if hello["service_name"] != self.a.service:
            return self.refuse(c, w.ERROR_SERVICE_UNKNOWN, "unknown service")

        # The token is issued whenever the client set the bit, with or
        # without a handoff endpoint (the original's serve.rs). Only
        # CAP_HANDLE_PASSING is known: every other client bit is ignored
        # and no other server bit is ever set.
        token = b""
        caps = 0
        if hello["client_capabilities"] & w.CAP_HANDLE_PASSING:
            token = os.urandom(w.TOKEN_BYTES)  # getrandom, the OS CSPRNG
            caps = w.CAP_HANDLE_PASSING
            self.counters["tokens"] += 1
        neg = {"negotiated_protocol": w.PROTOCOL_VERSION, "daemon_version": "v1-peer-broker/1",
               "backend_pipe": self.a.backend_pipe, "server_capabilities": caps,
               "keepalive_interval_secs": hello["client_keepalive_secs"] or
               w.DEFAULT_KEEPALIVE_SECS,
               "handle_passed_token": token, "connection_id": CORRELATION_ID}
        c.settimeout(None)  # post_hello runs with the stream in blocking mode
        try:
            c.sendall(w.negotiated_frame(neg))
        except OSError as e:
            self.log("reply-failed", conn=self.conn_seq, errno=ename(e))
            return
        self.counters["negotiated"] += 1
        self.log("negotiated", conn=self.conn_seq, pid=pid, token=int(bool(token)))
        if token:
            self.post_hello(c, token, hello["service_name"])

    # ---- handoff ---------------------------------------------------------------

    def post_hello(self, c, token, service):
        if not self.a.handoff_endpoint:
            self.log("no-handoff-endpoint", conn=self.conn_seq)  # stream dropped: EOF
            return
        cid = self.conn_seq
        t0 = time.monotonic()
        try:
            self.transfer(c, token, service)
        except HandoffFailed as e:
            self.counters["failed"] += 1
            self.log("handoff-failed", conn=cid, stage=e.stage, detail=repr(e.detail),
                     ms="%.1f" % ((time.monotonic() - t0) * 1000))
            return
        self.counters["handoffs"] += 1
        # Step 12: the ready EVENT, built by the broker; a failed write is
        # only logged.
        try:
            c.sendall(w.ready_frame(token, CORRELATION_ID))
        except OSError as e:
            self.counters["ready_write_failed"] += 1
            self.log("ready-write-failed", conn=cid, errno=ename(e))
            return
        self.log("handed-off", conn=cid, ms="%.1f" % ((time.monotonic() - t0) * 1000))

    def transfer(self, c, token, service):
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Step 5: each handoff gets a fresh control connection.
            ctl.settimeout(w.DEFAULT_HANDOFF_ACK_DEADLINE_S)
            try:
                ctl.connect(self.a.handoff_endpoint)
            except OSError as e:
                raise HandoffFailed("connect", ename(e))
            io_deadline = time.monotonic() + w.DEFAULT_HANDOFF_ACK_DEADLINE_S
            fd = c.fileno()
            if not os.get_blocking(fd):  # post_hello: the stream is in blocking mode
                raise HandoffFailed("transfer", "client stream is not blocking")
            try:
                n = w.send_sideband(ctl, token, fd, socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL)
            except OSError as e:
                raise HandoffFailed("transfer", ename(e))
            if n != w.TOKEN_BYTES:
                raise HandoffFailed("transfer", "partial send of %d bytes" % n)
            try:  # Step 9: deliver the offer (08 00 prefix).
                ctl.settimeout(max(0.001, io_deadline - time.monotonic()))
                ctl.sendall(w.offer_frame(token, service, CORRELATION_ID))
            except OSError as e:
                raise HandoffFailed("deliver", ename(e))
            self.await_ack(ctl, token)
        finally:
            ctl.close()

    def await_ack(self, ctl, token):
        """The original's ACK check, in its order (wire.rs::await_backend_ack)."""
        deadline = time.monotonic() + w.DEFAULT_HANDOFF_ACK_DEADLINE_S  # fresh 5 s
        try:
            body = w.read_frame(ctl, w.MAX_FRAME_BYTES, deadline)
        except socket.timeout:
            raise HandoffFailed("ack", "timed out")
        except (w.WireError, OSError) as e:
            raise HandoffFailed("ack", getattr(e, "detail", ename(e)))
        try:
            fr = w.decode_frame(body)
            w.validate_envelope(fr, w.KIND_RESPONSE, w.PROTO_HANDOFF)
        except w.WireError as e:
            raise HandoffFailed("ack", e.detail)
        if fr["request_id"] != CORRELATION_ID:
            raise HandoffFailed("ack", "request_id does not match")
        try:
            ack = w.decode(w.ACK, fr["payload"])
        except w.WireError as e:
            raise HandoffFailed("ack", e.detail)
        if ack["correlation_id"] != CORRELATION_ID:
            raise HandoffFailed("ack", "correlation_id does not match")
        if ack["token"] != token:  # plain comparison, as the original
            raise HandoffFailed("ack", "token does not match")
        if not ack["accepted"]:
            raise HandoffFailed("ack", "backend refused the handoff: %s" % ack["error_detail"])
        if time.monotonic() > deadline:
            raise HandoffFailed("ack", "acknowledged after the deadline")


def main():
    ap = argparse.ArgumentParser(
        description="Test peer: a broker of the ORIGINAL running-process v1 kind. Serialized "
        "blocking accept loop; Hello -> Negotiated (token iff CAP_HANDLE_PASSING, no "
        "extension bits, connection/correlation id 1); per handoff a fresh control "
        "connection, sideband + fd, offer with the 08 00 prefix, ACK within 5 s, ready "
        "EVENT; any failure drops the stream.",
        epilog="Signals: SIGTERM/SIGINT: socket unlinked, counters logged, exit 0.")
    ap.add_argument("--listen", required=True, metavar="PATH",
                    help="client endpoint (Unix socket, dir 0700, socket 0600)")
    ap.add_argument("--backend-pipe", required=True, metavar="PATH",
                    help="the backend's own endpoint, sent in every Negotiated")
    ap.add_argument("--handoff-endpoint", metavar="PATH",
                    help="the backend's handoff endpoint; without it the token is still "
                    "issued and the stream dropped (the original's serve mode)")
    ap.add_argument("--service", default="echo", help="the service served (default: echo)")
    ap.add_argument("--hello-timeout-ms", type=int, default=int(w.HELLO_TIMEOUT_S * 1000),
                    help="Hello read deadline (default 30000, the original's)")
    ap.add_argument("--log", metavar="FILE", help="event log (default: stderr)")
    args = ap.parse_args()

    log = w.Log("v1-broker", args.log)
    b = Broker(args, log)

    def on_signal(*_):
        raise Stop()

    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    lst = w.bind_owner_only(args.listen)
    log("listening", listen=args.listen, handoff_endpoint=args.handoff_endpoint or "(none)",
        backend_pipe=args.backend_pipe)
    try:
        while True:  # serialized: one client at a time
            c, _ = lst.accept()
            try:
                b.serve(c)
            finally:
                c.close()  # drop the broker's copy of the stream
    except Stop:
        pass
    try:
        os.unlink(args.listen)
    except OSError:
        pass
    log("stopped", counters=" ".join("%s=%d" % kv for kv in b.counters.items()))


if __name__ == "__main__":
    main()
