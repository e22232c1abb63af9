"""account — the soak's verdicts, from observation only:

1. exactly once: the union of the backends' exec logs (--exec-log, one line
   per request executed) — no nonce twice; every served client's nonce
   exactly once; no nonce that no client sent;
2. every client not served is explained by a class, with its evidence on
   the fault timeline, and each class is bounded:
     (a) no-backend   its fallback to backend_pipe was refused while no
                      backend owned the endpoints (killed/crashed, not yet
                      restarted)
     (b) lost         its service connection (adopted after a valid ready
                      frame, CLIENT-6: no retry; or on backend_pipe) broke
                      because the backend serving it died
     (c) unknown      OUTCOME_UNKNOWN: it wrote its request on the broker
                      connection and cannot know its fate (READY-21); at
                      most once like every other
     (d) disconnected the load's own client-side fault (it hung up)
   anything else is unexplained and fails the soak;
3. broker counters reconciled (FALLBACK-25, ACK-15): attempted = completed
   + failures after a token + in flight; nothing in flight, no token
   pending at the end;
4. descriptors and RSS: no growth of the broker and of any backend
   generation, no leaked socket.
spec: CLIENT-6 READY-21 FALLBACK-25 ACK-15 BACKEND-14 BROKER-9 BROKER-4
"""
import collections
import json
import os
import re

import faults

# A death is stamped just before kill(2) (or from the crashing backend's own
# last log line), so the failures it causes come after it: a small margin
# after (clock granularity) and a larger one before (a frame written before
# the kill may be read after it on a loaded machine).
EARLY, LATE = 1.0, 0.05
MARGIN = EARLY
LOST_ERRORS = {"CLOSED", "ECONNRESET", "EPIPE", "TRUNCATED", "ENOTCONN"}
NO_BACKEND_ERRORS = {"ECONNREFUSED", "ENOENT"}
# Broker reasons (detail names) by when they can happen (ref/lib/broker):
PRE_TOKEN = {"client_unsupported", "no_endpoint", "early_data_needs_backend_ready",
             "rate_limited", "fd_pressure", "service_policy_disabled", "adopted_backend"}                      # decide() at Hello time
BOTH = {"pending_queue_full", "token_unavailable"}               # Hello time, or bk_fail()
POST_TOKEN = {"pending_expired", "permission_denied", "fd_exhausted", "backend_unavailable",
              "control_closed", "ack_timeout", "ack_late", "ack_refused", "ack_malformed",
              "ack_token_mismatch", "ack_correlation_mismatch", "backend_ready_violation",
              "backend_draining", "client_gone", "shutdown"}      # bk_fail(), bk_ready_done()
RSS_MAX_KB = 128 * 1024
RSS_GROWTH_KB = 16 * 1024


class Report:
    def __init__(self, world, driver, files, **kw):
        self.w, self.d, self.files = world, driver, files
        self.kw = kw
        self.checks = []
        self.lines = []

    def check(self, name, ok, detail=""):
        self.checks.append((name, bool(ok), detail))

    def say(self, line=""):
        self.lines.append(line)

    # ---- inputs ---------------------------------------------------------------
    def load_clients(self):
        served = collections.Counter()
        outcomes = collections.Counter()
        kinds = collections.Counter()
        aborted = collections.Counter()
        planned = collections.Counter()
        self.nonces = {}  # nonce -> outcome letter
        self.reply_lat = collections.defaultdict(list)  # second -> Hello->reply latencies
        self.unserved = []
        self.c_fallback = collections.Counter()
        for path in self.files:
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    r = json.loads(line)
                    kinds[r["kind"]] += 1
                    outcomes[r["outcome"]] += 1
                    if r.get("abort"):
                        planned[r["abort"]] += 1
                    self.nonces[r["id"]] = r["outcome"]
                    if r.get("t_neg") and r.get("t_hello"):
                        self.reply_lat[int(r["t_start"] - self.w.t0)].append(r["t_neg"] - r["t_hello"])
                    if r["outcome"] == "served":
                        if r["route"] == "handoff":
                            served[("handoff", r["mode"])] += 1
                        else:  # after no token, or after an attempt that failed
                            why = r.get("fallback") or "?"
                            tried = why not in ("NOT_OFFERED", "CLIENT_UNSUPPORTED")
                            served[("reconnect", "after a failed attempt" if tried
                                    else "no handoff offered")] += 1
                            self.c_fallback[why] += 1
                    else:
                        if r["outcome"] == "aborted":
                            aborted[r["step"]] += 1
                        self.unserved.append(r)
        self.served, self.outcomes, self.kinds = served, outcomes, kinds
        self.aborted, self.planned = aborted, planned
        self.total = sum(kinds.values())

    def load_exec(self):
        self.executed = collections.Counter()
        self.exec_gens = collections.defaultdict(list)
        for g in self.w.gens:
            path = self.w.exec_log(g.n)
            if not os.path.exists(path):
                continue
            with open(path, errors="replace") as f:
                for line in f:
                    nonce = line.rstrip("\n").split("\t", 1)[-1]
                    self.executed[nonce] += 1
                    self.exec_gens[nonce].append(g.n)

    # ---- the timeline -------------------------------------------------------------
    def timeline(self):
        """Deaths [(t, gen)] and windows with no live backend [(start, end)]."""
        gens = {g.n: g for g in self.w.gens}
        deaths = sorted((g.t_end, g) for g in self.w.gens
                        if g.end in ("killed", "crashed", "exited") and g.t_end is not None)
        marks = [(t, "owner", n) for t, kind, n, _ in self.w.events if kind == "owner"]
        marks += [(t, "death", g.n) for t, g in deaths]
        marks.sort(key=lambda m: (m[0], m[1] != "death"))
        windows, owner, start = [], None, None
        for t, kind, n in marks:
            if kind == "owner":
                if start is not None:
                    windows.append((start, t))
                    start = None
                owner = n
            elif n == owner and start is None:
                start = t
        if start is not None:
            windows.append((start, float("inf")))
        self.deaths, self.windows, self.gen_by_n = deaths, windows, gens
        self.gen_by_pid = {g.pid: g for g in self.w.gens}

    def in_window(self, t):
        """The no-backend window a refused connect at `t` fell in: after the
        death, until the successor's paths were seen (a little later than
        it listened)."""
        for i, (a, b) in enumerate(self.windows):
            if a - LATE <= t <= b + LATE:
                return i
        return None

    def death_between(self, lo, hi, pid=None):
        for t, g in self.deaths:
            if lo - EARLY <= t <= hi + LATE and (pid is None or g.pid == pid):
                return g
        return None

    # ---- classification ---------------------------------------------------------------
    def classify(self, r):
        """(class, evidence) of a client that was not served."""
        o = r["outcome"]
        if o == "aborted":
            return "d", r["step"]
        if o == "unknown":
            return "c", r.get("fallback")
        err, step = r.get("error") or "", r.get("step")
        t_end = r.get("t_end", 0)
        if r["kind"] == "py":
            if step == "pipe-connect" and err in NO_BACKEND_ERRORS:
                w = self.in_window(t_end)
                if w is not None:
                    return "a", w
            if step == "service" and err in LOST_ERRORS and r.get("t_ready"):
                g = self.death_between(r["t_ready"], t_end)
                if g is not None:
                    return "b", g.n
            if step == "pipe-service" and err in LOST_ERRORS and r.get("t_pipe"):
                g = self.death_between(r["t_pipe"], t_end, r.get("pipe_pid"))
                if g is not None:
                    return "b", g.n
            return None, None
        # The reference client: its route, error name and diagnostic line.
        diag = r.get("diag", "")
        if any(e in diag for e in NO_BACKEND_ERRORS) and self.w.pipe in diag:
            # its connect was refused somewhere between its start and its exit
            for i, (a, b) in enumerate(self.windows):
                if a - LATE <= t_end and r["t_start"] <= b + LATE:
                    return "a", i
        if r["route"] in ("handoff", "reconnect") and err != "C_CLIENT_TIMEOUT":
            g = self.death_between(r["t_start"], t_end)
            if g is not None:
                return "b", g.n
        return None, None

    # ---- the checks -------------------------------------------------------------------
    def exactly_once(self):
        twice = [n for n, c in self.executed.items() if c > 1]
        self.check("no nonce executed twice", not twice,
                   "%d twice: %s" % (len(twice), [(n, self.exec_gens[n]) for n in twice[:5]]))
        missing = [n for n, o in self.nonces.items() if o == "served" and self.executed[n] != 1]
        self.check("every served nonce executed exactly once", not missing,
                   "%d served but not executed once: %s" % (len(missing), missing[:5]))
        foreign = [n for n in self.executed if n not in self.nonces]
        self.check("no executed nonce without a client", not foreign,
                   "%d: %s" % (len(foreign), foreign[:5]))
        self.twice = len(twice)
        self.exec_unserved = collections.Counter()
        for r in self.unserved:
            self.exec_unserved[r["outcome"]] += self.executed[r["id"]]

    def explain(self):
        classes = collections.defaultdict(list)
        unexplained = []
        for r in self.unserved:
            c, ev = self.classify(r)
            if c is None:
                unexplained.append(r)
            else:
                classes[c].append((r, ev))
        self.classes = classes
        self.check("every client not served explained", not unexplained,
                   "%d unexplained, e.g. %s" % (len(unexplained), [
                       {k: u.get(k) for k in ("id", "kind", "variant", "route", "mode", "step",
                                              "error", "fallback", "diag") if u.get(k)}
                       for u in unexplained[:4]]))
        self.unexplained = unexplained
        # Bounds: (a) by the clients alive in each window; (b) by the clients
        # in flight when a backend died; (d) by the disconnects the load planned.
        inflight = self.kw["workers"] * self.kw["concurrency"]
        per_window = collections.Counter(ev for _, ev in classes["a"])
        starts = sorted(self.nonce_starts())
        over = []
        for wi, n in per_window.items():
            a, b = self.windows[wi]
            alive = count_between(starts, a - 60, b + MARGIN)
            if n > alive:
                over.append(("window", wi, n, alive))
        per_death = collections.Counter(ev for _, ev in classes["b"])
        over += [("death", g, n, inflight) for g, n in per_death.items() if n > inflight]
        over += [("unknown", None, len(classes["c"]), inflight * max(1, len(self.deaths)))] \
            if len(classes["c"]) > inflight * max(1, len(self.deaths)) else []
        if len(classes["d"]) > sum(self.planned.values()):
            over.append(("disconnected", None, len(classes["d"]), sum(self.planned.values())))
        self.check("every class bounded by its faults", not over, str(over[:4]))
        self.per_window, self.per_death = per_window, per_death

    def nonce_starts(self):
        out = []
        for path in self.files:
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        i = line.find('"t_start":')
                        if i >= 0:
                            out.append(float(re.match(r"[0-9.]+", line[i + 10:]).group()))
        return out

    def counters(self):
        """spec: FALLBACK-25 ACK-15 — reconcile the broker's counters."""
        idle = self.kw["idle_counters"] or {}
        self.check("broker idle at the end: handoffs_in_flight 0, tokens_pending 0",
                   idle.get("handoffs_in_flight") == 0 and idle.get("tokens_pending") == 0,
                   "in_flight=%s tokens_pending=%s" % (idle.get("handoffs_in_flight"),
                                                       idle.get("tokens_pending")))
        text = open(self.w.broker_log, errors="replace").read()
        import world as W
        c = W.parse_counters(text, "exit") or idle
        fb = {}
        for k, v in c.items():
            m = re.match(r"fallback\{reason=([A-Z_]+),detail=([a-z_]+)\}", k)
            if m:
                fb[m.group(2)] = (m.group(1), v)
        # Which fallback lines come after a token: the broker logs the
        # correlation id of an attempt (bk_fail, bk_ready_done), never at Hello.
        log_pre, log_post = collections.Counter(), collections.Counter()
        handoff_lines = 0
        for m in re.finditer(r"route=(handoff|reconnect)(?: reason=\S+ detail=(\S+))?([^\n]*)",
                             text):
            detail = {"ready_write_failed": "client_gone"}.get(m.group(2), m.group(2))
            if m.group(1) == "handoff":
                handoff_lines += 1
            elif " corr=" in m.group(3):
                log_post[detail] += 1
            else:
                log_pre[detail] += 1
        unknown = [d for d in fb if d not in PRE_TOKEN | BOTH | POST_TOKEN]
        self.check("every fallback reason known to the reconciliation", not unknown, str(unknown))
        mismatch = [(d, v, log_pre[d] + log_post[d]) for d, (_, v) in fb.items()
                    if v != log_pre[d] + log_post[d]]
        self.check("broker log lines agree with its counters", not mismatch and
                   handoff_lines == c.get("handoffs_completed"),
                   "reason counter vs lines: %s; completed %s vs %d route=handoff lines" % (
                       mismatch[:4], c.get("handoffs_completed"), handoff_lines))
        post = sum(v for d, (_, v) in fb.items() if d in POST_TOKEN) + \
            sum(log_post[d] for d in BOTH)
        pre = sum(v for d, (_, v) in fb.items() if d in PRE_TOKEN) + sum(log_pre[d] for d in BOTH)
        att, comp, infl = c.get("handoffs_attempted", 0), c.get("handoffs_completed", 0), \
            c.get("handoffs_in_flight", 0)
        self.check("attempted = completed + failed after a token + in flight",
                   att == comp + post + infl, "%d vs %d + %d + %d" % (att, comp, post, infl))
        self.check("negotiated = attempted + no-token fallbacks",
                   c.get("negotiated", 0) == att + pre,
                   "%d vs %d + %d" % (c.get("negotiated", 0), att, pre))
        # spec: XFER-37 BROKER-3 — control connections are bounded in number
        # and each is dialled to carry offers: every legitimate dial carries
        # at least one offer, or is one of a burst (at most max-controls) after
        # a backend change. More means the broker dials in a loop.
        gens = len(self.w.gens) + len(self.deaths) + 1
        dials = c.get("control_connects", 0)
        rejected = 0
        for g in self.w.gens:
            try:
                with open(os.path.join(self.out_dir, "backend-gen%d.log" % g.n), errors="replace") as f:
                    rejected += sum(1 for line in f if "too-many-control-connections" in line)
            except OSError:
                pass
        self.check("broker dials control connections for offers only (no dial storm)",
                   dials <= att + 32 * gens and rejected == 0,
                   "control_connects %d for %d attempts and %d backend generations; the backends "
                   "rejected %d control connections (too-many-control-connections)" % (
                       dials, att, len(self.w.gens), rejected))
        self.dials, self.rejected = dials, rejected
        self.check("broker exited 0 after SIGTERM", self.kw["broker_code"] == 0,
                   "code %s" % self.kw["broker_code"])
        self.fb, self.cnt, self.post, self.pre = fb, c, post, pre
        self.log_pre, self.log_post = log_pre, log_post

    def descriptors(self):
        base, final = self.kw["base"], self.kw["final"]
        b0, b1 = base.get("broker"), final.get("broker")
        problems = []
        for when, b in [("final", b1)] + [("checkpoint %d" % i, s.get("broker"))
                                          for i, (_, s, _) in enumerate(self.d.checkpoints)]:
            if b is None:
                problems.append("%s: no broker sample" % when)
                continue
            bad = broker_problems(b0, b)
            if bad:
                problems.append("%s: %s" % (when, bad))
        self.check("broker descriptors: no growth (before/after, every checkpoint)",
                   not problems, "; ".join(problems[:4]))
        problems = []
        for i, (_, snaps, _) in enumerate(self.d.checkpoints + [(0, final, True)]):
            for label, s in snaps.items():
                g = next((g for g in self.w.gens if g.label() == label), None)
                if g is None or g.start_snap is None:
                    continue
                bad = backend_problems(g, s, draining=g.t_drain is not None and g.t_drain < s.t)
                if bad:
                    problems.append("%s at %s: %s" % (label, "final" if snaps is final else
                                                      "checkpoint %d" % i, bad))
        for g in self.w.gens:
            if g.end == "drained" and g.last_snap is not None:
                if len(g.last_snap.other) > len(g.start_snap.other) or g.last_snap.listening:
                    problems.append("%s at drain: %s (start %s)" % (
                        g.label(), g.last_snap.brief(), g.start_snap.brief()))
        self.check("backend descriptors: no growth (start, checkpoints, drain)",
                   not problems, "; ".join(problems[:4]))
        self.check("no leaked socket (a closed peer held > %g s by a running process)"
                   % 6.0, not self.w.leaks, str(self.w.leaks[:4]))
        ends = collections.Counter(g.end for g in self.w.gens)
        bad_end = [(g.label(), g.end, g.code) for g in self.w.gens
                   if g.end == "exited" or (g.end == "drained" and g.code != 0) or
                   (g.end == "killed" and g.code not in (-9, None)) or g.end is None]
        self.check("every backend ended as driven (drained exit 0, killed, crashed by its fault)",
                   not bad_end, str(bad_end[:4]))
        slow = [(g.label(), round(g.t_end - g.t_drain, 1)) for g in self.w.gens
                if g.end == "drained" and g.t_end - g.t_drain > 12.0]
        self.check("every drain ended within the drain timeout", not slow, str(slow[:4]))
        self.ends = ends
        if not self.kw["san"]:
            rss = [s.rss_kb for _, s in self.w.broker_samples] + [b0.rss_kb, b1.rss_kb if b1 else 0]
            gmax = max([g.max_rss for g in self.w.gens] or [0])
            ok = max(rss) < RSS_MAX_KB and gmax < RSS_MAX_KB and \
                (b1 is None or b1.rss_kb - b0.rss_kb < RSS_GROWTH_KB)
            self.check("RSS bounded (broker and backends < %d MiB, broker growth < %d MiB)" % (
                RSS_MAX_KB // 1024, RSS_GROWTH_KB // 1024), ok,
                "broker %d -> %d KiB (max %d), backend max %d KiB" % (
                    b0.rss_kb, b1.rss_kb if b1 else -1, max(rss), gmax))

    def coverage(self):
        counts = self.d.counts
        ran = getattr(self.d, "t_run", 0.0)  # seconds of fault injection (less if capped)
        missing = []
        if ran >= 20:
            missing = [k for k in ("stop", "fdlimit", "flood") if not counts.get(k)]
            for prefix in ("kill9:", "takeover:", "mode:"):
                if not any(k.startswith(prefix) for k in counts):
                    missing.append(prefix + "*")
        if ran >= 400:  # time for the whole deck, spaced by the failure window
            missing += ["mode:" + m for m in faults.MODES if not counts.get("mode:" + m)]
        self.check("every kind of fault injected (%.0f s of faults)" % ran, not missing,
                   "missing %s" % missing)
        steps = ["connect", "hello", "negotiated"] + (["ready", "request"] if ran >= 100 else [])
        miss = [s for s in steps if not self.aborted.get(s)]
        self.check("clients disconnected at every step of the handoff", not miss,
                   "never at %s" % miss)
        self.check("load workers ran to the end (exit 0)",
                   all(c == 0 for c in self.kw["load_codes"]), str(self.kw["load_codes"]))
        self.check("enough clients (%d)" % self.kw["min_clients"],
                   self.total >= self.kw["min_clients"], "%d clients" % self.total)

    # ---- the report ------------------------------------------------------------------
    def run(self, out_dir):
        self.out_dir = out_dir
        self.load_clients()
        self.load_exec()
        self.timeline()
        self.exactly_once()
        self.explain()
        self.counters()
        self.descriptors()
        self.coverage()
        self.write()
        text = "\n".join(self.lines) + "\n"
        print(text, end="", flush=True)
        with open(os.path.join(out_dir, "report.txt"), "w") as f:
            f.write(text)
        with open(os.path.join(out_dir, "summary.json"), "w") as f:
            json.dump(self.summary(), f, indent=1, sort_keys=True)
        if self.unexplained:
            with open(os.path.join(out_dir, "unexplained.jsonl"), "w") as f:
                for r in self.unexplained:
                    f.write(json.dumps(r) + "\n")
        return 0 if all(ok for _, ok, _ in self.checks) else 1

    def summary(self):
        return {"seed": self.kw["seed"], "seconds": self.kw["seconds"], "clients": self.total,
                "kinds": dict(self.kinds), "outcomes": dict(self.outcomes),
                "served": {"%s/%s" % k: v for k, v in self.served.items()},
                "classes": {k: len(v) for k, v in self.classes.items()},
                "unexplained": len(self.unexplained), "executed_twice": self.twice,
                "faults": self.d.counts, "backend_ends": dict(self.ends),
                "no_backend_windows": len(self.windows), "deaths": len(self.deaths),
                "counters": self.cnt, "checks": [(n, ok) for n, ok, _ in self.checks]}

    def write(self):
        k = self.kw
        say = self.say
        say("== soak report: seed %d, %g s, %d clients (%s) ==" % (
            k["seed"], k["seconds"], self.total,
            ", ".join("%s %d" % kv for kv in sorted(self.kinds.items()))))
        say("faults injected: " + ", ".join("%s %d" % kv for kv in sorted(self.d.counts.items())))
        say("backend generations: %d (%s); no-backend windows: %d (%.1f s in all); deaths: %d" % (
            len(self.w.gens), ", ".join("%s %d" % kv for kv in sorted(self.ends.items())),
            len(self.windows), sum(min(b, self.w.t0 + 1e9) - a for a, b in self.windows
                                   if b != float("inf")), len(self.deaths)))
        n_served = self.outcomes.get("served", 0)
        say("served: %d (%s)" % (n_served, ", ".join(
            "%s/%s %d" % (r, m, v) for (r, m), v in sorted(self.served.items()))))
        say("  what the reconnecting clients saw: " + ", ".join(
            "%s %d" % kv for kv in sorted(self.c_fallback.items())) +
            " (rc1 client: NOT_OFFERED/CLIENT_UNSUPPORTED/eof/timeout/invalid; handoff-client: its reason names)")
        n_handoff = sum(v for (r, _), v in self.served.items() if r == "handoff")
        say("  served on the handoff route %d, broker handoffs_completed %d (these differ by the "
            "completed handoffs whose client then hung up or lost its backend, and by the "
            "backend-ready handoffs a backend served while the broker ended the attempt as failed: "
            "ACK late or mismatched, FALLBACK-22)" % (
                n_handoff, self.cnt.get("handoffs_completed", 0)))
        names = {"a": "no live backend (fallback refused)", "b": "lost with its backend (killed/"
                 "crashed after ready or on backend_pipe)", "c": "OUTCOME_UNKNOWN",
                 "d": "disconnected by the driver"}
        say("not served: %d" % len(self.unserved))
        for c in "abcd":
            rs = self.classes.get(c, [])
            extra = ""
            if c == "a":
                whole = sum(1 for r, wi in rs if self.windows[wi][0] - MARGIN <= r["t_start"])
                extra = " in %d windows (max %d per window; whole life inside: %d)" % (
                    len(self.per_window), max(self.per_window.values() or [0]), whole)
            elif c == "b":
                routes = collections.Counter(r["route"] for r, _ in rs)
                extra = " by %d deaths (max %d per death; %s)" % (
                    len(self.per_death), max(self.per_death.values() or [0]),
                    ", ".join("%s %d" % kv for kv in sorted(routes.items())))
            elif c == "d":
                extra = " (%s)" % ", ".join("%s %d" % (s, self.aborted[s])
                                            for s in ("connect", "hello", "negotiated", "ready",
                                                      "request"))
            say("  (%s) %-58s %6d%s" % (c, names[c], len(rs), extra))
        say("  unexplained %63d" % len(self.unexplained))
        say("executed: %d nonces; twice: %d; executed among not served: %s" % (
            len(self.executed), self.twice, dict(self.exec_unserved)))
        if self.reply_lat:
            allv = sorted(v for vs in self.reply_lat.values() for v in vs)
            worst = max(self.reply_lat, key=lambda k: sorted(self.reply_lat[k])[len(self.reply_lat[k]) // 2])
            wv = sorted(self.reply_lat[worst])
            say("broker reply latency (Hello written -> HelloReply read, rc1 clients): p50 %.1f ms, "
                "p99 %.1f ms, max %.0f ms; slowest second: %d s (%d clients, p50 %.0f ms)" % (
                    allv[len(allv) // 2] * 1e3, allv[int(len(allv) * 0.99)] * 1e3, allv[-1] * 1e3,
                    worst, len(wv), wv[len(wv) // 2] * 1e3))
        c = self.cnt
        say("broker counters: attempted %d = completed %d + failed after a token %d + in flight %d;"
            " negotiated %d = attempted + %d without token" % (
                c.get("handoffs_attempted", 0), c.get("handoffs_completed", 0), self.post,
                c.get("handoffs_in_flight", 0), c.get("negotiated", 0), self.pre))
        say("  fallbacks: " + ", ".join("%s/%s %d%s" % (
            spec, d, v, "" if d not in BOTH else " (%d after a token)" % self.log_post[d])
            for d, (spec, v) in sorted(self.fb.items())))
        say("  clients_accepted %d, hello_overflow %d, hellos_refused %d, late_acks %d, "
            "control_connects %d (backends rejected %d), backend-ready completed %d" % (
                c.get("clients_accepted", 0), c.get("hello_overflow", 0),
                c.get("hellos_refused", 0), c.get("late_acks", 0), self.dials, self.rejected,
                c.get("handoffs_backend_ready", 0)))
        b0, b1 = self.kw["base"].get("broker"), self.kw["final"].get("broker")
        say("broker: before %s" % (b0.brief() if b0 else "-"))
        say("        after  %s" % (b1.brief() if b1 else "-"))
        if self.w.broker_samples:
            say("        during: max fds %d, max RSS %d KiB (%d samples)" % (
                max(s.total for _, s in self.w.broker_samples),
                max(s.rss_kb for _, s in self.w.broker_samples), len(self.w.broker_samples)))
        for i, (t, snaps, idle) in enumerate(self.d.checkpoints):
            say("checkpoint %d at %.0f s%s: %s" % (i, t - self.w.t0, "" if idle else " (not idle)",
                                                  " | ".join("%s %s" % (lb, s.brief()) for lb, s in
                                                             sorted(snaps.items()))))
        shown = [g for g in self.w.gens if g.fault != "none" or g.fd_limit or g.end != "drained"]
        say("backend generations (start -> end; drained ones: last sample before exit):")
        for g in self.w.gens:
            end = g.last_snap.brief() if g.last_snap else "-"
            if g in shown or g.n <= 3 or g == self.w.gens[-1]:
                say("  %-40s %-10s start %s" % (g.label(), "%s/%s" % (g.end, g.code),
                                                 g.start_snap.brief() if g.start_snap else "-"))
                say("  %-40s %-10s end   %s (max fds %d, max RSS %d KiB)" % (
                    "", "", end, g.max_fds, g.max_rss))
        say("checks:")
        for name, ok, detail in self.checks:
            say("  [%s] %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else " — " + detail))
        failed = sum(1 for _, ok, _ in self.checks if not ok)
        say("soak: %s (%d checks, %d failed; seed %d)" % ("PASS" if not failed else "FAIL",
                                                         len(self.checks), failed, k["seed"]))


def count_between(sorted_vals, lo, hi):
    import bisect
    return bisect.bisect_right(sorted_vals, hi) - bisect.bisect_left(sorted_vals, lo)


def broker_problems(b0, b):
    """What in sample `b` of the broker no connection explains, against the
    baseline `b0`: more non-socket descriptors, a second listener, client
    connections or dead-peer sockets after the load, more descriptors than
    the baseline plus the control connections."""
    bad = []
    if len(b.other) > len(b0.other):
        bad.append("non-socket %d > %d" % (len(b.other), len(b0.other)))
    if b.listening != 1:
        bad.append("listening %d" % b.listening)
    if b.by_peer.get("client") or b.dead_peer or b.unconnected:
        bad.append("client=%d dead_peer=%d unconnected=%d" % (
            b.by_peer.get("client", 0), len(b.dead_peer), len(b.unconnected)))
    ctl, ctl0 = b.by_peer.get("backend", 0), b0.by_peer.get("backend", 0)
    if b.total - ctl > b0.total - ctl0:
        bad.append("fds %d - controls %d > %d - %d" % (b.total, ctl, b0.total, ctl0))
    return ", ".join(bad)


def backend_problems(g, s, draining):
    bad = []
    if len(s.other) > len(g.start_snap.other):
        bad.append("non-socket %d > %d at start" % (len(s.other), len(g.start_snap.other)))
    if not draining and s.listening != 2:
        bad.append("listening %d" % s.listening)
    if s.by_peer.get("client") or s.dead_peer or s.unconnected:
        bad.append("client=%d dead_peer=%d unconnected=%d" % (
            s.by_peer.get("client", 0), len(s.dead_peer), len(s.unconnected)))
    return ", ".join(bad)
