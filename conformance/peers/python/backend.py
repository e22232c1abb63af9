#!/usr/bin/python3
"""backend.py — a complete backend of the handoff wire v1 spec (revision
1.0.0-rc1), in Python 3 with the standard library only.

It is written as the example to copy: every rule of the spec it implements
names its requirement ID in a comment ("XFER-28: ..."). Read it with
spec/handoff-sequence.md and spec/errors.md §5 beside it.

What it does:
  - listens on a handoff endpoint (control connections from brokers) and on
    a backend_pipe (clients that reconnect), both Unix stream sockets;
  - adopts client connections handed off over SCM_RIGHTS: sideband (16 token
    bytes with the descriptor), then one framed HandoffOffer, answered by
    one HandoffAck (accepted, or refused with an error name);
  - serves the conformance test service "echo" on adopted and reconnected
    connections alike: every byte read is written back; EOF closes;
  - legacy mode (--ready-mode legacy, the original v1) or backend-ready mode
    (--ready-mode backend: it writes the ready frame itself, READY-9);
  - keeps control connections open for many offers and says so in every ACK
    (BACKEND_CAP_MULTI_OFFER, CAP-10).

Usage:
  backend.py --handoff-endpoint PATH --backend-pipe PATH [--service NAME]
             [--ready-mode legacy|backend] [--offer-timeout-ms N]
             [--replay-capacity N] [--log-level error|warn|info|debug]

Test it with the conformance runner (conformance/peers/python/README.md):
  build/bin/handoff-conform backend --manifest conformance/peers/python/manifest.json

The protobuf wire format is hand-rolled (section 2) on purpose: the spec's
decoding rules (MSG-1 to MSG-17) are stricter than a generic protobuf
library, and a backend without dependencies is what many implementers need.
"""

import argparse
import errno
import hashlib
import hmac
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import time

# ---------------------------------------------------------------------------
# 1. Constants (the same numbers as ref/include/handoff/wire.h)
# ---------------------------------------------------------------------------

FRAMING_VERSION = 1
FRAME_HEADER = 5                      # [u8 version][u32 LE body_length]
OFFER_CAP = 64 * 1024                 # BACKEND-11: at most 64 KiB per offer frame
ENVELOPE_VERSION = 1
KIND_REQUEST, KIND_RESPONSE, KIND_EVENT, KIND_CANCEL = 0, 1, 2, 3
PAYLOAD_HANDOFF = 0xD0FF
ENCODING_NONE = 0
TOKEN_BYTES = 16
OFFER_FLAG_BACKEND_READY = 1 << 0
BACKEND_CAP_BACKEND_READY = 1 << 0
BACKEND_CAP_MULTI_OFFER = 1 << 1
REPLAY_MARGIN_MS = 5000               # TOKEN-17
TOKEN_TTL_MAX_MS = 30000              # TOKEN-17, for offers without a deadline
MAX_TRACEPARENT, MAX_TRACESTATE, MAX_SERVICE_NAME = 128, 512, 64
SIDEBAND_FDS = 2                      # XFER-29: room for at least two descriptors
ECHO_BUFFER = 256 * 1024              # back-pressure: stop reading above this


class ProtocolError(Exception):
    """A named error of spec/errors.md; str(e) is the error name."""


# ---------------------------------------------------------------------------
# 2. Protobuf wire format, with the spec's decoding rules
# ---------------------------------------------------------------------------

WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5

# Field kinds of a schema: how the value is kept and which checks apply.
UINT64, UINT32, ENUM, BOOL, BYTES, STRING, TOKEN = range(7)


def read_varint(buf, pos, max_bytes):
    """MSG-4: a value varint may take up to 10 bytes (the 10th 00 or 01), a
    tag or length varint up to 5. Anything longer, or cut off: MALFORMED."""
    value, shift = 0, 0
    for i in range(max_bytes):
        if pos + i >= len(buf):
            raise ProtocolError("MALFORMED")          # MSG-10: truncated varint
        b = buf[pos + i]
        if i == 9 and b > 1:
            raise ProtocolError("MALFORMED")          # bits beyond 64
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos + i + 1
    raise ProtocolError("MALFORMED")                  # too many bytes


def decode_message(buf, schema):
    """Decode `buf` with `schema` {number: (name, kind, cap)} and return a dict
    of every known field (defaults for absent ones). Per field, in the order
    MSG-17 fixes: tag, wire type against the schema, extent within the
    buffer, length cap, content."""
    out = {}
    for _number, (name, kind, _cap) in schema.items():
        out[name] = b"" if kind in (BYTES, TOKEN) else "" if kind == STRING else 0
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos, 5)
        number, wt = key >> 3, key & 7
        if number == 0 or key > 0xFFFFFFFF:
            raise ProtocolError("MALFORMED")          # MSG-10: field 0, tag too big
        if wt not in (WT_VARINT, WT_I64, WT_LEN, WT_I32):
            raise ProtocolError("MALFORMED")          # MSG-10: groups (3, 4), 6, 7
        field = schema.get(number)
        if field is not None:
            name, kind, cap = field
            want = WT_LEN if kind in (BYTES, STRING, TOKEN) else WT_VARINT
            if wt != want:
                raise ProtocolError("WIRE_TYPE")      # MSG-5
        if wt == WT_VARINT:
            value, pos = read_varint(buf, pos, 10)
        elif wt == WT_I64 or wt == WT_I32:
            size = 8 if wt == WT_I64 else 4
            if pos + size > len(buf):
                raise ProtocolError("MALFORMED")
            value, pos = None, pos + size
        else:
            length, pos = read_varint(buf, pos, 5)
            if pos + length > len(buf):
                raise ProtocolError("MALFORMED")      # MSG-10: runs past the end
            value, pos = bytes(buf[pos:pos + length]), pos + length
        if field is None:
            continue                                  # MSG-1: unknown fields are skipped
        if kind == UINT32 or kind == ENUM:
            value &= 0xFFFFFFFF                       # MSG-11: the low 32 bits
        elif kind == BOOL:
            value = value != 0
        elif kind == TOKEN and len(value) > TOKEN_BYTES:
            raise ProtocolError("TOKEN_LENGTH")       # MSG-8, in any occurrence
        elif kind in (BYTES, STRING) and cap is not None and len(value) > cap:
            raise ProtocolError("STRING_TOO_LONG")    # MSG-6, in any occurrence
        if kind == STRING:
            if b"\x00" in value:
                raise ProtocolError("STRING_INVALID")  # MSG-7
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("STRING_INVALID") from None
        out[name] = value                             # MSG-2: the last one wins
    # MSG-8, MSG-15: the final token length, once the whole message is read.
    for _number, (name, kind, _cap) in schema.items():
        if kind == TOKEN and len(out[name]) != TOKEN_BYTES:
            raise ProtocolError("TOKEN_LENGTH")
    return out


def put_varint(out, value):
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return


def put_field(out, number, value):
    """Canonical encoding (MSG-14): a field is written only when it is not its
    default; integers as varints, bytes/str length-delimited."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        if value:
            put_varint(out, number << 3 | WT_VARINT)
            put_varint(out, value)
        return
    if isinstance(value, str):
        value = value.encode("utf-8")
    if value:
        put_varint(out, number << 3 | WT_LEN)
        put_varint(out, len(value))
        out += value


# ---------------------------------------------------------------------------
# 3. The v1 frames a backend reads and writes
# ---------------------------------------------------------------------------

FRAME_SCHEMA = {                                      # envelope.md §1
    1: ("envelope_version", UINT32, None),
    2: ("kind", ENUM, None),
    3: ("payload_protocol", UINT32, None),
    4: ("payload", BYTES, None),
    5: ("request_id", UINT64, None),
    6: ("payload_encoding", ENUM, None),
    7: ("deadline_unix_ms", UINT64, None),
    8: ("traceparent", STRING, MAX_TRACEPARENT),
    9: ("tracestate", STRING, MAX_TRACESTATE),
}
OFFER_SCHEMA = {                                      # messages.md §5
    1: ("handle_value", UINT64, None),
    2: ("token", TOKEN, None),
    3: ("service_name", STRING, MAX_SERVICE_NAME),
    4: ("correlation_id", UINT64, None),
    11: ("offer_flags", UINT64, None),
}


def check_envelope(env, kind, protocol):
    """ENV-4 steps 3 to 8 on a decoded envelope expected to be `kind` on
    `protocol`, in the fixed order; the first failure names the error. The
    one copy for every Python peer (backend, handshake, decoder)."""
    if env["envelope_version"] != ENVELOPE_VERSION:
        raise ProtocolError("ENVELOPE_VERSION")       # step 3
    if env["kind"] > KIND_CANCEL:
        raise ProtocolError("UNKNOWN_KIND")           # step 4
    if env["kind"] != kind:
        raise ProtocolError("WRONG_KIND")             # step 5
    if env["payload_protocol"] != protocol:
        raise ProtocolError("PAYLOAD_PROTOCOL")       # step 6
    if env["payload_encoding"] > 3:
        raise ProtocolError("UNKNOWN_ENCODING")       # step 7
    if env["payload_encoding"] != ENCODING_NONE:
        raise ProtocolError("PAYLOAD_COMPRESSED")     # step 8, ENV-5: never decompress
    return env


def decode_offer(body):
    """ENV-4: the checks of an offer frame's body, in the fixed order; the
    first failure names the error. Returns (envelope, offer)."""
    env = check_envelope(decode_message(body, FRAME_SCHEMA),  # step 2
                         KIND_REQUEST, PAYLOAD_HANDOFF)
    offer = decode_message(env["payload"], OFFER_SCHEMA)  # step 9
    if env["request_id"] != offer["correlation_id"]:
        raise ProtocolError("REQUEST_ID_MISMATCH")    # step 10, ENV-7, ERR-47
    if offer["correlation_id"] == 0:
        raise ProtocolError("CORRELATION_MISMATCH")   # ERR-47, XFER-13
    return env, offer


def encode_ack(kind, token, accepted, error_detail, correlation_id, capabilities):
    """A HandoffAck frame: the ACK (RESPONSE) or the ready frame (EVENT).
    XFER-17, READY-1: request_id = correlation_id, encoding NONE, deadline 0."""
    payload = bytearray()
    put_field(payload, 1, bytes(token))
    put_field(payload, 2, accepted)
    put_field(payload, 3, error_detail)
    put_field(payload, 4, correlation_id)
    put_field(payload, 11, capabilities)
    body = bytearray()
    put_field(body, 1, ENVELOPE_VERSION)
    put_field(body, 2, kind)
    put_field(body, 3, PAYLOAD_HANDOFF)
    put_field(body, 4, bytes(payload))
    put_field(body, 5, correlation_id)
    return bytes([FRAMING_VERSION]) + struct.pack("<I", len(body)) + bytes(body)


# ---------------------------------------------------------------------------
# 4. Small helpers
# ---------------------------------------------------------------------------

def monotonic_ms():
    return int(time.monotonic() * 1000)


def wall_ms():
    return int(time.time() * 1000)


LEVELS = {"error": 0, "warn": 1, "info": 2, "debug": 3}


class Log:
    """One line per event on stderr. SEC-8: never token bytes; correlation
    ids and descriptor numbers only."""

    def __init__(self, level):
        self.level = LEVELS[level]

    def __call__(self, level, event, **kv):
        if LEVELS[level] <= self.level:
            fields = " ".join("%s=%s" % (k, v) for k, v in kv.items())
            sys.stderr.write("backend.py[%d] %s %s %s\n" % (os.getpid(), level, event, fields))
            sys.stderr.flush()


def close_fd(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def is_connected_stream_socket(fd):
    """XFER-28 check 4: fstat gives a socket, SO_TYPE is SOCK_STREAM, and
    getpeername succeeds."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return False
        probe = socket.socket(fileno=fd)              # detached again below: fd stays open
    except OSError:
        return False
    try:
        if probe.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) != socket.SOCK_STREAM:
            return False
        if probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
            return False                              # listening: never connected
        probe.getpeername()                           # ENOTCONN if unconnected
        return True
    except OSError:
        return False
    finally:
        probe.detach()


# ---------------------------------------------------------------------------
# 5. The replay memory (TOKEN-17, TOKEN-18, TOKEN-8)
# ---------------------------------------------------------------------------

class ReplayMemory:
    """Every token this backend accepted, each kept until its offer's
    deadline + 5 s, or 30 s after acceptance without a deadline (TOKEN-17).
    Full: refuse (PENDING_LIMIT), never forget early (TOKEN-18).
    TOKEN-8: the table is keyed by a secret-keyed hash of the token, so a
    presented token cannot choose which entries a lookup probes."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.key = os.urandom(32)
        self.until = {}                               # keyed hash -> monotonic expiry

    def _k(self, token):
        return hashlib.blake2b(bytes(token), key=self.key, digest_size=16).digest()

    def _prune(self, now):
        for k in [k for k, t in self.until.items() if t <= now]:
            del self.until[k]

    def contains(self, token, now):
        self._prune(now)
        return self._k(token) in self.until

    def full(self, now):
        self._prune(now)
        return len(self.until) >= self.capacity

    def add(self, token, deadline_unix_ms, now):
        if deadline_unix_ms:
            keep = max(0, deadline_unix_ms - wall_ms()) + REPLAY_MARGIN_MS
        else:
            keep = TOKEN_TTL_MAX_MS
        self.until[self._k(token)] = now + keep


# ---------------------------------------------------------------------------
# 6. The conformance test service: echo
# ---------------------------------------------------------------------------

class EchoConnection:
    """Every byte read is written back, in order; when the client closes, we
    close once everything read is written. The same on adopted and on
    reconnected connections (BACKEND-1). It only ever writes bytes it has
    read, so in legacy mode it never writes before the client's first byte
    (READY-3)."""

    def __init__(self, backend, sock, route, correlation_id=0):
        self.b, self.sock, self.route, self.corr = backend, sock, route, correlation_id
        self.out = bytearray()
        self.eof = False
        sock.setblocking(False)                       # XFER-26: we set the flags we need
        self.events = selectors.EVENT_READ
        backend.sel.register(sock, self.events, self)

    def _interest(self):
        # Back-pressure: stop reading while too much waits to be written.
        ev = selectors.EVENT_WRITE if self.out else 0
        if not self.eof and len(self.out) < ECHO_BUFFER:
            ev |= selectors.EVENT_READ
        if ev != self.events:
            self.events = ev
            if ev:
                self.b.sel.modify(self.sock, ev, self)
            else:
                self.b.sel.unregister(self.sock)

    def on_event(self, mask):
        try:
            if mask & selectors.EVENT_READ:
                data = self.sock.recv(65536)
                if data:
                    self.out += data
                else:
                    self.eof = True
            if self.out:
                sent = self.sock.send(self.out)
                del self.out[:sent]
        except BlockingIOError:
            pass
        except OSError:                               # ERR-3: EPIPE/ECONNRESET are CLOSED
            return self.close("io-error")
        if self.eof and not self.out:
            return self.close("eof")
        self._interest()

    def close(self, why):
        if self.events:
            self.b.sel.unregister(self.sock)
        self.events = 0
        self.sock.close()
        self.b.log("info", "conn-closed", route=self.route, corr=self.corr, why=why)


# ---------------------------------------------------------------------------
# 7. A control connection: sideband, offer, sideband, offer, ... (XFER-22)
# ---------------------------------------------------------------------------

SIDEBAND, HEADER, BODY = "sideband", "header", "body"


class ControlConnection:
    def __init__(self, backend, sock):
        self.b, self.sock = backend, sock
        sock.setblocking(False)
        self.out = bytearray()                        # ACK frames waiting to be written
        self.events = selectors.EVENT_READ
        backend.sel.register(sock, self.events, self)
        self.closed = False
        self.start_handoff()

    def start_handoff(self):
        self.state = SIDEBAND
        self.sideband = bytearray()
        self.fds = []                                 # descriptors of this handoff
        self.ctrunc = self.ctrunc_full = False
        self.header = bytearray()
        self.body = bytearray()
        self.body_len = 0
        self.deadline = None                          # BACKEND-10 (monotonic ms)

    # -- reading ---------------------------------------------------------------

    def on_event(self, mask):
        if mask & selectors.EVENT_WRITE:
            self.flush()
        # One read per event: the selector calls again while bytes are there.
        if not self.closed and mask & selectors.EVENT_READ:
            try:
                self.read_once()
            except BlockingIOError:
                pass
            except ProtocolError as e:
                self.drop(str(e))
            except OSError:
                self.drop("IO")

    def read_once(self):
        if self.state == SIDEBAND:
            self.read_sideband()
        elif self.state == HEADER:
            self.read_header()
        else:
            self.read_body()

    def read_sideband(self):
        # XFER-29: recvmsg with MSG_CMSG_CLOEXEC (BACKEND-8: nothing inherits a
        # client connection), an I/O vector of only the missing sideband bytes
        # (FRAME-11: never read into the offer), room for two descriptors.
        missing = TOKEN_BYTES - len(self.sideband)
        data, ancdata, flags, _ = self.sock.recvmsg(
            missing, socket.CMSG_SPACE(SIDEBAND_FDS * 4), socket.MSG_CMSG_CLOEXEC)
        got = []
        for level, ctype, cdata in ancdata:
            # XFER-28: control messages other than SCM_RIGHTS carry no descriptor.
            if level == socket.SOL_SOCKET and ctype == socket.SCM_RIGHTS:
                n = len(cdata) - len(cdata) % 4
                got += list(struct.unpack("%di" % (n // 4), cdata[:n]))
        self.fds += got                               # XFER-29: every read counts
        if flags & socket.MSG_CTRUNC:
            self.ctrunc = True
            self.ctrunc_full = self.ctrunc_full or len(got) >= SIDEBAND_FDS
        if not data:
            if self.sideband:
                raise ProtocolError("TRUNCATED")      # XFER-9, ERR-34
            return self.drop("CLOSED")                # between handoffs: just closed
        if not self.sideband:
            # BACKEND-10: from the first sideband byte on, OFFER_TIMEOUT runs.
            self.deadline = monotonic_ms() + self.b.offer_timeout_ms
        self.sideband += data
        if len(self.sideband) == TOKEN_BYTES:
            self.state = HEADER

    def read_header(self):
        # Stray descriptors with frame bytes are discarded (closed) by the
        # kernel, because recv() gives it no control buffer.
        data = self.sock.recv(FRAME_HEADER - len(self.header))
        if not data:
            raise ProtocolError("TRUNCATED")          # ERR-35, ERR-44
        self.header += data
        if len(self.header) < FRAME_HEADER:
            return
        if self.header[0] != FRAMING_VERSION:
            raise ProtocolError("FRAMING_VERSION")    # FRAME-2, ERR-35
        self.body_len = struct.unpack("<I", bytes(self.header[1:5]))[0]
        if self.body_len > OFFER_CAP:
            raise ProtocolError("FRAME_TOO_LARGE")    # BACKEND-11, FRAME-3: body never read
        self.state = BODY
        if self.body_len == 0:
            self.offer_complete()

    def read_body(self):
        data = self.sock.recv(self.body_len - len(self.body))
        if not data:
            raise ProtocolError("TRUNCATED")          # FRAME-4, ERR-35
        self.body += data
        if len(self.body) == self.body_len:
            self.offer_complete()

    def offer_complete(self):
        self.deadline = None
        fds, sideband, body = self.fds, bytes(self.sideband), bytes(self.body)
        self.fds = []
        status = self.b.check_descriptors(fds, self.ctrunc, self.ctrunc_full)
        if status is not None:
            for fd in fds:                            # XFER-28: close every one, then read the offer
                close_fd(fd)
            fds = []
        try:
            env, offer = decode_offer(body)
        except ProtocolError as e:
            # XFER-11, BACKEND-4, ERR-35..37, ERR-47: an offer we cannot answer
            # reliably: close its descriptor and the control connection, no ACK.
            for fd in fds:
                close_fd(fd)
            self.b.log("warn", "offer-invalid", reason=e)
            return self.drop(str(e))
        self.start_handoff()
        self.b.on_offer(self, sideband, fds[0] if fds else None, status, env, offer)

    def on_timer(self, now):
        if self.deadline is not None and now >= self.deadline:
            self.b.log("warn", "offer-timeout", state=self.state)
            self.drop("TIMEOUT")                      # BACKEND-10: no ACK

    # -- writing -----------------------------------------------------------------

    def send_ack(self, frame):
        # BACKEND-6: whole ACK frames, in order, never interleaved.
        self.out += frame
        self.flush()

    def flush(self):
        try:
            while self.out:
                sent = self.sock.send(self.out)
                del self.out[:sent]
        except BlockingIOError:
            pass
        except OSError:                               # ERR-3: the broker has gone
            return self.drop("CLOSED")
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        if want != self.events and not self.closed:
            self.events = want
            self.b.sel.modify(self.sock, want, self)

    def drop(self, why):
        """Close the control connection and every descriptor received on it
        and not adopted (XFER-20, ERR-44)."""
        if self.closed:
            return
        self.closed = True
        for fd in self.fds:
            close_fd(fd)
        self.fds = []
        self.b.sel.unregister(self.sock)
        self.sock.close()
        self.b.controls.discard(self)
        self.b.log("info" if why == "CLOSED" else "warn", "control-closed", reason=why)


# ---------------------------------------------------------------------------
# 8. The backend: endpoints, decisions, event loop
# ---------------------------------------------------------------------------

class Shutdown(Exception):
    pass


class Backend:
    control_class = ControlConnection
    echo_class = EchoConnection

    def __init__(self, args):
        self.log = Log(args.log_level)
        self.service = args.service or ""
        self.ready_mode = args.ready_mode
        self.offer_timeout_ms = args.offer_timeout_ms
        self.replay = ReplayMemory(args.replay_capacity)
        self.sel = selectors.DefaultSelector()
        self.controls = set()
        self.paths = []
        # CAP-7, CAP-10: what every ACK declares.
        self.capabilities = BACKEND_CAP_MULTI_OFFER
        if self.ready_mode == "backend":
            self.capabilities |= BACKEND_CAP_BACKEND_READY
        self.handoff = self.listen(args.handoff_endpoint)
        self.pipe = self.listen(args.backend_pipe)

    def listen(self, path):
        """SEC-2: the socket appears at its path only with mode 0600: bound
        under a temporary name with umask 0177, then renamed."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(tmp)
        finally:
            os.umask(old)
        s.listen(128)
        os.rename(tmp, path)
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ, s)
        self.paths.append(path)
        return s

    # -- accepting ---------------------------------------------------------------

    def on_listener(self, listener):
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:                          # EMFILE: refuse by not accepting now
            self.log("warn", "accept-failed", errno=errno.errorcode.get(e.errno, e.errno))
            return
        if listener is self.pipe:
            self.log("info", "reconnect")
            self.echo_class(self, conn, "reconnect")
            return
        # SEC-4: only brokers of our own user, checked before any byte is read.
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", cred)
        if uid != os.geteuid():
            self.log("warn", "control-rejected", pid=pid, uid=uid)
            conn.close()
            return
        self.controls.add(self.control_class(self, conn))
        self.log("debug", "control-accepted", pid=pid)

    # -- the decision ------------------------------------------------------------

    def check_descriptors(self, fds, ctrunc, ctrunc_full):
        """XFER-28, in this order; None when the one descriptor is good."""
        if len(fds) >= 2 or (ctrunc and ctrunc_full):
            return "EXTRA_DESCRIPTORS"
        if ctrunc:
            return "FD_EXHAUSTED"                     # the kernel could not install it
        if not fds:
            return "NO_DESCRIPTOR"
        if not is_connected_stream_socket(fds[0]):
            return "BAD_DESCRIPTOR"
        return None

    def refusal(self, sideband, status, env, offer, now):
        """XFER-36: the first reason that applies, in this order; None: accept."""
        flagged = bool(offer["offer_flags"] & OFFER_FLAG_BACKEND_READY)
        deadline = env["deadline_unix_ms"]
        if status is not None:
            return status                             # XFER-28
        if not hmac.compare_digest(sideband, offer["token"]):
            return "SIDEBAND_MISMATCH"                # XFER-12, TOKEN-8: constant time
        if self.replay.contains(offer["token"], now):
            return "TOKEN_NOT_PENDING"                # XFER-15, TOKEN-17: a replay
        if self.service and offer["service_name"] and offer["service_name"] != self.service:
            return "SERVICE_NAME"                     # XFER-14: never for an empty name
        if flagged and self.ready_mode != "backend":
            return "BACKEND_READY_UNSUPPORTED"        # READY-24
        if flagged and (deadline == 0 or wall_ms() >= deadline):
            return "TIMEOUT"                          # READY-11
        if not flagged and deadline != 0 and wall_ms() >= deadline:
            return "TIMEOUT"                          # TOKEN-21
        if self.replay.full(now):
            return "PENDING_LIMIT"                    # TOKEN-18
        return None
        # ERR-43: unknown fields, other offer_flags bits (CAP-1) and
        # handle_value on Unix (XFER-14) never get here: they are ignored.

    def on_offer(self, ctl, sideband, fd, status, env, offer):
        now = monotonic_ms()
        token, corr = offer["token"], offer["correlation_id"]
        why = self.refusal(sideband, status, env, offer, now)
        if why is not None:
            return self.refuse(ctl, fd, token, corr, why)
        # BACKEND-5, TOKEN-19: recorded before the ready frame and the ACK; it
        # stays recorded even if the ready write fails below.
        self.replay.add(token, env["deadline_unix_ms"], now)
        sock = socket.socket(fileno=fd)
        if offer["offer_flags"] & OFFER_FLAG_BACKEND_READY:
            # READY-9: the complete ready frame is the very first thing on the
            # adopted connection, before we read from it and before the ACK.
            ready = encode_ack(KIND_EVENT, token, True, "", corr, 0)
            try:
                sock.setblocking(False)
                sent = sock.send(ready)
            except OSError as e:
                sent, err = -1, e
            if sent != len(ready):
                # READY-12: a failed or partial ready write: close, refuse.
                sock.close()
                name = "CLOSED" if sent < 0 and err.errno in (errno.EPIPE, errno.ECONNRESET) else "IO"
                return self.send_ack(ctl, token, False, name, corr)
        self.send_ack(ctl, token, True, "", corr)     # XFER-16
        self.log("info", "adopted", corr=corr,
                 mode="backend-ready" if offer["offer_flags"] & OFFER_FLAG_BACKEND_READY else "legacy")
        self.echo_class(self, sock, "handoff", corr)

    def refuse(self, ctl, fd, token, corr, why):
        # BACKEND-3, XFER-18: nothing read or written; closed before the ACK.
        if fd is not None:
            close_fd(fd)
        self.log("warn", "refused", corr=corr, reason=why)
        self.send_ack(ctl, token, False, why, corr)

    def send_ack(self, ctl, token, accepted, detail, corr):
        # XFER-17, XFER-18: token and correlation id echoed; error_detail the
        # error name only (ERR-2); our capabilities in every ACK (CAP-7, CAP-10).
        ctl.send_ack(encode_ack(KIND_RESPONSE, token, accepted, detail, corr, self.capabilities))

    # -- the loop ----------------------------------------------------------------

    def run(self):
        self.log("info", "listening", ready_mode=self.ready_mode,
                 offer_timeout_ms=self.offer_timeout_ms)
        while True:
            deadlines = [c.deadline for c in self.controls if c.deadline is not None]
            timeout = None
            if deadlines:
                timeout = max(0, min(deadlines) - monotonic_ms()) / 1000.0
            for key, mask in self.sel.select(timeout):
                obj = key.data
                if isinstance(obj, socket.socket):
                    self.on_listener(obj)
                else:
                    obj.on_event(mask)
            now = monotonic_ms()
            for c in list(self.controls):
                c.on_timer(now)

    def close(self):
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="A backend of the handoff wire v1 spec (rc1).")
    p.add_argument("--handoff-endpoint", required=True, help="Unix socket for control connections")
    p.add_argument("--backend-pipe", required=True, help="Unix socket for reconnecting clients")
    p.add_argument("--service", default="", help="refuse offers naming another service")
    p.add_argument("--ready-mode", choices=("legacy", "backend"), default="backend")
    p.add_argument("--offer-timeout-ms", type=int, default=2000, help="OFFER_TIMEOUT (BACKEND-10)")
    p.add_argument("--replay-capacity", type=int, default=65536,
                   help="accepted tokens remembered at most (TOKEN-18)")
    p.add_argument("--log-level", choices=tuple(LEVELS), default="info")
    return p.parse_args(argv)


def main(backend_class=Backend, argv=None):
    args = parse_args(argv)
    # ERR-3: writing to a peer that has gone must not end the process.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    def stop(_sig, _frame):
        raise Shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backend = backend_class(args)
    try:
        backend.run()
    except Shutdown:
        backend.log("info", "shutdown")
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
