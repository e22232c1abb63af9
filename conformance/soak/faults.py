"""faults — the seeded fault driver of the soak. One action at a time, in
an order and with durations drawn from random.Random(seed):

  kill9      kill -9 the backend that owns the endpoints (or, as variants,
             its successor right after a takeover, a generation still
             draining, or the owner after it hung in SIGSTOP for a while:
             what it had adopted or queued is lost), then restart one after
             a delay
  stop       SIGSTOP the owner for up to several seconds, then SIGCONT
  mode       take over with a generation run with --fault KIND (refuse,
             late-ack:MS, crash-before-ack, wrong-token, wrong-correlation,
             close-control), drain the old one; later switch back (none)
  takeover   a planned restart: successor with --takeover, old one drained
             (ready mode backend or legacy)
  fdlimit    one generation run with a lowered RLIMIT_NOFILE (set in the
             child before exec)
  flood      a side process that floods the broker with idle connections
  checkpoint pause the load, let everything go idle, sample descriptors
             and RSS of every process, resume

Client disconnects at every step of the handoff are the load's part
(load.py --abort-share): seeded too. A backend that dies by itself (the
crash-before-ack mode) is restarted after a delay, as after a kill.
Every wait is bounded and ends on a condition or a deadline.
"""
import os
import signal
import subprocess
import sys
import time

MODES = ("refuse", "late-ack", "crash-before-ack", "wrong-token", "wrong-correlation",
         "close-control")
WEIGHTS = {"kill9": 2.0, "stop": 2.0, "mode": 3.0, "takeover": 2.0, "fdlimit": 0.5, "flood": 1.0,
           "idle": 1.0}
# Faults that make handoffs fail and so count against the backend
# (FALLBACK-25): 8 of them close handoffs for the broker's 30 s window
# (FALLBACK-7). A long soak spaces them so handoffs resume in between.
COUNTING = ("kill9", "stop", "mode", "fdlimit")


class Profile:
    """Durations (seconds, uniform ranges) scaled to the length of the soak."""

    def __init__(self, seconds):
        quick = seconds < 120
        self.gap = (0.2, 1.0) if quick else (1.0, 5.0)
        self.stop = (0.3, 1.5) if quick else (0.5, 5.0)
        self.run = (1.0, 2.5) if quick else (3.0, 12.0)
        self.restart = (0.05, 0.6) if quick else (0.1, 2.0)
        self.flood = (2.0, 4.0) if quick else (5.0, 20.0)
        self.checkpoint_every = max(10.0, seconds / 3.0) if quick else 100.0
        self.warmup = 2.0 if quick else 5.0
        # A long soak lets most faults that fail handoffs wait until the
        # broker offers handoffs again (its failure window has passed).
        self.wait_flowing = 0.0 if quick else 0.5  # the first of each kind always waits
        self.counting_gap = (0.0, 0.0) if quick else (2.0, 10.0)
        # The first events: every kind once (every mode once in a long
        # soak); those that do not fail handoffs first.
        self.deck_first = ["takeover", "flood"]
        self.deck = ["kill9", "stop", "fdlimit"]
        self.deck_modes = 1 if quick else len(MODES)


class Driver:
    def __init__(self, world, workers, rng, seconds, log, flood_argv):
        self.w = world
        self.workers = workers
        self.rng = rng
        self.p = Profile(seconds)
        self.log = log
        self.flood_argv = flood_argv
        self.flood = None
        self.flood_until = 0.0
        self.counts = {}
        self.checkpoints = []     # (t, {label: Snapshot})
        self.next_checkpoint = 0.0

    def count(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def u(self, lo_hi):
        return self.rng.uniform(*lo_hi)

    # ---- waiting ------------------------------------------------------------
    def sleep(self, seconds, restart=True):
        """Sleep, but restart the owner if it dies meanwhile (a crash), and
        end a flood that is due."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            self.w.changed.wait(min(left, 0.2))
            self.w.changed.clear()
            if time.monotonic() >= self.flood_until:
                self.stop_flood()
            if restart and not self.w.owner_alive():
                self.restart("after-crash")

    def restart(self, why, **kw):
        time.sleep(self.u(self.p.restart))
        takeover = self.rng.random() < 0.5  # both: over a stale socket, or by rename
        g = self.w.start_backend(takeover=takeover, **kw)
        self.w.event("restart", g, why)
        return g

    def successor(self, **kw):
        """Take the endpoints over from the owner, then drain the old one."""
        old = self.w.owner
        g = self.w.start_backend(takeover=True, **kw)
        if old is not None and old.alive():
            time.sleep(0.02)
            self.w.drain(old)
        return g

    # ---- the actions ---------------------------------------------------------
    def do_kill9(self):
        r = self.rng.random()
        draining = [g for g in self.w.live_gens() if g.t_drain is not None]
        if r < 0.15 and draining:
            self.count("kill9:draining")
            self.w.kill(self.rng.choice(draining))
            return
        if r < 0.4:
            self.count("kill9:successor-mid-takeover")
            g = self.successor(ready_mode=self.ready_mode())
            time.sleep(self.rng.uniform(0.0, 0.3))
            self.w.kill(g)
        elif r < 0.7 and self.w.owner_alive():
            self.count("kill9:hung-owner")
            g = self.w.owner
            self.w.stop(g)
            self.sleep(self.u(self.p.stop), restart=False)
            self.w.kill(g)
        else:
            self.count("kill9:owner")
            if self.w.owner is not None:
                self.w.kill(self.w.owner)
        self.restart("after-kill", ready_mode=self.ready_mode())

    def do_stop(self):
        g = self.w.owner
        if g is None or not g.alive():
            return
        self.count("stop")
        self.w.stop(g)
        try:
            self.sleep(self.u(self.p.stop), restart=False)
        finally:
            self.w.cont(g)

    def do_mode(self, mode=None):
        mode = mode or self.rng.choice(MODES)
        fault = "late-ack:%d" % self.rng.randint(50, 3000) if mode == "late-ack" else mode
        self.count("mode:" + mode)
        g = self.successor(fault=fault, ready_mode=self.ready_mode())
        self.sleep(self.u(self.p.run))
        if self.w.owner is g and g.alive():  # switch back (fault none)
            self.successor(ready_mode=self.ready_mode())

    def do_idle(self):
        pass

    def do_takeover(self):
        mode = self.ready_mode()
        self.count("takeover:" + mode)
        self.successor(ready_mode=mode)

    def do_fdlimit(self):
        limit = self.rng.randint(48, 96)
        self.count("fdlimit")
        g = self.successor(fd_limit=limit, ready_mode=self.ready_mode())
        self.sleep(self.u(self.p.run))
        if self.w.owner is g and g.alive():
            self.successor(ready_mode=self.ready_mode())

    def do_flood(self):
        if self.flood is not None:
            return
        hold = self.rng.randint(600, 1200)
        rate = self.rng.randint(500, 2000)
        self.count("flood")
        self.flood = subprocess.Popen(self.flood_argv + ["--hold", str(hold), "--rate", str(rate)],
                                      stdout=subprocess.PIPE, text=True)
        self.flood_until = time.monotonic() + self.u(self.p.flood)
        self.w.event("flood-start", detail="hold=%d rate=%d/s" % (hold, rate))

    def stop_flood(self):
        if self.flood is None:
            return
        self.flood.send_signal(signal.SIGTERM)
        try:
            out, _ = self.flood.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.flood.kill()
            out, _ = self.flood.communicate()
        self.w.event("flood-end", detail=(out or "").strip())
        self.flood = None
        self.flood_until = float("inf")

    def handoffs_flowing(self, timeout):
        """Wait (bounded) until the broker attempts handoffs again: over
        half a second its RATE_LIMITED count stays and attempts grow."""
        deadline = time.monotonic() + timeout
        key = "fallback{reason=RATE_LIMITED,detail=rate_limited}"
        prev = self.w.broker_counters()
        while time.monotonic() < deadline:
            self.sleep(0.5)
            cur = self.w.broker_counters()
            if cur.get(key, 0) == prev.get(key, 0) and \
                    cur["handoffs_attempted"] > prev["handoffs_attempted"]:
                return True
            prev = cur
        return False

    def ready_mode(self):
        return "legacy" if self.rng.random() < 0.2 else "backend"

    def checkpoint(self, why):
        """Pause the load, wait until nothing is in flight, settle, sample."""
        self.stop_flood()
        self.count("checkpoint")
        t = self.w.event("checkpoint", detail=why)
        idle = self.workers.pause(timeout=60.0)
        snaps = settle(self.w, timeout=8.0)
        self.checkpoints.append((t, snaps, idle))
        self.w.event("checkpoint-done", detail=" | ".join(
            "%s %s" % (k, s.brief()) for k, s in sorted(snaps.items())))
        self.workers.resume()

    # ---- the schedule ----------------------------------------------------------
    def run(self, until, stop_early):
        """Inject faults until `until` (monotonic) or stop_early() is true."""
        first, deck = list(self.p.deck_first), list(self.p.deck)
        modes = list(MODES)
        self.rng.shuffle(modes)
        deck += ["mode:" + m for m in modes[:self.p.deck_modes]]
        self.rng.shuffle(first)
        self.rng.shuffle(deck)
        deck = first + deck
        self.next_checkpoint = time.monotonic() + self.p.checkpoint_every
        next_counting = 0.0
        self.t_run = time.monotonic()
        self.sleep(self.p.warmup)
        while time.monotonic() < until and not stop_early():
            if time.monotonic() >= self.next_checkpoint:
                self.checkpoint("periodic")
                self.next_checkpoint = time.monotonic() + self.p.checkpoint_every
            if time.monotonic() >= self.flood_until:
                self.stop_flood()
            if not self.w.owner_alive():
                self.restart("after-crash")
            counting_ok = time.monotonic() >= next_counting
            from_deck = bool(deck) and (counting_ok or deck[0].split(":")[0] not in COUNTING)
            if from_deck:
                kind = deck.pop(0)
            else:
                kinds = [k for k in WEIGHTS if not (k == "flood" and self.flood is not None)
                         and (counting_ok or k not in COUNTING)]
                kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
            if kind.split(":")[0] in COUNTING:
                if self.p.wait_flowing and (from_deck or self.rng.random() < self.p.wait_flowing):
                    flowing = self.handoffs_flowing(min(45.0, until - time.monotonic()))
                    self.w.event("handoffs", detail="flowing" if flowing else "still limited")
                next_counting = time.monotonic() + self.u(self.p.counting_gap)
            if kind.startswith("mode:"):
                self.do_mode(kind[5:])
            else:
                getattr(self, "do_" + kind)()
            self.sleep(self.u(self.p.gap))
        self.stop_flood()
        self.t_run = time.monotonic() - self.t_run  # how long faults were injected

    def heal(self):
        """End of the fault phase: everything continued, a healthy owner."""
        for g in self.w.live_gens():
            self.w.cont(g)
        self.stop_flood()
        o = self.w.owner
        if o is None or not o.alive():
            self.restart("heal")
        elif o.fault != "none" or o.fd_limit:
            self.successor(ready_mode="backend")


def settle(world, timeout):
    """Sample broker and live generations until no client connection and no
    dead-peer socket is left (the last EOFs processed), or the timeout; the
    last samples either way."""
    deadline = time.monotonic() + timeout
    while True:
        snaps = {}
        pids = world.labelled_pids()
        for pid, label in pids.items():
            s = world.snapshot(pid)
            if s.targets:
                name = "broker" if label == "broker" else next(
                    g.label() for g in world.gens if g.pid == pid)
                snaps[name] = s
        quiet = all(not s.dead_peer and not s.unconnected and not s.by_peer.get("client")
                    for s in snaps.values())
        if quiet or time.monotonic() > deadline:
            return snaps
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit("faults.py is a module of conformance/soak/soak.py")
