#!/usr/bin/python3
"""Hardening tests against the reference programs (issue #11): each defect an
attack run found, as a regression case with real processes, real sockets and
real descriptor passing. Verdicts come from what is observed: what a foreign
process received, which client got an answer, RSS and /proc/PID/fd of the
programs, the backends' own record of every request executed (--exec-log).

    /usr/bin/python3 conformance/system/test_hardening.py BIN_DIR [CASE...]

Prints one line per case and "N passed, N failed"; exit status 1 on any
failure. Standard library only (the wire comes from conformance/peers/v1).
"""
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "conformance", "peers", "v1"))
import v1wire as W  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin")
NOBODY = 65534
CAP_HP = 1


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class World:
    """A private directory with the endpoints, and the processes started."""

    def __init__(self, tag):
        self.dir = tempfile.mkdtemp(prefix="ho-hard-%s-" % tag)
        os.chmod(self.dir, 0o700)
        self.listen = os.path.join(self.dir, "broker.sock")
        self.endpoint = os.path.join(self.dir, "handoff.sock")
        self.pipe = os.path.join(self.dir, "backend.sock")
        self.procs = []

    def spawn(self, name, argv, wait=(), limit_fds=None):
        log = open(os.path.join(self.dir, name + ".log"), "wb")

        def pre():
            if limit_fds:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit_fds, limit_fds))
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pre)
        p.name, p.logpath = name, log.name
        self.procs.append(p)
        deadline = time.monotonic() + 5
        while any(not os.path.exists(w) for w in wait):
            check(p.poll() is None, "%s exited early: %s" % (name, self.log(p)[-400:]))
            check(time.monotonic() < deadline, "%s never opened %s" % (name, wait))
            time.sleep(0.01)
        return p

    def backend(self, *extra, name="backend", limit_fds=None):
        return self.spawn(name, [os.path.join(BIN, "handoff-backend"), "--handoff-endpoint",
                                 self.endpoint, "--backend-pipe", self.pipe] + list(extra),
                          wait=(self.endpoint, self.pipe), limit_fds=limit_fds)

    def broker(self, *extra, endpoint=None, limit_fds=None):
        return self.spawn("broker", [os.path.join(BIN, "handoff-broker"), "--listen", self.listen,
                                     "--handoff-endpoint", endpoint or self.endpoint,
                                     "--backend-pipe", self.pipe, "--hello-rate", "0"] + list(extra),
                          wait=(self.listen,), limit_fds=limit_fds)

    def log(self, p):
        with open(p.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run(["rm", "-rf", self.dir] + getattr(self, "extra_dirs", []))


def client(w, message, *extra, timeout=10):
    """One reference client run; returns (exit status, stdout+stderr)."""
    r = subprocess.run([os.path.join(BIN, "handoff-client"), "--connect", w.listen, "--service",
                        "echo", "--handoff", "--message", message] + list(extra),
                       capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def raw_hello(path, caps=CAP_HP, timeout=5):
    """A raw client: Hello, then the one reply frame. Returns ("negotiated"|
    "refused", message) or ("eof", None) when the broker closed without a word."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        try:
            s.sendall(W.hello_frame("echo", caps))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before the Hello went out: read the answer
        body = W.read_frame(s, deadline=time.monotonic() + timeout)
        fr = W.decode_frame(body)
        return W.decode_hello_reply(fr["payload"])
    except (W.Closed, ConnectionResetError, BrokenPipeError):
        return "eof", None
    finally:
        s.close()


# ---- cases -------------------------------------------------------------------

def regression_issue_11_backend_identity(w):
    """spec: SEC-10 — (differences.md D-20) the broker's client policy (--peer-uid any) says
    nothing about who may receive descriptors: a handoff endpoint served by
    another user gets no descriptor and no token unless --backend-uid names
    that user."""
    if os.geteuid() != 0:
        return "skipped (needs root to run a process as nobody)"
    foreign = tempfile.mkdtemp(prefix="ho-hard-nobody-")  # outside w.dir (0700, root)
    os.chown(foreign, NOBODY, NOBODY)
    w.extra_dirs = [foreign]
    w.backend()  # serves backend_pipe (its own handoff endpoint is unused)
    ep = os.path.join(foreign, "handoff.sock")
    got = os.path.join(w.dir, "captured")
    r, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the other user's "backend": records whatever reaches it
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ls.bind(ep)
            ls.listen(16)
            os.write(wfd, b"x")
            ls.settimeout(6)
            while True:
                c, _ = ls.accept()
                c.settimeout(2)
                try:
                    data, anc, _, _ = c.recvmsg(16, socket.CMSG_SPACE(64))
                    if data or anc:
                        os.write(wfd, b"C")
                except socket.timeout:
                    pass
                c.close()
        except Exception:
            pass
        os._exit(0)
    os.close(wfd)
    check(os.read(r, 1) == b"x", "foreign backend did not start")
    os.set_blocking(r, False)
    try:
        w.broker("--peer-uid", "any", endpoint=ep)
        st, out = client(w, "hello-foreign")
        check(st == 0 and "route=reconnect" in out, "client not served by fallback: %s" % out)
        time.sleep(0.3)
        try:
            captured = os.read(r, 64)
        except BlockingIOError:
            captured = b""
        check(b"C" not in captured, "a descriptor or token reached the other user's endpoint")
        check("backend policy" in w.log(w.procs[-1]), "the rejection is not logged")
        # With the backend policy naming that user, it is used (the check is real).
        w.procs[-1].send_signal(signal.SIGTERM)
        w.procs[-1].wait(3)
        w.broker("--peer-uid", "any", "--backend-uid", str(NOBODY), endpoint=ep)
        client(w, "hello-allowed")
        deadline = time.monotonic() + 3
        captured = b""
        while b"C" not in captured and time.monotonic() < deadline:
            try:
                captured += os.read(r, 64)
            except BlockingIOError:
                time.sleep(0.02)
        check(b"C" in captured, "--backend-uid %d did not allow that backend" % NOBODY)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
    return None


def regression_issue_11_pre_hello_flood(w):
    """spec: BROKER-10 BROKER-11 — one process holding idle connections (and
    renewing them) cannot lock legitimate clients out."""
    w.backend("--ready-mode", "backend")
    w.broker("--max-hello-waiting", "512", "--backend-ready")
    stop = threading.Event()
    held = []

    def flood():
        while not stop.is_set():
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(w.listen)
                held.append(s)
            except OSError:
                time.sleep(0.001)
            if len(held) > 1500:
                held.pop(0).close()
    t = threading.Thread(target=flood)
    t.start()
    try:
        time.sleep(0.2)
        bad = []
        for i in range(100):
            st, out = client(w, "legit-%d" % i, "--backend-ready")
            if st != 0:
                bad.append(out.strip())
        check(not bad, "%d of 100 legitimate clients failed under the flood: %s" % (len(bad), bad[:3]))
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
    return "100/100 served while another process kept 1500 idle connections open (512 slots)"


def regression_issue_11_emfile_gets_an_answer(w):
    """spec: BROKER-12 HELLO-13 — at its descriptor limit the broker answers
    Refused{ERROR_FD_PRESSURE} instead of closing silently."""
    w.backend()
    w.broker(limit_fds=48)
    held = []
    try:
        for _ in range(80):  # idle connections eat the broker's descriptors
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(w.listen)
            held.append(s)
        time.sleep(0.2)
        answers = [raw_hello(w.listen)[0] for _ in range(10)]
        check("eof" not in answers, "silent closes at the descriptor limit: %s" % answers)
        check("refused" in answers, "no Refused{ERROR_FD_PRESSURE}: %s" % answers)
    finally:
        for s in held:
            s.close()
    which, msg = raw_hello(w.listen)
    check(which == "negotiated", "the broker did not recover: %s" % which)
    return "answers at the limit: %s" % ",".join(sorted(set(answers)))


def regression_issue_11_backend_stalled_offers(w):
    """spec: BACKEND-10 BACKEND-11 BACKEND-15 ERR-46 — stalled offers are bounded
    in number (control connections), memory (64 KiB each) and time (the offer
    timeout); every descriptor they brought is closed."""
    be = w.backend("--offer-timeout-ms", "500", "--max-controls", "8")
    time.sleep(0.1)
    fd0, rss0 = nfds(be.pid), rss_kb(be.pid)
    ctls, peers = [], []
    for i in range(20):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(w.endpoint)
        a, b = socket.socketpair()
        try:
            W.send_sideband(c, bytes([i] * 16), a.fileno())
            c.sendall(b"\x01" + struct.pack("<I", 60000) + b"x" * 100)  # a 60 KB offer, 100 B sent
        except OSError:
            pass
        a.close()
        ctls.append(c)
        peers.append(b)
    time.sleep(0.15)
    during = nfds(be.pid)
    check(during <= fd0 + 2 * 8 + 2, "more than 8 control connections held: %d -> %d" % (fd0, during))
    time.sleep(0.9)
    for b in peers:  # the adopted-or-not copies are gone: EOF on every one
        b.settimeout(2)
        check(b.recv(1) == b"", "a descriptor of a stalled offer is still held")
    after, rss1 = nfds(be.pid), rss_kb(be.pid)
    for c in ctls + peers:
        c.close()
    check(after <= fd0, "backend descriptors %d -> %d" % (fd0, after))
    check(rss1 - rss0 < 8 * 1024, "backend RSS grew by %d KiB" % (rss1 - rss0))
    return "fds %d/%d/%d, RSS +%d KiB" % (fd0, during, after, rss1 - rss0)


def regression_issue_11_broker_memory_after_burst(w):
    """Broker memory follows what clients send and returns after a burst:
    3000 connections each sending a partial Hello, then gone."""
    if os.environ.get("HO_SAN") == "1":
        return "skipped under sanitizers (RSS is the sanitizer's)"
    w.backend()
    br = w.broker()
    time.sleep(0.1)
    rss0 = rss_kb(br.pid)
    conns = []
    hello = W.hello_frame("echo", CAP_HP)
    for i in range(3000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(w.listen)
        s.send(hello[:8])
        conns.append(s)
    time.sleep(0.3)
    peak = rss_kb(br.pid)
    for s in conns:
        s.close()
    time.sleep(0.5)
    check(raw_hello(w.listen)[0] == "negotiated", "broker stopped answering")
    rss1 = rss_kb(br.pid)
    check(peak - rss0 < 3000 * 16, "RSS grew %d KiB for 3000 partial Hellos" % (peak - rss0))
    check(rss1 - rss0 < 4 * 1024, "RSS after the burst: +%d KiB" % (rss1 - rss0))
    return "RSS %d -> peak %d -> %d KiB" % (rss0, peak, rss1)


def regression_issue_11_backend_at_fd_limit(w):
    """spec: BACKEND-7 BACKEND-15 — at its descriptor limit the backend refuses
    offers and keeps serving backend_pipe as soon as a descriptor frees; no
    client times out."""
    w.backend(limit_fds=40)
    w.broker()
    results = []
    lock = threading.Lock()

    def one(i):
        st, out = client(w, "fdlimit-%d" % i, timeout=20)
        with lock:
            results.append((st, out))
    for wave in range(10):
        ts = [threading.Thread(target=one, args=(wave * 30 + i,)) for i in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    bad = [o for st, o in results if st != 0]
    check(not bad, "%d of 300 clients failed at the backend's limit: %s" % (len(bad), bad[:2]))
    return "300/300 served (%d by handoff)" % sum("route=handoff" in o for _, o in results)


def regression_issue_11_errors_users_can_act_on(w):
    """spec: ERR-2 — a missing socket, a path in use, a foreign directory: the
    message names the path and the OS error."""
    st, out = client(w, "x")  # nobody listens
    check(st == 1 and w.listen in out and "ENOENT" in out, "missing socket: %s" % out)
    w.backend()
    p = subprocess.run([os.path.join(BIN, "handoff-backend"), "--handoff-endpoint", w.endpoint,
                        "--backend-pipe", w.pipe], capture_output=True, timeout=5)
    err = p.stderr.decode()
    check(p.returncode == 1 and "another process accepts on it" in err and w.endpoint in err,
          "path in use: %s" % err)
    bad = os.path.join(w.dir, "open")
    os.mkdir(bad)
    os.chmod(bad, 0o777)
    p = subprocess.run([os.path.join(BIN, "handoff-broker"), "--listen", os.path.join(bad, "b.sock"),
                        "--backend-pipe", w.pipe], capture_output=True, timeout=5)
    err = p.stderr.decode()
    check(p.returncode == 1 and bad in err and "0777" in err, "writable directory: %s" % err)
    return None


def regression_issue_11_drain_and_restart(w):
    """spec: BACKEND-14 BROKER-9 FALLBACK-23 — a backend restarted while clients
    run: the successor takes the endpoints over, the old one drains; no client
    lost, none served twice (the two backends' own records)."""
    log_a, log_b = os.path.join(w.dir, "exec-a"), os.path.join(w.dir, "exec-b")
    a = w.backend("--exec-log", log_a, name="backend-a")
    w.broker()
    stop = threading.Event()
    results = []
    lock = threading.Lock()

    def load(k):
        i = 0
        while not stop.is_set():
            nonce = "drain-%d-%d" % (k, i)
            st, out = client(w, nonce)
            with lock:
                results.append((nonce, st, out))
            i += 1
    ts = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    w.spawn("backend-b", [os.path.join(BIN, "handoff-backend"), "--handoff-endpoint", w.endpoint,
                          "--backend-pipe", w.pipe, "--takeover", "--exec-log", log_b])
    time.sleep(0.1)
    a.send_signal(signal.SIGUSR2)
    try:
        code = a.wait(12)
    except subprocess.TimeoutExpired:
        code = None
    time.sleep(0.5)
    stop.set()
    for t in ts:
        t.join()
    check(code == 0, "the draining backend did not exit cleanly (%r)" % code)
    bad = [(n, o) for n, st, o in results if st != 0]
    check(not bad, "%d of %d clients lost during the restart: %s" % (len(bad), len(results), bad[:2]))
    executed = {}
    for path in (log_a, log_b):
        if os.path.exists(path):
            for line in open(path):
                nonce = line.rstrip("\n").split("\t", 1)[1]
                executed[nonce] = executed.get(nonce, 0) + 1
    twice = [n for n, c in executed.items() if c > 1]
    missing = [n for n, _, _ in results if n not in executed]
    check(not twice, "executed twice: %s" % twice[:3])
    check(not missing, "never executed: %s" % missing[:3])
    return "%d clients, all served once; old backend drained and exited" % len(results)


CASES = [regression_issue_11_backend_identity, regression_issue_11_pre_hello_flood,
         regression_issue_11_emfile_gets_an_answer, regression_issue_11_backend_stalled_offers,
         regression_issue_11_broker_memory_after_burst, regression_issue_11_backend_at_fd_limit,
         regression_issue_11_errors_users_can_act_on, regression_issue_11_drain_and_restart]


def main():
    want = set(sys.argv[2:])
    passed = failed = 0
    for case in CASES:
        name = case.__name__
        if want and name not in want:
            continue
        w = World(name.split("_")[-1])
        t0 = time.monotonic()
        try:
            note = case(w)
            passed += 1
            print("[PASS] hardening::%s (%.1f s)%s" % (name, time.monotonic() - t0,
                                                      (" — " + note) if note else ""))
        except (Fail, AssertionError, OSError, subprocess.TimeoutExpired) as e:
            failed += 1
            print("[FAIL] hardening::%s: %s (logs: %s)" % (name, e, w.dir))
            w.dir_keep = True
        finally:
            if getattr(w, "dir_keep", False):
                for p in w.procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            else:
                w.close()
        sys.stdout.flush()
    print("hardening: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
