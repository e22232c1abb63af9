#!/usr/bin/python3
"""mutant_backend.py — the Python example backend with exactly ONE known
defect, for the conformance suite's self-test (make conform-selftest).
Not an installed program; never a backend to copy.

    mutant_backend.py --mutant NAME [backend.py options]   (or $HANDOFF_MUTANT)
    mutant_backend.py --list                               (JSON: every mutant)

Each mutant names the requirement it violates (as "violates", not as a
spec citation: a mutant tests nothing, make compliance must not count it),
the mode it runs in, and the cases expected to kill it first ("hint": the
quick self-test in make test tries those before the whole suite).

MUSTs of the backend error table (spec/errors.md §5) that a runner outside
the process cannot reach, and so have no mutant here (unit tests of the
reference cover them): see UNIT_ONLY below.
"""

import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "python"))
import backend as B  # noqa: E402
import mutantlib  # noqa: E402

MUTANTS, mutant = mutantlib.registry("backend")

UNIT_ONLY = [
    ("ERR-35 ERR-36 ERR-37 ERR-47 (error names)",
     "every offer that fails its checks is answered the same way (no ACK, connection closed): "
     "which name the backend gives it (e.g. CORRELATION_MISMATCH vs MALFORMED for correlation 0) "
     "never reaches the wire"),
    ("XFER-29 (MSG_CMSG_CLOEXEC), BACKEND-8",
     "close-on-exec of a received descriptor shows only when the backend starts a child"),
    ("XFER-29 (room for two descriptors)",
     "with room for one, two descriptors fill the buffer and XFER-28 rule 1 still says "
     "EXTRA_DESCRIPTORS: indistinguishable from outside"),
    ("TOKEN-8 (constant time)", "timing is not measured; the full 16-byte comparison is "
     "(backend.token.sideband-mismatch-last-byte)"),
    ("TOKEN-17 (kept 30 s / deadline + 5 s)", "longer than a conformance run; the replay memory "
     "is checked within seconds"),
    ("BACKEND-6 (ACKs never interleave)", "needs two ACK writes that overlap (threads); a "
     "single event loop writes whole frames"),
    ("BACKEND-7 OVERLOADED, BACKEND-14 DRAINING", "SHOULDs with no trigger defined from outside"),
]


# ---- descriptors (XFER-28) --------------------------------------------------

@mutant("no-descriptor-named-bad", "ERR-31", "names a missing descriptor BAD_DESCRIPTOR",
        ["backend.descriptor.none"])
def _(b):
    check = b.check_descriptors
    b.check_descriptors = lambda fds, c, f: "BAD_DESCRIPTOR" if not fds and not c else check(fds, c, f)


@mutant("extra-adopts-first", "ERR-32", "with several descriptors, keeps the first and goes on",
        ["backend.descriptor.two"])
def _(b):
    check = b.check_descriptors

    def f(fds, c, full):
        for fd in fds[1:]:
            B.close_fd(fd)
        del fds[1:]
        return check(fds, False, False)
    b.check_descriptors = f


@mutant("extra-leaks-second", "ERR-32 ERR-1", "refuses EXTRA_DESCRIPTORS but closes only the first",
        ["backend.descriptor.two"])
def _(b):
    check = b.check_descriptors

    def f(fds, c, full):
        r = check(fds, c, full)
        if r == "EXTRA_DESCRIPTORS":
            del fds[1:]                               # the caller closes what is left
        return r
    b.check_descriptors = f


@mutant("ctrunc-first", "XFER-28 ERR-45", "the pre-rc1 order: any MSG_CTRUNC is refused as CTRUNC",
        ["backend.descriptor.fd-exhausted", "backend.descriptor.many"])
def _(b):
    check = b.check_descriptors
    b.check_descriptors = lambda fds, c, f: "CTRUNC" if c else check(fds, c, f)


@mutant("ctrunc-ignored", "XFER-28 ERR-45", "ignores MSG_CTRUNC (a descriptor the kernel could "
        "not install looks like none)", ["backend.descriptor.fd-exhausted"])
def _(b):
    check = b.check_descriptors
    b.check_descriptors = lambda fds, c, f: check(fds, False, False)


@mutant("no-type-check", "ERR-33", "adopts any descriptor, whatever it is",
        ["backend.descriptor.pipe"])
def _(b):
    B.is_connected_stream_socket = lambda fd: True


@mutant("no-connected-check", "ERR-33", "checks SOCK_STREAM but not that the socket is connected",
        ["backend.descriptor.unconnected-socket"])
def _(b):
    def stream(fd):
        try:
            s = socket.socket(fileno=fd)
        except OSError:
            return False
        try:
            return s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM
        finally:
            s.detach()
    B.is_connected_stream_socket = stream


@mutant("bad-descriptor-leak", "ERR-33 ERR-1", "refuses BAD_DESCRIPTOR without closing it",
        ["backend.descriptor.pipe"])
def _(b):
    check = b.check_descriptors

    def f(fds, c, full):
        r = check(fds, c, full)
        if r == "BAD_DESCRIPTOR":
            fds.clear()
        return r
    b.check_descriptors = f


# ---- the control stream ---------------------------------------------------------

class ReadAhead(B.ControlConnection):
    """Reads the control connection in 4 KiB chunks and feeds its state machine
    from the buffer: descriptors count for the part being read (FRAME-11)."""

    def start_handoff(self):
        super().start_handoff()
        self.pending = getattr(self, "pending", bytearray())

    def read_once(self):
        data, anc, flags, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(8 * 4), socket.MSG_CMSG_CLOEXEC)
        for level, ctype, cdata in anc:
            if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
                n = len(cdata) - len(cdata) % 4
                self.fds += list(struct.unpack("%di" % (n // 4), cdata[:n]))
        if not data:
            if self.sideband or self.header or self.pending:
                raise B.ProtocolError("TRUNCATED")
            return self.drop("CLOSED")
        self.pending += data
        while self.pending and not self.closed:
            if self.state == B.SIDEBAND:
                k = B.TOKEN_BYTES - len(self.sideband)
                if not self.sideband:
                    self.deadline = B.monotonic_ms() + self.b.offer_timeout_ms
                self.sideband += self.pending[:k]
                del self.pending[:k]
                if len(self.sideband) == B.TOKEN_BYTES:
                    self.state = B.HEADER
            elif self.state == B.HEADER:
                k = B.FRAME_HEADER - len(self.header)
                self.header += self.pending[:k]
                del self.pending[:k]
                if len(self.header) == B.FRAME_HEADER:
                    if self.header[0] != 1:
                        raise B.ProtocolError("FRAMING_VERSION")
                    self.body_len = struct.unpack("<I", bytes(self.header[1:5]))[0]
                    if self.body_len > B.OFFER_CAP:
                        raise B.ProtocolError("FRAME_TOO_LARGE")
                    self.state = B.BODY
                    if self.body_len == 0:
                        self.offer_complete()
            else:
                k = self.body_len - len(self.body)
                self.body += self.pending[:k]
                del self.pending[:k]
                if len(self.body) == self.body_len:
                    self.offer_complete()


@mutant("read-ahead", "FRAME-11 XFER-29", "reads the control connection 4 KiB at a time",
        ["backend.stream.pipelined"])
def _(b):
    b.control_class = ReadAhead


@mutant("truncated-sideband-leak", "ERR-34 XFER-9", "EOF inside the sideband: closes the control "
        "connection but not the descriptor", ["backend.stream.eof-mid-sideband"])
def _(b):
    class C(B.ControlConnection):
        def read_sideband(self):
            try:
                super().read_sideband()
            except B.ProtocolError:
                self.fds = []
                raise
    b.control_class = C


@mutant("eof-leaks-descriptor", "ERR-44 XFER-20", "EOF after the sideband: the descriptor stays open",
        ["backend.stream.eof-after-sideband"])
def _(b):
    class C(B.ControlConnection):
        def read_header(self):
            try:
                super().read_header()
            except B.ProtocolError as e:
                if str(e) == "TRUNCATED":
                    self.fds = []
                raise
    b.control_class = C


@mutant("no-offer-timeout", "BACKEND-10", "waits for a stalled offer forever",
        ["backend.stream.stall-mid-offer"])
def _(b):
    b.offer_timeout_ms = 10 ** 9


@mutant("idle-timeout", "BACKEND-13 BACKEND-10", "also closes a control connection idle between "
        "handoffs for OFFER_TIMEOUT", ["backend.stream.idle-between-handoffs"])
def _(b):
    class C(B.ControlConnection):
        def start_handoff(self):
            super().start_handoff()
            self.deadline = B.monotonic_ms() + self.b.offer_timeout_ms
    b.control_class = C


@mutant("closes-after-ack", "BACKEND-13", "declares BACKEND_CAP_MULTI_OFFER but closes the control "
        "connection after each ACK", ["backend.token.replay-same-connection"])
def _(b):
    class C(B.ControlConnection):
        def send_ack(self, frame):
            super().send_ack(frame)
            if not self.closed and not self.out:
                self.drop("CLOSED")
    b.control_class = C


@mutant("no-frame-cap", "BACKEND-11", "applies the 16 MiB cap to offers, not 64 KiB",
        ["backend.offer.over-64k"])
def _(b):
    B.OFFER_CAP = 16 * 1024 * 1024


# ---- the offer frame ------------------------------------------------------------

def relax(check_name):
    """decode_offer with one of its checks removed."""
    orig = B.decode_offer

    def dec(body):
        env = B.decode_message(body, B.FRAME_SCHEMA)
        fixed = dict(env)
        if check_name == "kind":
            fixed["kind"] = B.KIND_REQUEST
        if check_name == "encoding":
            fixed["payload_encoding"] = 0
        if check_name == "protocol":
            fixed["payload_protocol"] = B.PAYLOAD_HANDOFF
        b2 = bytearray()
        for number, (name, kind, _cap) in B.FRAME_SCHEMA.items():
            B.put_field(b2, number, fixed[name])
        e2, offer = orig(bytes(b2))
        return env, offer
    return dec


@mutant("framing-unchecked", "FRAME-2 ERR-35", "does not check the framing byte",
        ["backend.offer.framing-version-2"])
def _(b):
    class C(B.ControlConnection):
        def read_header(self):                        # read_header without the version check
            data = self.sock.recv(B.FRAME_HEADER - len(self.header))
            if not data:
                raise B.ProtocolError("TRUNCATED")
            self.header += data
            if len(self.header) < B.FRAME_HEADER:
                return
            self.body_len = struct.unpack("<I", bytes(self.header[1:5]))[0]
            if self.body_len > B.OFFER_CAP:
                raise B.ProtocolError("FRAME_TOO_LARGE")
            self.state = B.BODY
            if self.body_len == 0:
                self.offer_complete()
    b.control_class = C


@mutant("kind-unchecked", "ERR-36 ENV-4", "accepts offers of any frame kind", ["backend.offer.kind-response"])
def _(b):
    B.decode_offer = relax("kind")


@mutant("compressed-accepted", "ERR-36 ENV-5", "ignores payload_encoding", ["backend.offer.compressed-zstd"])
def _(b):
    B.decode_offer = relax("encoding")


@mutant("protocol-unchecked", "ERR-36 ENV-4", "ignores payload_protocol",
        ["backend.offer.payload-protocol-admin"])
def _(b):
    B.decode_offer = relax("protocol")


@mutant("token-length-unchecked", "ERR-37 MSG-8", "accepts tokens of any length", ["backend.offer.token-15"])
def _(b):
    B.OFFER_SCHEMA[2] = ("token", B.BYTES, None)


@mutant("string-unchecked", "ERR-37 MSG-6 MSG-7", "service_name without cap or UTF-8 check",
        ["backend.offer.service-too-long"])
def _(b):
    B.OFFER_SCHEMA[3] = ("service_name", B.BYTES, None)
    orig = B.decode_offer

    def dec(body):
        env, offer = orig(body)
        offer["service_name"] = offer["service_name"].decode("utf-8", "replace")
        return env, offer
    B.decode_offer = dec


@mutant("refuses-malformed", "BACKEND-4 XFER-11 ERR-37", "answers an offer it cannot decode with a "
        "refusing ACK instead of closing", ["backend.offer.token-17"])
def _(b):
    class C(B.ControlConnection):
        def offer_complete(self):
            body, sb, fds = bytes(self.body), bytes(self.sideband), self.fds
            try:
                B.decode_offer(body)
            except B.ProtocolError as e:
                for fd in fds:
                    B.close_fd(fd)
                self.fds = []
                self.start_handoff()
                return self.b.send_ack(self, sb, False, str(e), 1)
            return super().offer_complete()
    b.control_class = C


@mutant("request-id-unchecked", "ERR-47 ENV-7", "does not compare request_id with correlation_id",
        ["backend.offer.request-id-mismatch"])
def _(b):
    orig = B.decode_offer

    def dec(body):
        try:
            return orig(body)
        except B.ProtocolError as e:
            if str(e) != "REQUEST_ID_MISMATCH":
                raise
            env = B.decode_message(body, B.FRAME_SCHEMA)
            return env, B.decode_message(env["payload"], B.OFFER_SCHEMA)
    B.decode_offer = dec


@mutant("correlation-zero-accepted", "ERR-47 XFER-13", "accepts correlation_id 0",
        ["backend.offer.correlation-zero"])
def _(b):
    orig = B.decode_offer

    def dec(body):
        try:
            return orig(body)
        except B.ProtocolError as e:
            if str(e) != "CORRELATION_MISMATCH":
                raise
            env = B.decode_message(body, B.FRAME_SCHEMA)
            return env, B.decode_message(env["payload"], B.OFFER_SCHEMA)
    B.decode_offer = dec


@mutant("unknown-field-rejected", "ERR-43 MSG-1", "rejects offers with unknown fields",
        ["backend.offer.payload-unknown-fields"])
def _(b):
    orig = B.decode_message

    def dec(buf, schema):
        pos = 0
        while pos < len(buf):
            key, pos = B.read_varint(buf, pos, 5)
            if (key >> 3) not in schema:
                raise B.ProtocolError("MALFORMED")
            wt = key & 7
            if wt == 0:
                _v, pos = B.read_varint(buf, pos, 10)
            elif wt == 2:
                n, pos = B.read_varint(buf, pos, 5)
                pos += n
            else:
                pos += 8 if wt == 1 else 4
        return orig(buf, schema)
    B.decode_message = dec


@mutant("offer-flags-strict", "ERR-43 CAP-1", "refuses offers with unassigned offer_flags bits",
        ["backend.offer.unknown-offer-flags"])
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: (
        "MALFORMED" if offer["offer_flags"] & ~B.OFFER_FLAG_BACKEND_READY else orig(sb, st, env, offer, now))


@mutant("handle-value-checked", "ERR-43 XFER-14", "refuses a non-zero handle_value on Unix",
        ["backend.offer.handle-value-nonzero"])
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: (
        "BAD_DESCRIPTOR" if offer["handle_value"] else orig(sb, st, env, offer, now))


@mutant("empty-service-refused", "XFER-14", "refuses an empty service_name", ["backend.offer.service-empty"])
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: (
        "SERVICE_NAME" if not offer["service_name"] else orig(sb, st, env, offer, now))


@mutant("service-check-skipped", "XFER-14", "declares service-name-check but accepts any service",
        ["backend.offer.service-other"])
def _(b):
    b.service = ""


# ---- the token ----------------------------------------------------------------------

@mutant("sideband-unchecked", "ERR-39 XFER-12", "does not compare the sideband with the token",
        ["backend.token.sideband-mismatch"])
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: orig(offer["token"], st, env, offer, now)


@mutant("sideband-prefix", "ERR-39 XFER-12", "compares only the first 8 sideband bytes",
        ["backend.token.sideband-mismatch-last-byte"])
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: orig(
        offer["token"] if sb[:8] == offer["token"][:8] else sb, st, env, offer, now)


@mutant("replay-accepted", "ERR-40 XFER-15", "has no replay memory", ["backend.token.replay-new-connection"])
def _(b):
    b.replay.contains = lambda token, now: False


@mutant("replay-per-connection", "ERR-40 TOKEN-17", "remembers accepted tokens per control connection",
        ["backend.token.replay-new-connection"])
def _(b):
    orig_on_offer = b.on_offer

    def on_offer(ctl, sideband, fd, status, env, offer):
        if not hasattr(ctl, "memory"):
            ctl.memory = B.ReplayMemory(b.replay.capacity)
        b.replay = ctl.memory
        return orig_on_offer(ctl, sideband, fd, status, env, offer)
    b.on_offer = on_offer


@mutant("refused-token-recorded", "TOKEN-19", "records every token, also of offers it refuses",
        ["backend.token.refused-not-recorded"])
def _(b):
    orig = b.refusal

    def refusal(sb, st, env, offer, now):
        r = orig(sb, st, env, offer, now)
        if r is not None and r != "TOKEN_NOT_PENDING":
            b.replay.add(offer["token"], env["deadline_unix_ms"], now)
        return r
    b.refusal = refusal


@mutant("ready-failure-forgets", "TOKEN-19 READY-12", "forgets the token when its ready write fails",
        ["backend.token.ready-failure-keeps-token"])
def _(b):
    orig_send = b.send_ack

    def send_ack(ctl, token, accepted, detail, corr):
        if not accepted and detail in ("CLOSED", "IO"):
            b.replay.until.pop(b.replay._k(token), None)
        return orig_send(ctl, token, accepted, detail, corr)
    b.send_ack = send_ack


@mutant("replay-evicts", "ERR-42 TOKEN-18", "evicts the oldest token when the replay memory is full",
        ["backend.token.replay-memory-full"])
def _(b):
    mem = b.replay
    orig_add = mem.add

    def add(token, deadline, now):
        if len(mem.until) >= mem.capacity:
            del mem.until[min(mem.until, key=mem.until.get)]
        orig_add(token, deadline, now)
    mem.add = add
    mem.full = lambda now: False


@mutant("record-late", "BACKEND-5 XFER-15", "records an accepted token only once its client has "
        "sent a byte", ["backend.token.replay-concurrent"])
def _(b):
    b.replay_add_now = b.replay.add
    b.replay.add = lambda token, deadline, now: b.__dict__.setdefault("late", []).append((token, deadline, now))

    class E(B.EchoConnection):
        def on_event(self, mask):
            for t in b.__dict__.pop("late", []):
                b.replay_add_now(*t)
            return super().on_event(mask)
    b.echo_class = E


@mutant("deadline-ignored", "ERR-41 READY-11", "ignores the ready deadline of flagged offers",
        ["backend.deadline.ready-past"])
def _(b):
    orig = b.refusal

    def refusal(sb, st, env, offer, now):
        if offer["offer_flags"] & B.OFFER_FLAG_BACKEND_READY:
            env = dict(env, deadline_unix_ms=B.wall_ms() + 1000)
        return orig(sb, st, env, offer, now)
    b.refusal = refusal


@mutant("legacy-deadline-ignored", "TOKEN-21", "ignores the deadline of legacy offers",
        ["backend.deadline.legacy-past"])
def _(b):
    orig = b.refusal

    def refusal(sb, st, env, offer, now):
        if not offer["offer_flags"] & B.OFFER_FLAG_BACKEND_READY:
            env = dict(env, deadline_unix_ms=0)
        return orig(sb, st, env, offer, now)
    b.refusal = refusal


@mutant("wrong-refusal-order", "XFER-36", "checks the replay memory before the sideband",
        ["backend.order.sideband-before-replay"])
def _(b):
    orig = b.refusal

    def refusal(sb, st, env, offer, now):
        if st is None and b.replay.contains(offer["token"], now):
            return "TOKEN_NOT_PENDING"
        return orig(sb, st, env, offer, now)
    b.refusal = refusal


# ---- ready frame and mode ------------------------------------------------------------

@mutant("ready-unsupported-state", "READY-24", "without backend-ready, refuses a flagged offer with "
        "STATE (the reference before rc1)", ["backend.ready.unsupported"], mode="legacy")
def _(b):
    orig = b.refusal
    b.refusal = lambda sb, st, env, offer, now: (
        "STATE" if orig(sb, st, env, offer, now) == "BACKEND_READY_UNSUPPORTED" else orig(sb, st, env, offer, now))


@mutant("ready-unsupported-first", "XFER-36", "without backend-ready, refuses a flagged offer "
        "before checking its service", ["backend.order.service-before-ready-unsupported"], mode="legacy")
def _(b):
    orig = b.refusal

    def refusal(sb, st, env, offer, now):
        r = orig(sb, st, env, offer, now)
        if r == "SERVICE_NAME" and offer["offer_flags"] & B.OFFER_FLAG_BACKEND_READY:
            return "BACKEND_READY_UNSUPPORTED"
        return r
    b.refusal = refusal


@mutant("ready-after-ack", "READY-9", "writes the ready frame after its ACK", ["backend.ready.backend-ready"])
def _(b):
    orig = b.on_offer

    def on_offer(ctl, sideband, fd, status, env, offer):
        if not offer["offer_flags"] & B.OFFER_FLAG_BACKEND_READY or b.refusal(sideband, status, env, offer, B.monotonic_ms()):
            return orig(ctl, sideband, fd, status, env, offer)
        b.replay.add(offer["token"], env["deadline_unix_ms"], B.monotonic_ms())
        b.send_ack(ctl, offer["token"], True, "", offer["correlation_id"])
        time.sleep(0.02)
        sock = socket.socket(fileno=fd)
        sock.send(B.encode_ack(B.KIND_EVENT, offer["token"], True, "", offer["correlation_id"], 0))
        b.echo_class(b, sock, "handoff", offer["correlation_id"])
    b.on_offer = on_offer


@mutant("ready-then-refuse", "READY-12 BACKEND-3", "writes the ready frame before checking the "
        "deadline, then refuses", ["backend.deadline.ready-past"])
def _(b):
    orig = b.on_offer

    def on_offer(ctl, sideband, fd, status, env, offer):
        if fd is not None and offer["offer_flags"] & B.OFFER_FLAG_BACKEND_READY:
            try:
                os.write(fd, B.encode_ack(B.KIND_EVENT, offer["token"], True, "", offer["correlation_id"], 0))
            except OSError:
                pass
            if b.refusal(sideband, status, env, offer, B.monotonic_ms()) is None:
                b.replay.add(offer["token"], env["deadline_unix_ms"], B.monotonic_ms())
                b.send_ack(ctl, offer["token"], True, "", offer["correlation_id"])
                return b.echo_class(b, socket.socket(fileno=fd), "handoff", offer["correlation_id"])
        return orig(ctl, sideband, fd, status, env, offer)
    b.on_offer = on_offer


@mutant("ready-in-legacy", "READY-3 READY-16", "writes a ready frame itself on legacy offers too",
        ["backend.ready.legacy"])
def _(b):
    orig = b.on_offer

    def on_offer(ctl, sideband, fd, status, env, offer):
        offer = dict(offer)
        if b.refusal(sideband, status, env, offer, B.monotonic_ms()) is None:
            offer["offer_flags"] |= B.OFFER_FLAG_BACKEND_READY
        return orig(ctl, sideband, fd, status, env, offer)
    b.on_offer = on_offer


@mutant("queued-request-dropped", "READY-13 BACKEND-1", "discards bytes already queued when it "
        "adopts a connection", ["backend.ready.request-queued"])
def _(b):
    class E(B.EchoConnection):
        def __init__(self, backend, sock, route, corr=0):
            if route == "handoff":
                sock.setblocking(False)
                try:
                    sock.recv(65536)
                except OSError:
                    pass
            super().__init__(backend, sock, route, corr)
    b.echo_class = E


@mutant("no-multi-offer-bit", "CAP-10", "ACKs lack BACKEND_CAP_MULTI_OFFER", ["backend.caps.multi-offer-bit"])
def _(b):
    b.capabilities &= ~B.BACKEND_CAP_MULTI_OFFER


@mutant("no-backend-ready-bit", "CAP-7 READY-9", "ACKs lack BACKEND_CAP_BACKEND_READY",
        ["backend.caps.backend-ready-bit"])
def _(b):
    b.capabilities &= ~B.BACKEND_CAP_BACKEND_READY


# ---- ACKs and refusals -------------------------------------------------------------

@mutant("ack-wrong-token", "XFER-17", "echoes a token with one bit flipped",
        ["backend.service.large-echo"])
def _(b):
    orig = b.send_ack
    b.send_ack = lambda ctl, token, a, d, corr: orig(ctl, bytes([token[0] ^ 1]) + bytes(token[1:]), a, d, corr)


@mutant("error-detail-text", "XFER-18 ERR-2", "explains refusals in words, not an error name",
        ["backend.descriptor.none"])
def _(b):
    orig = b.send_ack
    b.send_ack = lambda ctl, token, a, d, corr: orig(ctl, token, a, d and "refused: " + d.lower(), corr)


@mutant("refusal-before-close", "XFER-18", "sends the refusing ACK, then closes the descriptor",
        ["backend.token.sideband-mismatch"])
def _(b):
    def refuse(ctl, fd, token, corr, why):
        b.send_ack(ctl, token, False, why, corr)
        if fd is not None:
            time.sleep(0.05)
            B.close_fd(fd)
    b.refuse = refuse


@mutant("reads-refused", "BACKEND-3", "reads the client connection of an offer it refuses",
        ["backend.token.sideband-mismatch"])
def _(b):
    orig = b.refuse

    def refuse(ctl, fd, token, corr, why):
        if fd is not None:
            try:
                os.set_blocking(fd, False)
                os.read(fd, 4096)
            except OSError:
                pass
        return orig(ctl, fd, token, corr, why)
    b.refuse = refuse


# ---- the service and the process --------------------------------------------------

@mutant("assumes-nonblocking", "XFER-26", "relies on O_NONBLOCK being set on an adopted descriptor "
        "and reads until EAGAIN", ["backend.service.blocking-descriptor"])
def _(b):
    class E(B.EchoConnection):
        def __init__(self, backend, sock, route, corr=0):
            self.b, self.sock, self.route, self.corr = backend, sock, route, corr
            self.out, self.eof = bytearray(), False
            self.events = B.selectors.EVENT_READ
            backend.sel.register(sock, self.events, self)

        def on_event(self, mask):
            try:
                while True:                           # drains until EAGAIN: blocks on a blocking fd
                    data = self.sock.recv(65536)
                    if not data:
                        return self.close("eof")
                    self.sock.sendall(data)
            except BlockingIOError:
                pass
            except OSError:
                return self.close("io-error")
    b.echo_class = E


@mutant("blocking-echo", "ERR-4 XFER-19", "writes echoes with blocking sendall (a client that does "
        "not read stalls everything)", ["backend.service.back-pressure"])
def _(b):
    class E(B.EchoConnection):
        def on_event(self, mask):
            try:
                data = self.sock.recv(65536)
                if not data:
                    return self.close("eof")
                self.sock.setblocking(True)
                self.sock.sendall(data)
                self.sock.setblocking(False)
            except BlockingIOError:
                pass
            except OSError:
                return self.close("io-error")
    b.echo_class = E


@mutant("pipe-not-served", "BACKEND-1", "accepts clients on backend_pipe and closes them at once",
        ["backend.service.backend-pipe"])
def _(b):
    orig = b.on_listener

    def on_listener(listener):
        if listener is not b.pipe:
            return orig(listener)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.close()
    b.on_listener = on_listener


@mutant("keeps-adopted", "BACKEND-1 ERR-1", "never closes an adopted connection when its client leaves",
        ["backend.client.hangup-after-adoption"])
def _(b):
    class E(B.EchoConnection):
        def close(self, why):
            if self.route != "handoff":
                return super().close(why)
            if self.events:
                self.b.sel.unregister(self.sock)
            self.events = 0
            self.b.__dict__.setdefault("kept", []).append(self.sock)
    b.echo_class = E


@mutant("sigpipe-default", "ERR-3", "dies of SIGPIPE when a peer has gone", ["backend.ready.client-gone"])
def _(b):
    import signal
    b.after_start = lambda: signal.signal(signal.SIGPIPE, signal.SIG_DFL)


@mutant("no-peer-check", "SEC-4", "accepts control connections from any user",
        ["backend.security.other-uid-control"])
def _(b):
    orig = b.on_listener

    def on_listener(listener):
        if listener is b.pipe:
            return orig(listener)
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        b.controls.add(b.control_class(b, conn))
    b.on_listener = on_listener


@mutant("logs-token", "SEC-8", "logs the token of every offer in hex",
        ["backend.security.tokens-not-logged"])
def _(b):
    orig = b.on_offer

    def on_offer(ctl, sideband, fd, status, env, offer):
        b.log("warn", "offer", token=bytes(offer["token"]).hex())
        return orig(ctl, sideband, fd, status, env, offer)
    b.on_offer = on_offer


# ---------------------------------------------------------------------------------------

class MutantBackend(B.Backend):
    after_start = None

    def run(self):
        if self.after_start:
            self.after_start()
        return super().run()


def main():
    def run(install, argv):
        class One(MutantBackend):
            def __init__(self, args):
                super().__init__(args)
                install(self)
        return B.main(One, argv)
    return mutantlib.cli("mutant_backend.py", MUTANTS, UNIT_ONLY, run)


if __name__ == "__main__":
    sys.exit(main())
