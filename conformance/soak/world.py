"""world — the soak's processes and their timeline: one broker, backend
generations that take the endpoints over from each other (--takeover,
then SIGUSR2 to drain the old one), are killed (-9), stopped and
continued, run with a fault mode or a lowered descriptor limit.

Everything that happens to a process is an event on one timeline
(time.monotonic(), the clients' clock): who owns the backend endpoints,
deaths, stops, drains. The accounting explains failed clients with it.
A monitor thread samples the descriptors and RSS of every live process
once a second (procfs.Snapshot) and flags a socket whose peer has closed
and that stays open (a descriptor leak) — never while that process is
stopped.
"""
import datetime
import os
import resource
import signal
import subprocess
import threading
import time

import procfs

LEAK_AFTER = 6.0   # a dead-peer socket held longer than this (not stopped) is a leak
DRAIN_TIMEOUT_MS = 10000



def log_time(stamp):
    """Seconds since the epoch of a log line's TIME (ISO-8601 UTC with
    microseconds, ref/bin/cli.h)."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Gen:
    """One backend generation (one handoff-backend process)."""

    def __init__(self, n, fault, ready_mode, fd_limit):
        self.n, self.fault, self.ready_mode, self.fd_limit = n, fault, ready_mode, fd_limit
        self.proc = None
        self.pid = 0
        self.t_spawn = self.t_owner = self.t_drain = self.t_end = None
        self.end = None          # 'killed' | 'crashed' | 'drained' | 'exited' | 'stopped-at-end'
        self.code = None
        self.stopped_since = None
        self.ever_stopped_after = None  # last SIGCONT: persistence clocks restart there
        self.start_snap = None
        self.last_snap = None    # the last sample before it ended
        self.max_rss = 0
        self.max_fds = 0
        self.drain_samples = 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None and self.t_end is None

    def label(self):
        bits = [self.ready_mode]
        if self.fault != "none":
            bits.append("fault=" + self.fault)
        if self.fd_limit:
            bits.append("nofile=%d" % self.fd_limit)
        return "gen%d[%s]" % (self.n, ",".join(bits))


class World:
    def __init__(self, bin_dir, sock_dir, out_dir, log):
        self.bin = bin_dir
        self.sock_dir = sock_dir
        self.out = out_dir
        self.log = log
        self.listen = os.path.join(sock_dir, "broker.sock")
        self.endpoint = os.path.join(sock_dir, "handoff.sock")
        self.pipe = os.path.join(sock_dir, "backend.sock")
        self.broker = None
        self.broker_log = os.path.join(out_dir, "broker.log")
        self.gens = []
        self.owner = None         # the generation whose sockets are at the endpoint paths
        self.events = []          # (t, kind, gen number or None, detail)
        self.lock = threading.RLock()
        self.changed = threading.Event()
        self.leaks = []           # (label, inode, held seconds, snapshot brief)
        self.broker_samples = []  # (t, Snapshot)
        self._persist = {}        # (pid, inode) -> first seen
        self._stop_monitor = threading.Event()
        self._monitor = None
        self.t0 = time.monotonic()
        self.wall_offset = time.time() - time.monotonic()  # CLOCK_REALTIME - CLOCK_MONOTONIC

    # ---- timeline ---------------------------------------------------------
    def event(self, kind, gen=None, detail=""):
        if not self.events:
            self.log("# times in s after CLOCK_MONOTONIC %.4f (the clients' t_* fields)" % self.t0)
        t = time.monotonic()
        with self.lock:
            self.events.append((t, kind, gen.n if gen else None, detail))
        self.log("%8.3f %-12s %s %s" % (t - self.t0, kind, gen.label() if gen else "", detail))
        return t

    # ---- broker -----------------------------------------------------------
    def start_broker(self, extra):
        argv = [os.path.join(self.bin, "handoff-broker"), "--listen", self.listen,
                "--handoff-endpoint", self.endpoint, "--backend-pipe", self.pipe,
                "--hello-rate", "0", "--log-level", "info"] + extra
        f = open(self.broker_log, "wb")
        self.broker = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        self._wait_path(self.listen, None, self.broker, "broker")
        self.event("broker-up", detail="pid=%d %s" % (self.broker.pid, " ".join(extra)))

    def broker_counters(self, timeout=10.0):
        """SIGUSR1, then the counters block the broker prints: {name: value}."""
        with open(self.broker_log, "rb") as f:
            f.seek(0, 2)
            start = f.tell()
        self.broker.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.broker_log, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
            block = parse_counters(text, "SIGUSR1")
            if block is not None:
                return block
            time.sleep(0.02)
        raise RuntimeError("the broker printed no counters within %.0f s of SIGUSR1" % timeout)

    # ---- backends ---------------------------------------------------------
    def _wait_path(self, path, old_ino, proc, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                ino = os.stat(path).st_ino
                if ino != old_ino:
                    return ino
            except FileNotFoundError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("%s exited (%s) before it listened on %s" %
                                   (what, proc.returncode, path))
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not listen on %s within %.0f s" % (what, path, timeout))
            time.sleep(0.005)

    def _ino(self, path):
        try:
            return os.stat(path).st_ino
        except FileNotFoundError:
            return None

    def start_backend(self, fault="none", ready_mode="backend", fd_limit=0, takeover=True):
        """Start a generation; returns once both endpoint paths are its own."""
        n = len(self.gens) + 1
        g = Gen(n, fault, ready_mode, fd_limit)
        argv = [os.path.join(self.bin, "handoff-backend"), "--handoff-endpoint", self.endpoint,
                "--backend-pipe", self.pipe, "--ready-mode", ready_mode,
                "--exec-log", self.exec_log(n), "--log-level", "warn",
                "--drain-timeout-ms", str(DRAIN_TIMEOUT_MS)]
        if fault != "none":
            argv += ["--fault", fault]
        if takeover:
            argv.append("--takeover")
        old = (self._ino(self.endpoint), self._ino(self.pipe))

        def limit():  # in the child: this one run gets a lowered descriptor limit
            if fd_limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
        f = open(os.path.join(self.out, "backend-gen%d.log" % n), "wb")
        g.proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, preexec_fn=limit)
        g.pid = g.proc.pid
        g.t_spawn = time.monotonic()
        with self.lock:
            self.gens.append(g)
        threading.Thread(target=self._reap, args=(g,), daemon=True).start()
        self._wait_path(self.endpoint, old[0], g.proc, g.label())
        self._wait_path(self.pipe, old[1], g.proc, g.label())
        g.start_snap = self.snapshot(g.pid)
        with self.lock:
            prev, self.owner = self.owner, g
            g.t_owner = self.event("owner", g, "pid=%d takeover=%s from=%s fds=%s" % (
                g.pid, takeover, prev.label() if prev else "-", g.start_snap.brief()))
        return g

    def exec_log(self, n):
        return os.path.join(self.out, "exec-gen%d.log" % n)

    def _reap(self, g):
        code = g.proc.wait()
        with self.lock:
            if g.t_end is None:
                g.t_end = self._crash_time(g) if code == 3 else time.monotonic()
            g.code = code
            if g.end is None:  # not killed: crashed by its fault mode, drained, or by itself
                g.end = ("crashed" if code == 3 and g.fault == "crash-before-ack"
                         else "drained" if g.t_drain is not None else "exited")
            self.event("end", g, "%s code=%s" % (g.end, code))
        self.changed.set()

    def _crash_time(self, g):
        """When a crash-before-ack backend died: the wall-clock stamp of its
        own last line (written just before _exit), on our monotonic clock;
        else now (the reaper's view, later than the death)."""
        try:
            with open(os.path.join(self.out, "backend-gen%d.log" % g.n), "rb") as f:
                for line in f.read().decode("utf-8", "replace").splitlines()[::-1]:
                    if "event=crash" in line:
                        return log_time(line.split()[0]) - self.wall_offset
        except (OSError, ValueError, IndexError):
            pass
        return time.monotonic()

    def kill(self, g):
        with self.lock:
            if not g.alive():
                return False
            g.last_snap = self.snapshot(g.pid)
            g.end = "killed"
            g.t_end = self.event("kill-9", g, ("(stopped) " if g.stopped_since else "") +
                                 g.last_snap.brief())
            os.kill(g.pid, signal.SIGKILL)
            g.stopped_since = None
        return True

    def stop(self, g):
        with self.lock:
            if not g.alive():
                return False
            os.kill(g.pid, signal.SIGSTOP)
            g.stopped_since = self.event("sigstop", g)
        return True

    def cont(self, g):
        with self.lock:
            if g.stopped_since is None:
                return
            if g.proc.poll() is None:
                os.kill(g.pid, signal.SIGCONT)
            g.stopped_since = None
            g.ever_stopped_after = self.event("sigcont", g)

    def drain(self, g):
        """SIGUSR2; a thread samples it until it exits (BACKEND-14)."""
        with self.lock:
            if not g.alive():
                return False
            g.t_drain = self.event("drain", g)
            os.kill(g.pid, signal.SIGUSR2)
        threading.Thread(target=self._watch_drain, args=(g,), daemon=True).start()
        return True

    def _watch_drain(self, g):
        while g.proc.poll() is None and g.t_end is None:
            s = self.snapshot(g.pid)
            # A drain sample once the drain has begun (listeners closed);
            # one taken before the backend handled SIGUSR2 is not one.
            if s.targets and g.proc.poll() is None and s.listening == 0:
                g.last_snap = s
                g.drain_samples += 1
            time.sleep(0.05)

    def live_gens(self):
        with self.lock:
            return [g for g in self.gens if g.alive()]

    def owner_alive(self):
        with self.lock:
            return self.owner is not None and self.owner.alive()

    # ---- observation --------------------------------------------------------
    def labelled_pids(self):
        out = {}
        if self.broker is not None and self.broker.poll() is None:
            out[self.broker.pid] = "broker"
        for g in self.live_gens():
            out[g.pid] = "backend"
        return out

    def snapshot(self, pid):
        return procfs.Snapshot(pid, time.monotonic(), procfs.owner_map(self.labelled_pids()))

    def start_monitor(self):
        self._monitor = threading.Thread(target=self._monitor_loop, daemon=True)
        self._monitor.start()

    def stop_monitor(self):
        self._stop_monitor.set()
        if self._monitor:
            self._monitor.join(5)

    def _monitor_loop(self):
        while not self._stop_monitor.wait(1.0):
            try:
                self.sample_all()
            except OSError:
                pass

    def sample_all(self):
        """One sample of the broker and of every live generation; the
        persistence check of dead-peer and unconnected sockets."""
        now = time.monotonic()
        socks = procfs.unix_sockets()
        owners = procfs.owner_map(self.labelled_pids())
        procs = []
        if self.broker is not None and self.broker.poll() is None:
            procs.append(("broker", self.broker.pid, None))
        procs += [(g.label(), g.pid, g) for g in self.live_gens()]
        seen = set()
        for label, pid, g in procs:
            s = procfs.Snapshot(pid, now, owners, socks)
            if not s.targets:
                continue
            if g is None:
                self.broker_samples.append((now, s))
            else:
                g.max_rss = max(g.max_rss, s.rss_kb)
                g.max_fds = max(g.max_fds, s.total)
            stopped = g is not None and (g.stopped_since is not None or procfs.is_stopped(pid))
            since = g.ever_stopped_after if g is not None else None
            for ino in s.dead_peer | s.unconnected:
                key = (pid, ino)
                seen.add(key)
                first = self._persist.setdefault(key, now)
                if stopped or (since is not None and since > first):
                    self._persist[key] = now  # a stopped process cannot close anything
                elif now - first > LEAK_AFTER:
                    self.leaks.append((label, ino, round(now - first, 1), s.brief()))
                    self._persist[key] = float("inf")  # reported once
        for key in list(self._persist):
            if key not in seen:
                del self._persist[key]

    # ---- end ------------------------------------------------------------------
    def shutdown(self):
        for g in self.live_gens():
            self.cont(g)
            g.end = g.end or "terminated"
            try:
                g.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
        for g in self.gens:
            try:
                g.proc.wait(10)
            except subprocess.TimeoutExpired:
                g.proc.kill()
                g.proc.wait()
        if self.broker is not None and self.broker.poll() is None:
            self.broker.kill()
            self.broker.wait()


def parse_counters(text, when):
    """The last complete counters block printed `when` ('SIGUSR1', 'exit')
    in a broker log; None if there is none (yet)."""
    head = "handoff-broker counters (%s):" % when
    i = text.rfind(head)
    if i < 0:
        return None
    out = {}
    for line in text[i + len(head):].splitlines()[1:]:
        parts = line.rsplit(" ", 1)
        if len(parts) != 2 or not parts[1].isdigit() or line[:1].isdigit():
            break
        out[parts[0]] = int(parts[1])
    return out if "open_conns" in out else None
