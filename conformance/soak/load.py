#!/usr/bin/python3
"""load — one load worker of the soak: starts clients at a paced rate with a
bounded number in flight, mostly the in-process rc1 client (client.py), a
share of reference C clients (handoff-client --json), a share that
disconnect at a chosen step of the handoff. One JSON line per client to
--out when it ends.

    load.py --broker PATH --bin-dir DIR --seed S --worker N --out FILE
            [--rate R] [--concurrency C] [--c-share F] [--abort-share F]
            [--max-clients N] [--mix W,W,W,W]

Control from the driver, by signal: SIGUSR1 pause (no new client; prints
"idle N" on stdout once none is in flight), SIGUSR2 resume, SIGTERM finish
(no new client, wait for those in flight, print "done N", exit 0).
"""
import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import client as C  # noqa: E402

C_TIMEOUT = 60.0  # a reference client that has not finished by then is a failure


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def c_client(bin_dir, broker, nonce, variant):
    """One reference client (handoff-client) run; its report as a record."""
    r = {"id": nonce, "kind": "c", "variant": variant, "abort": None, "outcome": None,
         "route": "none", "mode": "none", "step": None, "error": None, "fallback": None,
         "req_broker": variant == "early", "pipe_pid": 0}
    argv = [os.path.join(bin_dir, "handoff-client"), "--connect", broker, "--service", "echo",
            "--message", nonce + "\n", "--json"]
    if variant != "none":
        argv.append("--handoff")
    if variant in ("br", "early"):
        argv.append("--backend-ready")
    if variant == "early":
        argv.append("--early-data")
    r["t_start"] = round(time.monotonic(), 4)
    try:
        p = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        r.update(outcome="failed", step="spawn", error=C.errname(e), t_end=r["t_start"])
        return r
    try:
        out, err = await asyncio.wait_for(p.communicate(), C_TIMEOUT)
    except asyncio.TimeoutError:
        p.kill()
        out, err = await p.communicate()
        r["error"] = "C_CLIENT_TIMEOUT"
    r["t_end"] = round(time.monotonic(), 4)
    r["exit"] = p.returncode
    r["diag"] = err.decode("utf-8", "replace").strip()[-300:]
    try:
        rep = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        rep = {}
    r["route"] = rep.get("route", "none")
    r["mode"] = rep.get("mode", "none")
    if p.returncode == 0 and rep.get("ok"):
        r["outcome"] = "served"
        r["fallback"] = rep.get("reason")
        if r["route"] == "reconnect":
            r["req_broker"] = False
    else:
        r["error"] = r["error"] or rep.get("error") or "EXIT_%s" % p.returncode
        r["outcome"] = "unknown" if r["error"] == "OUTCOME_UNKNOWN" else "failed"
        r["step"] = "c-client"
    return r


class Worker:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random("%s-load-%d" % (a.seed, a.worker))
        self.paused = False
        self.idle_said = False
        self.finishing = False
        self.in_flight = 0
        self.started = 0
        self.out = open(a.out, "a", buffering=1 << 16)
        self.idle = asyncio.Event()
        self.wake = asyncio.Event()

    def pick(self, seq):
        """Which client: C or Python and its variant (seeded), and where it
        disconnects: every k-th client (k = 1/abort-share), the steps in turn."""
        rng = self.rng
        variant = rng.choices(("legacy", "br", "early", "none"), self.a.mix)[0]
        k = int(round(1 / self.a.abort_share)) if self.a.abort_share > 0 else 0
        if k and seq % k == k // 2:
            return "py", variant, C.ABORT_STEPS[(seq // k) % len(C.ABORT_STEPS)]
        if rng.random() < self.a.c_share:
            return "c", variant, None
        return "py", variant, None

    async def one(self, nonce, seq):
        kind, variant, abort = self.pick(seq)
        try:
            if kind == "c":
                r = await c_client(self.a.bin_dir, self.a.broker, nonce, variant)
            else:
                r = await C.Client(nonce, variant, abort).run(self.a.broker)
            r["worker"] = self.a.worker
            self.out.write(json.dumps(r, separators=(",", ":")) + "\n")
        finally:
            self.in_flight -= 1
            self.wake.set()

    async def main(self):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self.set_paused, True)
        loop.add_signal_handler(signal.SIGUSR2, self.set_paused, False)
        loop.add_signal_handler(signal.SIGTERM, self.finish)
        say("ready")
        gap = 1.0 / self.a.rate
        next_at = time.monotonic()
        tasks = set()
        capped_said = False
        while True:
            if self.finishing and self.in_flight == 0:
                break
            capped = self.a.max_clients and self.started >= self.a.max_clients
            if capped and not capped_said:
                say("capped %d" % self.started)
                capped_said = True
            if self.paused or self.finishing or capped or self.in_flight >= self.a.concurrency:
                if self.paused and self.in_flight == 0 and not self.idle_said:
                    say("idle %d" % self.started)
                    self.out.flush()
                    self.idle_said = True
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
                next_at = max(next_at, time.monotonic())
                continue
            now = time.monotonic()
            if now < next_at:
                await asyncio.sleep(next_at - now)
                continue
            next_at = max(next_at + gap, now - 0.5)  # no catch-up burst after a stall
            nonce = "%s-w%d-%d" % (self.a.prefix, self.a.worker, self.started)
            self.started += 1
            self.in_flight += 1
            t = asyncio.ensure_future(self.one(nonce, self.started - 1))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        self.out.flush()
        self.out.close()
        say("done %d" % self.started)

    def set_paused(self, on):
        self.paused = on
        self.idle_said = False  # each pause is answered with its own "idle"
        self.wake.set()

    def finish(self):
        self.finishing = True
        self.wake.set()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--worker", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="n")
    ap.add_argument("--rate", type=float, default=150.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--c-share", type=float, default=0.05)
    ap.add_argument("--abort-share", type=float, default=0.04)
    ap.add_argument("--max-clients", type=int, default=0, help="start no more (0: no cap)")
    ap.add_argument("--mix", default="35,35,20,10",
                    help="weights of the variants legacy,br,early,none")
    a = ap.parse_args()
    a.mix = [float(x) for x in a.mix.split(",")]
    asyncio.run(Worker(a).main())


if __name__ == "__main__":
    main()
