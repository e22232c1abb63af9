#!/usr/bin/python3
"""mutant_broker.py — the Python example broker with exactly ONE known defect,
for the conformance suite's self-test (make conform-selftest). Not an
installed program; never a broker to copy.

    mutant_broker.py --mutant NAME [broker.py options]   (or $HANDOFF_MUTANT)
    mutant_broker.py --list                              (JSON: every mutant)

Each mutant names the requirement it violates ("violates", not a spec
citation: a mutant tests nothing), the suite it runs in ("mode", a key of
selftest.py's SUITES) and the cases expected to kill it first ("hint").
MUSTs of the broker tables (spec/errors.md §3, §6) that a runner outside the
process cannot reach are listed in UNIT_ONLY.
"""

import os
import socket
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "python"))
import broker as K  # noqa: E402
import handshake as H  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutantlib  # noqa: E402

MUTANTS, mutant = mutantlib.registry("broker")

UNIT_ONLY = [
    ("ERR-61 XFER-6 (a failing or partial sendmsg)", "the runner's backend cannot make the broker's sendmsg "
     "fail half-way; the reference's unit tests inject it"),
    ("READY-27 (reply_declined after an offer that could not go out)", "a broker that noticed the closed "
     "connection never tries it (broker.coalesced.closed-ctl accepts both ways); which one happens is its choice"),
    ("READY-7 (Negotiated written before the descriptor)", "the runner reads the Negotiated before it reads the "
     "offer; a reversed order looks the same from outside on one host"),
    ("BROKER-5 (client gone before the offer is written)", "the offer follows the Negotiated within microseconds; "
     "no outside client can close in between"),
    ("BROKER-7 BROKER-10 BROKER-11 BROKER-12 (shutdown, Hello pressure, EMFILE)", "need thousands of idle "
     "connections or a lowered descriptor limit of the broker; tests/test_hardening.py covers the reference"),
    ("TOKEN-1 TOKEN-3 TOKEN-4 TOKEN-8 TOKEN-9 TOKEN-16", "randomness, collisions, constant time, clock steps "
     "and pending caps are not observable within a conformance run"),
    ("FALLBACK-10 FALLBACK-11 FALLBACK-12 (tracked backends, pending queue)", "one backend, one control "
     "connection: the tables never fill"),
]


def wrap_negotiated(change):
    """Every Negotiated the broker builds goes through `change(kwargs)`."""
    orig = K.encode_negotiated

    def enc(pipe, caps, token=b"", connection_id=1, keepalive=1800, **kw):
        d = dict(pipe=pipe, caps=caps, token=token, connection_id=connection_id, keepalive=keepalive)
        change(d)
        return orig(d["pipe"], d["caps"], d["token"], d["connection_id"], d["keepalive"], **kw)
    K.encode_negotiated = enc


def wrap_check(rewrite):
    """The Hello checks, with `rewrite(c, body)` deciding first (None: as usual)."""
    orig = K.Broker.check_hello

    def check(self, c, body):
        r = rewrite(self, c, body)
        return orig(self, c, body) if r is None else r
    K.Broker.check_hello = check


def hello_of(body):
    try:
        return H.decode_hello(body)[1]
    except H.ProtocolError:
        return None


# ---- the Hello (spec/errors.md §3) -----------------------------------------------

@mutant("framing-peer-rejected", "HELLO-4 ERR-10", "answers a bad framing byte with ERROR_PEER_REJECTED",
        ["broker.hello.framing-version"])
def _(b):
    K.Client.header_check = lambda c: (H.PEER_REJECTED, "FRAMING_VERSION") if c.buf[0] != 1 else None


@mutant("oversize-reads-body", "HELLO-5 ERR-11 FRAME-3", "waits for the body of an oversized Hello before "
        "refusing it", ["broker.hello.oversize"])
def _(b):
    K.Client.header_check = lambda c: (H.VERSION_UNSUPPORTED, "FRAMING_VERSION") if c.buf[0] != 1 else None


@mutant("truncated-replies", "ERR-12", "answers a Hello cut off by EOF with a Refused",
        ["broker.hello.truncated"])
def _(b):
    orig = K.Client.close

    def close(c, why, shut=False):
        if why == "eof" and c.buf and not c.closed:
            c.write(H.encode_refused(H.PEER_REJECTED, "TRUNCATED"))
        orig(c, why, shut)
    K.Client.close = close


@mutant("no-hello-timeout", "BROKER-2 ERR-13 BROKER-1", "waits for a Hello without a deadline",
        ["broker.hello.silent"])
def _(b):
    orig = K.Client.__init__

    def init(c, broker, sock):
        orig(c, broker, sock)
        c.deadline = float("inf")
    K.Client.__init__ = init


@mutant("timeout-per-byte", "BROKER-2", "restarts the Hello deadline with every byte (slowloris)",
        ["broker.hello.slowloris"])
def _(b):
    orig = K.Client.on_readable

    def on_readable(c):
        c.deadline = K.now_ms() + c.b.args.hello_timeout_ms
        orig(c)
    K.Client.on_readable = on_readable


@mutant("kind-unchecked", "ERR-14 ENV-4", "accepts a Hello of any kind", ["broker.hello.wrong-kind"])
def _(b):
    orig = H.envelope
    K.envelope = lambda body, kind, protocol: orig(body, H.decode_message(body, H.FRAME_SCHEMA)["kind"] % 4, protocol)


@mutant("compressed-accepted", "ERR-14 ENV-5", "ignores payload_encoding", ["broker.hello.compressed"])
def _(b):
    orig = H.envelope

    def env(body, kind, protocol):
        e = H.decode_message(body, H.FRAME_SCHEMA)
        if 1 <= e["payload_encoding"] <= 3:
            return e
        return orig(body, kind, protocol)
    K.envelope = env


@mutant("payload-internal", "ERR-15", "refuses an undecodable Hello payload with ERROR_INTERNAL",
        ["broker.hello.payload-malformed", "broker.hello.wire-type"])
def _(b):
    def rewrite(self, c, body):
        try:
            env = H.envelope(body, H.KIND_REQUEST, 0)
        except H.ProtocolError:
            return None
        try:
            H.decode_message(env["payload"], H.HELLO_SCHEMA)
        except H.ProtocolError as e:
            return c.refuse(H.INTERNAL, str(e))
        return None
    wrap_check(rewrite)


@mutant("protocol-unchecked", "HELLO-3", "skips the protocol range check", ["broker.hello.protocol-range"])
def _(b):
    orig = K.Broker.check_hello

    def check(self, c, body):
        h = hello_of(body)
        if h is not None and not h["client_min_protocol"] <= 1 <= h["client_max_protocol"]:
            return h
        return orig(self, c, body)
    K.Broker.check_hello = check


@mutant("service-syntax-unchecked", "HELLO-6", "answers a bad service name with ERROR_SERVICE_UNKNOWN",
        ["broker.hello.service-syntax"])
def _(b):
    K.SERVICE_RE = type("AnyName", (), {"match": staticmethod(lambda s: True)})


@mutant("version-syntax-unchecked", "HELLO-7", "does not check wanted_version", ["broker.hello.version-syntax"])
def _(b):
    K.SEMVER_RE = type("AnyVersion", (), {"match": staticmethod(lambda s: True)})


@mutant("peer-pid-trusted", "SEC-3", "does not compare peer_pid with the OS pid", ["broker.hello.peer-pid"])
def _(b):
    orig = K.Broker.on_accept

    def on_accept(self):
        orig(self)
        for c in self.clients:
            c.pid = 0
    K.Broker.on_accept = on_accept


@mutant("checks-reordered", "HELLO-3", "checks the service name before the protocol range",
        ["broker.hello.check-order"])
def _(b):
    def rewrite(self, c, body):
        h = hello_of(body)
        if h is not None and not K.SERVICE_RE.match(h["service_name"]):
            return c.refuse(H.PEER_REJECTED, "SERVICE_NAME")
        return None
    wrap_check(rewrite)


@mutant("reason-echoes-input", "ERR-2 HELLO-8", "puts the offending service name into Refused.reason",
        ["broker.hello.service-syntax"])
def _(b):
    def rewrite(self, c, body):
        h = hello_of(body)
        if h is not None and h["client_min_protocol"] <= 1 <= h["client_max_protocol"] and \
                not K.SERVICE_RE.match(h["service_name"]):
            return c.refuse(H.PEER_REJECTED, "SERVICE_NAME " + h["service_name"])
        return None
    wrap_check(rewrite)


@mutant("refused-stays-open", "HELLO-10", "keeps the connection open after a Refused",
        ["broker.hello.unknown-service"])
def _(b):
    def refuse(c, code, reason, retry=0):
        c.write(H.encode_refused(code, reason, retry))
        c.b.held = getattr(c.b, "held", []) + [c.sock]
    K.Client.refuse = refuse


@mutant("refused-protocols-0", "HELLO-8", "Refused without daemon_min/max_protocol",
        ["broker.hello.unknown-service"])
def _(b):
    def enc(code, reason, retry_after_ms=0):
        r = bytearray()
        H.put_field(r, 1, reason)
        H.put_field(r, 4, code)
        reply = bytearray()
        H.put_field(reply, 2, bytes(r))
        return H.frame(H.KIND_RESPONSE, 0, reply)
    K.encode_refused = enc


@mutant("no-hello-rate", "HELLO-14", "no limit on Hellos per process", ["broker.hello.rate-limit"])
def _(b):
    K.Broker.hello_limited = lambda self, pid: False


@mutant("no-peer-check", "SEC-1 ERR-17", "serves clients of any user", ["broker.security.other-uid"])
def _(b):
    K.peer_uid = lambda sock: struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[:1] \
        + (os.geteuid(), 0)


@mutant("reads-past-hello", "FRAME-6 ERR-16", "reads the client connection in 4 KiB chunks (bytes behind the "
        "Hello are lost)", ["broker.handoff.legacy"])
def _(b):
    def on_readable(c):
        try:
            data = c.sock.recv(4096, K.DONT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return c.close("eof")
        c.buf += data
        if len(c.buf) >= 5:
            n = struct.unpack("<I", bytes(c.buf[1:5]))[0]
            if c.buf[0] != 1 or n > H.HELLO_CAP:
                return c.refuse(*c.header_check())
            if len(c.buf) >= 5 + n:
                c.b.sel.unregister(c.sock)
                c.hello_read_at = K.now_ms()
                c.b.on_hello(c, bytes(c.buf[5:5 + n]))
    K.Client.on_readable = on_readable


@mutant("drains-before-close", "FALLBACK-3 ERR-16", "reads what the client wrote behind its Hello before "
        "closing a connection it does not hand off", ["broker.hello.no-handle-passing"])
def _(b):
    orig = K.Client.close

    def close(c, why, shut=False):
        if why == "no-handoff":
            try:
                c.sock.recv(65536, K.DONT)
            except OSError:
                pass
        orig(c, why, shut)
    K.Client.close = close


@mutant("no-early-data-cap", "CAP-6", "Negotiated without CAP_EARLY_DATA", ["broker.hello.no-handle-passing"])
def _(b):
    wrap_negotiated(lambda d: d.update(caps=d["caps"] & ~H.CAP_EARLY_DATA))


@mutant("wrong-backend-pipe", "BROKER-6", "sends another endpoint as backend_pipe", ["broker.handoff.legacy"])
def _(b):
    wrap_negotiated(lambda d: d.update(pipe=d["pipe"] + ".other"))


@mutant("keepalive-ignored", "HELLO-9", "keepalive_interval_secs always 1800", ["broker.hello.ignored-fields"])
def _(b):
    wrap_negotiated(lambda d: d.update(keepalive=1800))


@mutant("connection-id-reused", "HELLO-9", "connection_id 1 for every client", ["broker.handoff.backend-closes"])
def _(b):
    wrap_negotiated(lambda d: d.update(connection_id=1))


@mutant("handle-passing-without-token", "CAP-4", "CAP_HANDLE_PASSING in a Negotiated without token",
        ["broker.hello.no-handle-passing"])
def _(b):
    wrap_negotiated(lambda d: d.update(caps=d["caps"] | H.CAP_HANDLE_PASSING))


# ---- the transfer (handoff-sequence.md §2.2) ---------------------------------------

def transfer_with(sideband, data=None, fds=1, nonblock=False):
    def transfer(self, ctl, a, offer):
        fd = a.client.sock.fileno()
        if nonblock:
            a.client.sock.setblocking(False)
        head = sideband(a) if data is None else data(a, offer)
        ctl.sock.sendmsg([head], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("%di" % fds, *[fd] * fds))],
                         K.DONT)
        if data is None:
            ctl.sock.sendall(offer, socket.MSG_NOSIGNAL)
    K.Broker.transfer = transfer


@mutant("sideband-and-offer", "XFER-3", "one sendmsg for the sideband and the offer", ["broker.handoff.legacy"])
def _(b):
    transfer_with(None, data=lambda a, offer: a.token + offer)


@mutant("sideband-other-token", "XFER-4", "a sideband token that differs from the offer's",
        ["broker.handoff.legacy"])
def _(b):
    transfer_with(lambda a: bytes(16))


@mutant("two-descriptors", "XFER-3", "the client descriptor twice in SCM_RIGHTS", ["broker.handoff.legacy"])
def _(b):
    transfer_with(lambda a: a.token, fds=2)


@mutant("nonblocking-descriptor", "XFER-25", "passes the client descriptor with O_NONBLOCK set",
        ["broker.handoff.legacy"])
def _(b):
    transfer_with(lambda a: a.token, nonblock=True)


@mutant("handle-value", "XFER-4", "handle_value 5 in the offer", ["broker.handoff.legacy"])
def _(b):
    orig = K.encode_offer

    def enc(token, service, corr, flags, deadline, adopted=b"", declined=b""):
        f = orig(token, service, corr, flags, deadline, adopted, declined)
        env = H.decode_message(f[5:], H.FRAME_SCHEMA)
        p = bytearray()
        H.put_field(p, 1, 5)
        return H.frame(H.KIND_REQUEST, H.PAYLOAD_HANDOFF, bytes(p) + env["payload"], corr, deadline)
    K.encode_offer = enc


@mutant("correlation-reused", "ACK-12", "correlation id 1 for every attempt", ["broker.handoff.backend-closes"])
def _(b):
    orig = K.Attempt.__init__

    def init(a, client, token, corr, mode):
        orig(a, client, token, 1, mode)
    K.Attempt.__init__ = init


@mutant("token-reoffered", "TOKEN-6", "offers the token again after a refusal", ["broker.ack.refusals"])
def _(b):
    orig = K.Broker.fail

    def fail(self, a, reason, detail, count):
        if reason == "BACKEND_REFUSED" and not getattr(a, "retried", False) and a.ctl is not None and not a.ctl.dead:
            a.retried = True
            return self.send_offer(a.ctl, a)
        return orig(self, a, reason, detail, count)
    K.Broker.fail = fail


@mutant("legacy-deadline-far", "TOKEN-22", "a legacy offer's deadline 60 s ahead", ["broker.handoff.legacy"])
def _(b):
    orig = K.encode_offer
    K.encode_offer = lambda t, s, c, flags, dl, *r: orig(t, s, c, flags, dl or K.wall_ms() + 60000, *r)


@mutant("ready-deadline-zero", "READY-10", "backend-ready offers without a deadline",
        ["broker.ready.backend-ready"])
def _(b):
    orig = K.encode_offer
    K.encode_offer = lambda t, s, c, flags, dl, *r: orig(t, s, c, flags, 0 if flags else dl, *r)


# ---- ready and the attempt's end -----------------------------------------------------

@mutant("ready-before-ack", "READY-2", "writes the legacy ready frame as soon as the offer is sent",
        ["broker.handoff.ack-delayed", "broker.handoff.legacy"])
def _(b):
    orig = K.Broker.send_offer

    def send_offer(self, ctl, a):
        orig(self, ctl, a)
        if a.mode == "legacy":
            a.client.write(H.encode_ready(a.token, a.corr))
            a.mode = "legacy-done"
    K.Broker.send_offer = send_offer
    orig_completed = K.Broker.completed

    def completed(self, a, caps):
        if a.mode == "legacy-done":
            a.mode = "backend-ready"
            caps |= H.BACKEND_CAP_BACKEND_READY
        return orig_completed(self, a, caps)
    K.Broker.completed = completed


@mutant("ready-after-refusal", "READY-2 FALLBACK-20", "writes the ready frame after a refused ACK too",
        ["broker.ack.refusals"])
def _(b):
    orig = K.Broker.fail

    def fail(self, a, reason, detail, count):
        if reason == "BACKEND_REFUSED" and a.mode == "legacy":
            a.client.write(H.encode_ready(a.token, a.corr))
        return orig(self, a, reason, detail, count)
    K.Broker.fail = fail


@mutant("copy-kept", "BROKER-4 XFER-7", "keeps its copy of every handed-off connection",
        ["broker.handoff.legacy"])
def _(b):
    orig = K.Client.close

    def close(c, why, shut=False):
        if why == "completed":
            c.b.kept = getattr(c.b, "kept", []) + [c.sock.dup()]
        orig(c, why, shut)
    K.Client.close = close


@mutant("failed-copy-kept", "FALLBACK-20 BROKER-4", "keeps its copy after a failed attempt",
        ["broker.ack.refusals"])
def _(b):
    orig = K.Client.close

    def close(c, why, shut=False):
        if why == "failed":
            c.b.kept = getattr(c.b, "kept", []) + [c.sock.dup()]
            shut = False
        orig(c, why, shut)
    K.Client.close = close


@mutant("backend-ready-writes-ready", "READY-8", "writes a ready frame itself in backend-ready mode too",
        ["broker.ready.backend-ready"])
def _(b):
    orig = K.Broker.completed

    def completed(self, a, caps):
        if a.mode == "backend-ready":
            a.client.write(H.encode_ready(a.token, a.corr))
        return orig(self, a, caps)
    K.Broker.completed = completed


@mutant("ack16-shuts-down", "ACK-16 FALLBACK-22", "shuts the connection down after an ACK that proves no ready",
        ["broker.ready.ack-without-cap"])
def _(b):
    orig = K.Client.close
    K.Client.close = lambda c, why, shut=False: orig(c, why, shut or why == "ack-16")


@mutant("ready-undeclared", "READY-36", "backend-ready mode without the backend's declaration",
        ["broker.ready.undeclared"])
def _(b):
    orig = K.Broker.on_hello

    def on_hello(self, c, body):
        for ctl in self.controls:
            ctl.caps |= H.BACKEND_CAP_BACKEND_READY
        return orig(self, c, body)
    K.Broker.on_hello = on_hello


@mutant("early-data-legacy", "FALLBACK-16 READY-18", "hands a Hello with early data off in legacy mode",
        ["broker.ready.early-data-undeclared"])
def _(b):
    orig = K.Broker.decide
    K.Broker.decide = lambda self, caps: orig(self, caps & ~H.CAP_EARLY_DATA)


# ---- control connections and ACKs (spec/errors.md §6) ---------------------------------

@mutant("pipelines-undeclared", "XFER-37", "several offers on a connection before BACKEND_CAP_MULTI_OFFER",
        ["broker.ack.none", "broker.handoff.v1-backend"])
def _(b):
    K.Control.usable = lambda ctl: not ctl.dead and not ctl.draining


@mutant("v1-connection-kept", "XFER-37", "keeps a connection open after an ACK without BACKEND_CAP_MULTI_OFFER",
        ["broker.handoff.v1-backend"])
def _(b):
    orig = K.Control.end
    K.Control.end = lambda ctl, why: None if why in ("one-offer", "no-further-offer") else orig(ctl, why)


@mutant("never-reuses", "XFER-37 (SHOULD, declared multi-offer)", "a new control connection for every offer",
        ["broker.handoff.reuse"])
def _(b):
    orig = K.Control.usable
    K.Control.usable = lambda ctl: orig(ctl) and ctl.offers == 0


@mutant("unknown-corr-discarded", "ACK-8 ERR-54", "discards an ACK with a correlation id never issued",
        ["broker.ack.corr-zero", "broker.ack.corr-unissued"])
def _(b):
    orig = K.Control.end
    K.Control.end = lambda ctl, why: None if why == "CORRELATION_MISMATCH" else orig(ctl, why)


@mutant("bad-ack-tolerated", "ACK-9 ERR-51", "reads the payload of an ACK of the wrong kind",
        ["broker.ack.wrong-kind"])
def _(b):
    orig = H.decode_ack
    K.decode_ack = lambda body, kind: orig(body, H.decode_message(body, H.FRAME_SCHEMA)["kind"] % 4)


@mutant("stale-ack-closes", "ACK-7 ERR-55", "closes the control connection on an ACK not in flight",
        ["broker.ack.old-corr", "broker.ack.duplicate"])
def _(b):
    orig = K.Broker.on_ack

    def on_ack(self, ctl, body):
        try:
            corr = H.decode_ack(body, H.KIND_RESPONSE)[1]["correlation_id"]
        except H.ProtocolError:
            corr = None
        if corr is not None and corr not in ctl.inflight and 0 < corr < self.next_corr:
            return ctl.end("stale")
        return orig(self, ctl, body)
    K.Broker.on_ack = on_ack


@mutant("token-echo-unchecked", "ACK-5 ERR-56", "completes an attempt whose ACK echoes another token",
        ["broker.ack.wrong-token"])
def _(b):
    K.hmac = type("NoCompare", (), {"compare_digest": staticmethod(lambda x, y: True)})


@mutant("refusal-closes", "ACK-4 ERR-57", "closes the control connection after a refused ACK",
        ["broker.ack.refusals"])
def _(b):
    orig = K.Broker.on_ack

    def on_ack(self, ctl, body):
        orig(self, ctl, body)
        try:
            refused = not H.decode_ack(body, H.KIND_RESPONSE)[1]["accepted"]
        except H.ProtocolError:
            refused = False
        if refused:
            ctl.end("refused")
    K.Broker.on_ack = on_ack


@mutant("no-ack-timer", "ACK-6 ERR-59", "never expires an attempt by itself", ["broker.ack.none"])
def _(b):
    orig = K.Broker.on_timer

    def on_timer(self):
        for ctl in self.controls:
            for a in ctl.inflight.values():
                a.deadline = float("inf")
        orig(self)
    K.Broker.on_timer = on_timer


@mutant("draining-reused", "BROKER-9 ERR-64", "sends further offers on a connection that answered DRAINING",
        ["broker.ack.draining"])
def _(b):
    K.Control.draining = property(lambda ctl: False, lambda ctl, v: None)


@mutant("endpoint-down-hangs", "XFER-23 ERR-62", "leaves the client waiting when the handoff endpoint is gone",
        ["broker.ctl.endpoint-gone"])
def _(b):
    orig = K.Broker.fail

    def fail(self, a, reason, detail, count):
        if detail == "connect":
            self.pending.pop(a.token, None)
            return
        return orig(self, a, reason, detail, count)
    K.Broker.fail = fail


# ---- the rate limit (fallback.md §3) ------------------------------------------------

@mutant("failures-uncounted", "FALLBACK-7 FALLBACK-25", "never counts a failed attempt", ["broker.rate.limit"])
def _(b):
    K.Broker.count_failure = lambda self, reason: None


@mutant("closed-counted", "FALLBACK-25", "counts refusals with CLOSED and DRAINING", ["broker.rate.not-counted"])
def _(b):
    orig = K.Broker.fail
    K.Broker.fail = lambda self, a, reason, detail, count: orig(self, a, reason, detail,
                                                               True if reason == "BACKEND_REFUSED" else count)


@mutant("success-keeps-count", "FALLBACK-8", "a completed handoff does not clear the count",
        ["broker.rate.success-clears"])
def _(b):
    orig = K.Broker.completed

    def completed(self, a, caps):
        n = self.failures
        orig(self, a, caps)
        self.failures = max(self.failures, n)
    K.Broker.completed = completed


@mutant("window-never-ends", "FALLBACK-7", "the failure window never resets", ["broker.rate.recovery"])
def _(b):
    K.Broker.rate_limited = lambda self: self.window_start is not None and self.failures >= self.args.failed_attempts


@mutant("logs-token", "SEC-8", "logs every token it issues in hex", ["broker.security.tokens-not-logged"])
def _(b):
    orig = K.Broker.issue

    def issue(self):
        t = orig(self)
        self.log("warn", "issued", token=t.hex())
        return t
    K.Broker.issue = issue


# ---- coalesced reply (ready.md §6) ---------------------------------------------------

@mutant("coalesced-writes-negotiated", "READY-26", "writes the Negotiated itself in coalesced mode too",
        ["broker.coalesced.offer"])
def _(b):
    orig = K.Broker.send_offer

    def send_offer(self, ctl, a):
        if a.mode == "coalesced":
            a.client.write(a.adopted_reply)
        return orig(self, ctl, a)
    K.Broker.send_offer = send_offer


@mutant("coalesced-undeclared", "READY-25", "coalesced mode without BACKEND_CAP_COALESCED_REPLY",
        ["broker.coalesced.undeclared"])
def _(b):
    orig = K.Broker.on_hello

    def on_hello(self, c, body):
        for ctl in self.controls:
            if ctl.caps & H.BACKEND_CAP_BACKEND_READY:
                ctl.caps |= H.BACKEND_CAP_COALESCED_REPLY
        return orig(self, c, body)
    K.Broker.on_hello = on_hello


@mutant("coalesced-copy-kept", "READY-27", "keeps its copy until the ACK of a coalesced offer",
        ["broker.coalesced.offer"])
def _(b):
    orig = K.Client.close

    def close(c, why, shut=False):
        if why == "coalesced-offer":
            c.b.kept = getattr(c.b, "kept", []) + [c.sock.dup()]
        orig(c, why, shut)
    K.Client.close = close


@mutant("coalesced-declined-token", "READY-26", "reply_declined carries the token too",
        ["broker.coalesced.offer"])
def _(b):
    orig = K.Broker.send_offer

    def send_offer(self, ctl, a):
        if a.mode == "coalesced":
            a.declined_reply = a.adopted_reply
        return orig(self, ctl, a)
    K.Broker.send_offer = send_offer


@mutant("coalesced-cap-ignored", "READY-30", "counts an accepted coalesced ACK without "
        "BACKEND_CAP_COALESCED_REPLY as a success", ["broker.coalesced.ack-without-cap"])
def _(b):
    orig = K.Broker.completed
    K.Broker.completed = lambda self, a, caps: orig(self, a, caps | H.BACKEND_CAP_COALESCED_REPLY)


@mutant("coalesced-acks-unaccounted", "READY-34", "does not count refusals of coalesced offers",
        ["broker.coalesced.late-acks"])
def _(b):
    orig = K.Broker.fail
    K.Broker.fail = lambda self, a, reason, detail, count: orig(self, a, reason, detail,
                                                               count and a.mode != "coalesced")


# ---------------------------------------------------------------------------------------

def main():
    def run(install, argv):
        class One(K.Broker):
            def __init__(self, args):
                super().__init__(args)
                install(self)
        return K.main(One, argv)
    return mutantlib.cli("mutant_broker.py", MUTANTS, UNIT_ONLY, run)


if __name__ == "__main__":
    sys.exit(main())
