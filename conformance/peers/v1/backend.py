#!/usr/bin/python3
"""backend.py — a backend of the ORIGINAL running-process v1 kind (test peer).

Listens on a handoff endpoint (broker control connections) and on its own
backend_pipe (reconnecting clients), both Unix sockets only its owner can use.
Per control connection it does what the original's in-repo backends do
(reference running-process-v1-handoff.md §4 "Gaps", §3 "Control-connection byte
layout"):

  1. recvmsg the 16 sideband bytes with room for one fd; the bytes are
     IGNORED (the original's hand-rolled receivers bind them to `_token`);
  2. read exactly one offer frame (16 MiB cap) and check it as
     read_handoff_offer does: framing, Frame decode, envelope (REQUEST on
     0xD0FF, encoding NONE), payload decode, request_id == correlation_id;
     a failure closes the fd and the connection without an ACK;
  3. "accept" with the expected token seeded from offer.token (the
     original's tautological check: only a token that is not 16 bytes is
     refused), answer HandoffAck{token echo, accepted, correlation_id echo}
     WITHOUT field 11 (the original knows no backend_capabilities);
  4. CLOSE the control connection: one offer per connection, and never
     BACKEND_CAP_MULTI_OFFER (spec: CAP-10, the MUST NOT half).

Every adopted connection and every backend_pipe connection is served by an
echo service with BLOCKING I/O in a thread of its own, on the descriptor as
it arrived: the original assumes a blocking descriptor and never sets file
status flags itself: it relies on nothing but the blocking descriptor the
broker must pass (spec: XFER-25 XFER-26). An EAGAIN (the descriptor came with O_NONBLOCK) is a
failed read, and the connection is dropped, as a blocking-I/O server does.
The echo reads before it writes (legacy mode: nothing is written on an
adopted connection before client bytes were read).

--exec-log FILE gets one line per request executed: `route<TAB>nonce`, a
request being one newline-terminated line of client bytes (a final partial
line counts at EOF), so tests can prove that nothing is executed twice.
"""

import argparse
import errno
import fcntl
import os
import signal
import socket
import struct
import sys
import termios
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import v1wire as w  # noqa: E402


class ExecLog:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1) if path else None
        self.lock = threading.Lock()

    def record(self, route, request):
        if self.f is None:
            return
        text = request.decode("utf-8", "backslashreplace").rstrip("\n")
        with self.lock:
            self.f.write("%s\t%s\n" % (route, text))
            self.f.flush()


def serve_echo(fd, route, corr, log, execlog, stats):
    """Blocking echo on `fd` (owned here). Reads before it writes."""
    s = socket.socket(fileno=fd)  # no settimeout: raw blocking calls, like the original
    nbytes = 0
    pending = b""
    why = "eof"
    try:
        while True:
            try:
                data = s.recv(65536)
            except OSError as e:
                why = "read-error:%s" % errno.errorcode.get(e.errno, e.errno)
                break
            if not data:
                break
            nbytes += len(data)
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                execlog.record(route, line)  # executed: read by the service
            try:
                s.sendall(data)
            except OSError as e:
                why = "write-error:%s" % errno.errorcode.get(e.errno, e.errno)
                break
        if pending:
            execlog.record(route, pending)
    finally:
        s.close()
        with stats["lock"]:
            stats["closed_" + route] += 1
            if why != "eof":
                stats["errors"] += 1
        log("conn-closed", route=route, corr=corr, bytes=nbytes, why=why)


def start_echo(fd, route, corr, log, execlog, stats):
    t = threading.Thread(target=serve_echo, args=(fd, route, corr, log, execlog, stats),
                         daemon=True)
    t.start()


def handle_control(ctl, log, execlog, stats, cid):
    """One offer, then close (the original's backends)."""
    fds = []
    try:
        try:
            _token_ignored, fds, ctrunc = w.recv_sideband(ctl)  # sideband token IGNORED
        except w.Closed:
            log("control-closed", ctl=cid, reason="CLOSED")
            return
        if ctrunc or len(fds) != 1:
            # The hand-rolled receiver expects exactly one fd.
            log("sideband-failed", ctl=cid, fds=len(fds), ctrunc=int(ctrunc))
            return
        try:
            body = w.read_frame(ctl, w.MAX_FRAME_BYTES)
            fr = w.decode_frame(body)
            w.validate_envelope(fr, w.KIND_REQUEST, w.PROTO_HANDOFF)
            offer = w.decode(w.OFFER, fr["payload"])
            if fr["request_id"] != offer["correlation_id"]:
                raise w.WireError("REQUEST_ID_MISMATCH", "request_id does not match correlation_id")
        except (w.WireError, OSError) as e:
            log("offer-failed", ctl=cid, reason=getattr(e, "name", "IO"), detail=repr(str(e)))
            return  # the caller closes the fd on error (finally below)
        corr = offer["correlation_id"]
        tok = offer["token"]
        # accept_handed_off with expected = presented = offer.token: the
        # check only refuses a missing or wrongly sized token.
        if len(tok) == 0:
            accepted, detail = False, "missing handoff token"
        elif len(tok) != w.TOKEN_BYTES:
            accepted, detail = False, "invalid handoff token length: %d (expected %d)" % (
                len(tok), w.TOKEN_BYTES)
        else:
            accepted, detail = True, ""
        fd = fds.pop() if accepted else None
        w.close_all(fds)  # a refused offer's fd is closed before the ACK
        try:
            ctl.sendall(w.ack_frame(tok, accepted, detail, corr))
        except OSError as e:
            log("ack-write-failed", ctl=cid, corr=corr,
                errno=errno.errorcode.get(e.errno, e.errno))
            if fd is not None:
                os.close(fd)
            return
        with stats["lock"]:
            stats["offers"] += 1
            stats["accepted" if accepted else "refused"] += 1
        log("ack", ctl=cid, corr=corr, accepted=str(accepted).lower(),
            detail=repr(detail) if detail else "-")
        if fd is not None:
            log("adopted", ctl=cid, corr=corr, fd=fd,
                nonblocking=int(not os.get_blocking(fd)))
            start_echo(fd, "handoff", corr, log, execlog, stats)
    finally:
        w.close_all(fds)
        # Diagnostic only (nothing is read): what the broker sent that this
        # one-offer backend never reads, e.g. further pipelined offers.
        unread = unread_bytes(ctl)
        if unread:
            log("control-unread", ctl=cid, bytes=unread)
        ctl.close()  # one offer per control connection


def unread_bytes(sock):
    try:
        raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", raw)[0]
    except OSError:
        return 0


def accept_loop(lst, kind, log, execlog, stats):
    cid = 0
    while True:
        try:
            conn, _ = lst.accept()
        except OSError as e:
            if e.errno in (errno.EBADF, errno.EINVAL):
                return  # listener closed at shutdown
            log("accept-failed", listener=kind, errno=errno.errorcode.get(e.errno, e.errno))
            continue
        cid += 1
        if kind == "pipe":
            with stats["lock"]:
                stats["reconnected"] += 1
            log("reconnect", conn=cid)
            fd = conn.detach()
            start_echo(fd, "reconnect", 0, log, execlog, stats)
        else:
            log("control-accepted", ctl=cid)
            threading.Thread(target=handle_control, args=(conn, log, execlog, stats, cid),
                             daemon=True).start()


def main():
    ap = argparse.ArgumentParser(
        description="Test peer: a backend of the ORIGINAL running-process v1 kind. "
        "Adopts handed-off connections (one offer per control connection, sideband "
        "token ignored, ACK without backend_capabilities) and serves an echo service "
        "with blocking I/O, a thread per connection, on adopted and backend_pipe "
        "connections alike.",
        epilog="Signals: SIGTERM/SIGINT: sockets unlinked, counters printed on stderr, exit 0.")
    ap.add_argument("--handoff-endpoint", required=True, metavar="PATH",
                    help="Unix socket for broker control connections (dir 0700, socket 0600)")
    ap.add_argument("--backend-pipe", required=True, metavar="PATH",
                    help="Unix socket for clients that reconnect (dir 0700, socket 0600)")
    ap.add_argument("--exec-log", metavar="FILE",
                    help="append one line per executed request: route<TAB>request")
    ap.add_argument("--log", metavar="FILE", help="event log (default: stderr)")
    args = ap.parse_args()

    log = w.Log("v1-backend", args.log)
    execlog = ExecLog(args.exec_log)
    stats = {"lock": threading.Lock(), "offers": 0, "accepted": 0, "refused": 0,
             "reconnected": 0, "closed_handoff": 0, "closed_reconnect": 0, "errors": 0}
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    # Blocked before any thread starts (threads inherit the mask); the main
    # thread waits for them with sigwait.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})

    ho = w.bind_owner_only(args.handoff_endpoint)
    pipe = w.bind_owner_only(args.backend_pipe)
    for lst, kind in ((ho, "handoff"), (pipe, "pipe")):
        threading.Thread(target=accept_loop, args=(lst, kind, log, execlog, stats),
                         daemon=True).start()
    log("listening", handoff_endpoint=args.handoff_endpoint, backend_pipe=args.backend_pipe)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for path in (args.handoff_endpoint, args.backend_pipe):
        try:
            os.unlink(path)
        except OSError:
            pass
    with stats["lock"]:
        counters = " ".join("%s=%d" % (k, v) for k, v in stats.items() if k != "lock")
    log("stopped", counters=counters)
    os._exit(0)  # serving threads are daemons; their descriptors die with us


if __name__ == "__main__":
    main()
