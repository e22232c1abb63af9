#!/usr/bin/python3
"""mutant_client.py — the Python example client with exactly ONE known defect,
for the conformance suite's self-test (make conform-selftest). Not an
installed program; never a client to copy.

    mutant_client.py --mutant NAME [client.py options]   (or $HANDOFF_MUTANT)
    mutant_client.py --list                              (JSON: every mutant)

"mode" names the self-test suite (declarations) a mutant runs in: client
(coalesced reply, early data, backend-ready), client-ready, client-legacy.
MUSTs of the client table (spec/errors.md §4) that a runner outside the
process cannot reach are listed in UNIT_ONLY.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "python"))
import client as C  # noqa: E402
import handshake as H  # noqa: E402
from backend import read_varint  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutantlib  # noqa: E402

MUTANTS, mutant = mutantlib.registry("client")

UNIT_ONLY = [
    ("CLIENT-5 (ECONNRESET like EOF)", "the runner's broker cannot choose between a reset and an EOF for the "
     "client: Linux reports a reset only when the closing side had unread bytes"),
    ("READY-14 (the last non-blocking check)", "a ready frame arriving in the last microseconds of the wait "
     "cannot be timed from outside"),
    ("TOKEN-8 (constant-time compare)", "timing is not measured"),
    ("FALLBACK-15 (backend_pipe itself fails)", "the runner's backend_pipe always accepts"),
    ("CLIENT-9 (peer credentials of the endpoints)", "the runner and the client run as the same user"),
]


@mutant("re-sends-unknown", "READY-21", "re-sends a request of unknown outcome on backend_pipe",
        ["client.ready.wrong-token"])
def _(c):
    orig = C.Client.decide

    def decide(self, s, r, n):
        self.pipe = n["backend_pipe"]
        return orig(self, s, r, n)
    C.Client.decide = decide
    C.Client.unknown = lambda self: self.reconnect(self.pipe, "NOT_ADOPTED")


@mutant("request-twice", "FALLBACK-15 CLIENT-6", "sends its request twice on the adopted connection",
        ["client.handoff.legacy"], mode="client-legacy")
def _(c):
    orig = C.exchange
    C.exchange = lambda sock, send, want, pending=b"": orig(sock, send * 2 if send else send, want, pending)


@mutant("speaks-before-ready", "READY-37", "writes its request right after a legacy Negotiated",
        ["client.handoff.legacy"], mode="client-legacy")
def _(c):
    orig = C.Client.legacy

    def legacy(self, s, r, token, pipe):
        s.sendall(self.request)
        self.written = True
        return orig(self, s, r, token, pipe)
    C.Client.legacy = legacy


@mutant("refused-exits-0", "CLIENT-3", "treats a Refused as success", ["client.refused.known"], mode="client-legacy")
def _(c):
    orig = C.Client.negotiate

    def negotiate(self, s):
        try:
            return orig(self, s)
        except C.Failure as e:
            if e.name != "REFUSED":
                raise
            return self.request
    C.Client.negotiate = negotiate


def ready_check(skip):
    """valid_ready without one of its checks."""
    def valid(body, token):
        try:
            env = H.decode_message(body, H.FRAME_SCHEMA)
            kind = env["kind"] if "kind" in skip else H.KIND_EVENT
            _env, ack = H.envelope(body, kind, H.PAYLOAD_HANDOFF), H.decode_message(env["payload"], H.ACK_SCHEMA)
        except H.ProtocolError:
            return False
        if "reqid" not in skip and env["request_id"] != ack["correlation_id"]:
            return False
        return ("token" in skip or bytes(ack["token"]) == bytes(token)) and ("accepted" in skip or ack["accepted"])
    C.valid_ready = valid


@mutant("ready-token-unchecked", "READY-4", "accepts a ready frame with another token",
        ["client.ready.wrong-token"], mode="client-legacy")
def _(c):
    ready_check({"token"})


@mutant("ready-kind-unchecked", "READY-4 ENV-4", "accepts a ready frame of any kind", ["client.ready.wrong-kind"],
        mode="client-legacy")
def _(c):
    ready_check({"kind"})


@mutant("ready-refusal-unchecked", "READY-4", "accepts a ready frame with accepted false", ["client.ready.refused"],
        mode="client-legacy")
def _(c):
    ready_check({"accepted"})


@mutant("ready-reqid-unchecked", "READY-4 ENV-7", "accepts a ready frame whose request_id differs",
        ["client.ready.request-id"], mode="client-legacy")
def _(c):
    ready_check({"reqid"})


@mutant("no-ready-timeout", "READY-37", "waits for the ready frame without a deadline", ["client.ready.timeout"],
        mode="client-legacy")
def _(c):
    orig = C.Client.ready
    C.Client.ready = lambda self, r, token, wait_ms: orig(self, r, token, 600000)


@mutant("short-backend-ready-wait", "READY-14", "waits only its ready timeout in backend-ready mode",
        ["client.ready.timeout-backend-ready"], mode="client-ready")
def _(c):
    C.MIN_BACKEND_READY_WAIT_MS = 0


@mutant("token-padded", "ERR-22 MSG-8", "pads a short token to 16 bytes", ["client.reply.token-length"],
        mode="client-legacy")
def _(c):
    orig = H.decode_hello_reply

    def dec(body):
        try:
            return orig(body)
        except H.ProtocolError as e:
            if str(e) != "TOKEN_LENGTH":
                raise
            env = H.envelope(body, H.KIND_RESPONSE, 0)
            n = H.decode_message(H.decode_message(env["payload"], H.REPLY_SCHEMA)["negotiated"], H.NEGOTIATED_SCHEMA)
            n["handle_passed_token"] = (bytes(n["handle_passed_token"]) + bytes(16))[:16]
            return "negotiated", n
    C.decode_hello_reply = dec


@mutant("protocol-unchecked", "CLIENT-2", "accepts negotiated_protocol 2", ["client.reply.protocol"],
        mode="client-legacy")
def _(c):
    orig = C.decode_hello_reply

    def dec(body):
        kind, m = orig(body)
        if kind == "negotiated":
            m["negotiated_protocol"] = 1
        return kind, m
    C.decode_hello_reply = dec


@mutant("no-frame-cap", "FRAME-3 CLIENT-1", "waits for the body of a HelloReply above 16 MiB",
        ["client.reply.oversized"], mode="client-legacy")
def _(c):
    orig = H.header_length
    C.header_length = lambda header, cap: orig(header, 1 << 40)


@mutant("unknown-field-rejected", "MSG-1", "rejects a Negotiated with a field it does not know",
        ["client.reply.unknown-field"], mode="client-legacy")
def _(c):
    orig = C.decode_hello_reply

    def dec(body):
        kind, m = orig(body)
        env = H.envelope(body, H.KIND_RESPONSE, 0)
        raw, pos = H.decode_message(env["payload"], H.REPLY_SCHEMA)["negotiated"], 0
        while pos < len(raw):
            key, pos = read_varint(raw, pos, 5)
            if key >> 3 not in H.NEGOTIATED_SCHEMA:
                raise H.ProtocolError("MALFORMED")
            n, pos = read_varint(raw, pos, 10 if key & 7 == 0 else 5)
            pos += n if key & 7 == 2 else 0
        return kind, m
    C.decode_hello_reply = dec


@mutant("unknown-caps-rejected", "CAP-1", "rejects unassigned capability bits in Negotiated",
        ["client.handoff.unknown-caps"], mode="client-legacy")
def _(c):
    orig = C.Client.decide

    def decide(self, s, r, n):
        if n["server_capabilities"] & ~0xF:
            raise C.Failure("MALFORMED")
        return orig(self, s, r, n)
    C.Client.decide = decide


@mutant("adopts-without-token", "ERR-23 FALLBACK-4", "adopts a connection whose Negotiated has "
        "CAP_HANDLE_PASSING but no token", ["client.fallback.cap-without-token"], mode="client-legacy")
def _(c):
    orig = C.Client.decide

    def decide(self, s, r, n):
        if n["server_capabilities"] & H.CAP_HANDLE_PASSING and not n["handle_passed_token"]:
            return self.adopted(s, r, "legacy")
        return orig(self, s, r, n)
    C.Client.decide = decide


@mutant("coalesced-eof-re-sends", "READY-31 ERR-71", "re-sends after a coalesced Negotiated with a token and "
        "then EOF", ["client.coalesced.token-then-eof"])
def _(c):
    orig = C.Client.decide

    def decide(self, s, r, n):
        self.pipe = n["backend_pipe"]
        return orig(self, s, r, n)
    C.Client.decide = decide
    orig_co = C.Client.coalesced

    def coalesced(self, r, token):
        try:
            return orig_co(self, r, token)
        except C.Failure:
            if r.buf or not r.ended:
                raise
            return self.reconnect(self.pipe, "NOT_ADOPTED")
    C.Client.coalesced = coalesced


@mutant("coalesced-drops-pending", "READY-32 CLIENT-6", "discards the response bytes that came with the reply",
        ["client.coalesced.adopted"])
def _(c):
    orig = C.exchange
    C.exchange = lambda sock, send, want, pending=b"": orig(sock, send, want, b"")


def hello_with(change):
    orig = H.encode_hello

    def enc(service, caps, peer_pid=0, keepalive=0):
        return change(orig, service, caps, peer_pid, keepalive)
    C.encode_hello = enc


@mutant("early-data-unflagged", "READY-20", "writes early data without CAP_EARLY_DATA", ["client.fallback.no-token"])
def _(c):
    hello_with(lambda orig, s, caps, pid, ka: orig(s, caps & ~H.CAP_EARLY_DATA, pid, ka))


@mutant("early-data-undeclared", "READY-20", "writes its request behind the Hello without knowing the broker "
        "supports it", ["client.fallback.no-token"], mode="client-legacy")
def _(c):
    request = [b""]
    init = C.Client.__init__

    def client_init(self, args):
        init(self, args)
        request[0] = self.request
    C.Client.__init__ = client_init
    hello_with(lambda orig, s, caps, pid, ka: orig(s, caps, pid, ka) + request[0])


@mutant("unassigned-cap", "CAP-2", "sets capability bit 9 in its Hello", ["client.fallback.no-token"])
def _(c):
    hello_with(lambda orig, s, caps, pid, ka: orig(s, caps | (1 << 9), pid, ka))


@mutant("reserved-field", "HELLO-1", "sends an auth_token", ["client.fallback.no-token"])
def _(c):
    def change(orig, s, caps, pid, ka):
        f = orig(s, caps, pid, ka)
        env = H.decode_message(f[5:], H.FRAME_SCHEMA)
        p = bytearray(env["payload"])
        H.put_field(p, 7, b"secret")
        return H.frame(H.KIND_REQUEST, 0, p)
    hello_with(change)


@mutant("two-hellos", "HELLO-1", "writes its Hello twice", ["client.fallback.no-token"], mode="client-legacy")
def _(c):
    hello_with(lambda orig, s, caps, pid, ka: orig(s, caps, pid, ka) * 2)


@mutant("unknown-exits-0", "READY-21 ERR-68", "reports OUTCOME_UNKNOWN with exit status 0",
        ["client.coalesced.eof"])
def _(c):
    orig = C.Client.run

    def run(self):
        try:
            return orig(self)
        except C.Failure as e:
            if e.name != "OUTCOME_UNKNOWN":
                raise
            return self.request
    C.Client.run = run


@mutant("legacy-early-re-sends", "ERR-68 READY-21", "re-sends an early request after a legacy Negotiated "
        "without ready", ["client.ready.timeout"])
def _(c):
    orig = C.Client.legacy

    def legacy(self, s, r, token, pipe):
        self.written = False
        return orig(self, s, r, token, pipe)
    C.Client.legacy = legacy


@mutant("reply-not-printed", "conformance.md §4 (print-reply declared)", "does not print the reply",
        ["client.fallback.no-token"], mode="client-legacy")
def _(c):
    C.Client.__init__ = (lambda init: lambda self, args: (init(self, args), setattr(args, "print_reply", False))[0])(
        C.Client.__init__)


# ---------------------------------------------------------------------------------------

def main():
    def run(install, argv):
        install(None)
        return C.main(argv)
    return mutantlib.cli("mutant_client.py", MUTANTS, UNIT_ONLY, run)


if __name__ == "__main__":
    sys.exit(main())
