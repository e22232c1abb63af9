#!/usr/bin/python3
"""soak — the chaos soak of issue #11: one broker, backend generations that
take over from each other, a seeded fault driver, and clients throughout,
each sending a unique nonce and checking its echo. At the end it proves
from the backends' own records that no request ran twice, explains every
client that was not served, reconciles the broker's counters and checks
that no process grew in descriptors or memory.

    /usr/bin/python3 conformance/soak/soak.py --bin-dir build/bin --out build/soak
        [--seconds 600] [--clients N] [--min-clients N] [--seed S]
        [--workers 2] [--rate 300] [--concurrency 48]

Environment: SOAK_SEED (as --seed), HO_SAN=1 (sanitizer build: RSS not
checked). Exit status 0 when every check passed, 1 otherwise; the report is
printed and written to OUT/report.txt (OUT/summary.json for tools).

Layers: world.py (processes, timeline, descriptor monitor), faults.py (the
seeded fault driver), load.py + client.py (clients), flood.py (idle
connection flood), procfs.py (descriptors, sockets, RSS), account.py
(accounting, checks, report).
spec: CLIENT-6 READY-21 FALLBACK-25 BACKEND-14 BROKER-9 ACK-15 BROKER-10
"""
import argparse
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import account  # noqa: E402
import faults  # noqa: E402
import world as W  # noqa: E402

PY = sys.executable or "/usr/bin/python3"


class Workers:
    """The load worker processes (load.py) and their status lines."""

    def __init__(self, argv, n, out_dir, log):
        self.procs, self.lines, self.files = [], [], []
        self.capped = set()
        self.log = log
        for i in range(n):
            path = os.path.join(out_dir, "clients-w%d.jsonl" % i)
            self.files.append(path)
            p = subprocess.Popen(argv + ["--worker", str(i), "--out", path],
                                 stdout=subprocess.PIPE, text=True)
            q = queue.Queue()
            threading.Thread(target=self._read, args=(p, q), daemon=True).start()
            self.procs.append(p)
            self.lines.append(q)

    @staticmethod
    def _read(p, q):
        for line in p.stdout:
            q.put(line.split())
        q.put(["eof"])

    def expect(self, word, timeout):
        """Wait until every worker has said `word`; the numbers they gave."""
        deadline = time.monotonic() + timeout
        got = {}
        for i, q in enumerate(self.lines):
            while i not in got:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    w = q.get(timeout=left)
                except queue.Empty:
                    return None
                if w[0] == word:
                    got[i] = int(w[1]) if len(w) > 1 else 0
                elif w[0] == "eof":
                    return None
                elif w[0] == "capped":
                    self.capped.add(i)
        return got

    def signal(self, sig):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(sig)

    def pause(self, timeout):
        self.all_capped()  # forget lines of an earlier pause that timed out
        self.signal(signal.SIGUSR1)
        return self.expect("idle", timeout) is not None

    def resume(self):
        self.signal(signal.SIGUSR2)

    def all_capped(self):
        for i, q in enumerate(self.lines):
            try:
                while True:
                    w = q.get_nowait()
                    if w[0] == "capped":
                        self.capped.add(i)
            except queue.Empty:
                pass
        return len(self.capped) == len(self.procs)

    def finish(self, timeout):
        self.signal(signal.SIGTERM)
        done = self.expect("done", timeout)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return done


def wait_broker_idle(world, timeout):
    """Counters until nothing is in flight and no token pending (every
    attempt ended; TOKEN_TTL bounds the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        c = world.broker_counters()
        if (c.get("handoffs_in_flight") == 0 and c.get("tokens_pending") == 0) or \
                time.monotonic() > deadline:
            return c
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--clients", type=int, default=0, help="stop starting clients after N")
    ap.add_argument("--min-clients", type=int, default=-1,
                    help="fail below N clients (default: 100000 per 600 s)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rate", type=float, default=300.0, help="clients per second, all workers")
    ap.add_argument("--concurrency", type=int, default=48, help="clients in flight per worker")
    ap.add_argument("--c-share", type=float, default=0.05)
    ap.add_argument("--abort-share", type=float, default=0.04)
    a = ap.parse_args()
    seed = a.seed
    if seed is None and os.environ.get("SOAK_SEED"):
        seed = int(os.environ["SOAK_SEED"])
    if seed is None:
        seed = random.SystemRandom().randrange(1 << 31)
    if a.min_clients < 0:
        a.min_clients = int(100000 * a.seconds / 600)
        if a.clients:
            a.min_clients = min(a.min_clients, a.clients)
    san = os.environ.get("HO_SAN") == "1"
    print("soak: seed=%d seconds=%g clients=%s workers=%d rate=%g/s (replay: SOAK_SEED=%d)" % (
        seed, a.seconds, a.clients or "unbounded", a.workers, a.rate, seed), flush=True)

    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    sock_dir = tempfile.mkdtemp(prefix="ho-soak-")
    os.chmod(sock_dir, 0o700)
    timeline = open(os.path.join(a.out, "timeline.txt"), "w", buffering=1)
    quiet = a.seconds < 120

    def log(line):
        timeline.write(line + "\n")
        if not quiet:
            print("  " + line, flush=True)

    rng = random.Random(seed)
    world = W.World(a.bin_dir, sock_dir, a.out, log)
    workers = None
    rc = 1
    try:
        world.t0 = time.monotonic()
        world.start_backend(takeover=False)
        world.start_broker(["--max-hello-waiting", "512"])
        base = faults.settle(world, timeout=5.0)
        world.start_monitor()
        per = max(1, a.clients // a.workers) if a.clients else 0
        argv = [PY, os.path.join(HERE, "load.py"), "--broker", world.listen, "--bin-dir",
                a.bin_dir, "--seed", str(seed), "--prefix", "s%d" % seed,
                "--rate", str(a.rate / a.workers), "--concurrency", str(a.concurrency),
                "--c-share", str(a.c_share), "--abort-share", str(a.abort_share),
                "--max-clients", str(per)]
        workers = Workers(argv, a.workers, a.out, log)
        if workers.expect("ready", 20.0) is None:
            raise RuntimeError("the load workers did not start")
        t_load = world.event("load-start")
        tail = min(10.0, a.seconds * 0.15)
        driver = faults.Driver(world, workers, rng, a.seconds, log,
                               [PY, os.path.join(HERE, "flood.py"), "--target", world.listen])
        driver.run(t_load + a.seconds - tail, workers.all_capped)
        driver.heal()
        world.event("faults-end")
        while time.monotonic() < t_load + a.seconds and not workers.all_capped():
            time.sleep(0.2)
        done = workers.finish(timeout=120.0)
        load_codes = [p.returncode for p in workers.procs]
        world.event("load-end", detail="started=%s" % (sum(done.values()) if done else "?"))
        idle = wait_broker_idle(world, timeout=40.0)
        final = faults.settle(world, timeout=8.0)
        world.event("final-checkpoint", detail=" | ".join(
            "%s %s" % (k, s.brief()) for k, s in sorted(final.items())))
        last = world.owner
        if last is not None and last.alive():
            world.drain(last)
        deadline = time.monotonic() + W.DRAIN_TIMEOUT_MS / 1000.0 + 5
        while any(g.alive() for g in world.gens) and time.monotonic() < deadline:
            time.sleep(0.05)
        world.stop_monitor()
        world.broker.send_signal(signal.SIGTERM)
        try:
            broker_code = world.broker.wait(15)
        except subprocess.TimeoutExpired:
            broker_code = None
        world.event("broker-exit", detail="code=%s" % broker_code)
        rep = account.Report(world, driver, workers.files, seed=seed, seconds=a.seconds,
                             min_clients=a.min_clients, san=san, base=base, final=final,
                             idle_counters=idle, broker_code=broker_code, load_codes=load_codes,
                             workers=a.workers, concurrency=a.concurrency)
        rc = rep.run(a.out)
    finally:
        if workers is not None:
            for p in workers.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        world.stop_monitor()
        world.shutdown()
        shutil.rmtree(sock_dir, ignore_errors=True)
        timeline.close()
    return rc


if __name__ == "__main__":
    sys.exit(main())
