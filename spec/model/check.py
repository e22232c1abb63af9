#!/usr/bin/python3
"""check.py — run the handoff model (spec/model/handoff.pml) with spin: every
scenario of the model, every variant and every finding run.

  model    the model of the spec (rc1 with the fixes this model proposes):
           must verify with no error; the statements that prove the
           interesting cases happen (witnesses) must be reached.
  variant  one rule of the spec removed or weakened: must produce a
           counterexample that violates the property the rule defends.
  finding  rc1 exactly as written where this model found a defect: must
           produce the counterexample (spec/model/README.md, "Findings").
  cycles   a search for non-progress cycles (spin -DNP, pan -l) with no
           progress label: any cycle of the state graph is reported, so a
           pass proves that every execution ends (in the final check).

Every counterexample is printed as a message sequence chart (trail2msc.py).
Exit 0 when every run behaves as expected, 1 otherwise.

Usage: check.py [--build DIR] [--only NAME[,NAME]] [--jobs N] [--quiet] [--list]
Standard library only; needs spin and a C compiler (cc or $CC).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "handoff.pml")
sys.path.insert(0, HERE)
import trail2msc  # noqa: E402

# fault bits (config.pml)
CRASH, CTLCLOSE, FORGEACK, GONE, FDX, EMFILE, REPLAY, FORGESB, STALL = (
    1, 2, 4, 8, 16, 32, 64, 128, 256)

# name, scenario, extra defines, faults override (None: the scenario's), witnesses
MODEL_RUNS = [
    ("legacy", "SCEN_LEG", [], None, [
        "response on the adopted connection: served",
        "response on backend_pipe: served",
        "adopted connection ended before the response",
        "COMPLETED", "no ACK by the deadline: EXPIRED", "after its deadline: LATE",
        "token echo differs: MISMATCH", "never issued: violation",
        "MSG_CTRUNC", "EMFILE", "stalls for good", "backend crashes",
        "shutdown(SHUT_RDWR)", "closes ctl%d after one offer",
        "client disconnects", "gone: ready write fails (CLIENT_GONE)",
    ]),
    ("shared", "SCEN_SHARED", [], None, [
        "close ctl%d (no further offer on it)",
        "response on the adopted connection: served",
        "forged ACK", "ACK-7",
    ]),
    ("backend-ready", "SCEN_BR", [], None, [
        "as its first bytes", "early data: request, queued",
        "response on the adopted connection: served",
        "adopted connection ended before the response",
        "replayed", "refuses offer", "EOF before a ready frame",
        "ready timeout, nothing received", "stalls for good", "forgets token",
    ]),
    ("backend-ready-shared", "SCEN_BR2", [], None, [
        "of the other handoff", "as its first bytes",
        "early data: request, queued", "ctl%d ended: abandon",
        "response on the adopted connection: served",
    ]),
    ("v1-broker", "SCEN_V1BROKER", [], None, [
        "reports OUTCOME_UNKNOWN", "early data: request, queued",
        "response on the adopted connection: served",
    ]),
    ("misconfigured", "SCEN_MISCONF", [], None, [
        "no token: not offered", "response on the adopted connection: served",
    ]),
]

# name, scenario, defines, faults, expected properties (any), requirement(s), what was removed
VARIANT_RUNS = [
    ("no-sideband-check", "SCEN_BR2", ["V_NO_SBCHECK"], FORGESB, ["P5_READY", "P3_OWNER", "P2_SERVED"],
     "XFER-12", "the backend does not compare the sideband with the offer token"),
    ("ready-before-ack", "SCEN_LEG", ["V_READY_BEFORE_ACK"], 0, ["P5_READY"],
     "READY-2", "the legacy broker writes ready when the offer is out, before the ACK"),
    ("record-after-ready", "SCEN_BR", ["V_TOKEN19"], REPLAY, ["P4_TOKEN", "P3_OWNER", "P5_READY"],
     "TOKEN-19 BACKEND-5", "the backend records the token after the ready write"),
    ("forget-early", "SCEN_BR", ["V_TOKEN18"], REPLAY, ["P4_TOKEN", "P3_OWNER", "P5_READY"],
     "TOKEN-17 TOKEN-18", "the backend forgets an accepted token before its deadline"),
    ("early-data-v1-broker", "SCEN_V1BROKER", ["V_READY19"], 0, ["P1_ONCE"],
     "READY-21", "early data to a broker without the extension, and the withdrawn "
     "READY-19: a token without CAP_BACKEND_READY means 'not offered', re-send"),
    ("legacy-deadline-long", "SCEN_LEG", ["V_ACK17"], 0, ["P5_READY"],
     "ACK-17", "the legacy ACK deadline is registration + ACK_DEADLINE only, "
     "which can end after the client's ready timeout"),
    ("pipelined-offers", "SCEN_SHARED", ["V_XFER37"], 0, ["P7_CHARGE"],
     "XFER-37", "a second offer in flight to a backend that closes after one"),
    ("shutdown-on-violation", "SCEN_MISCONF", ["V_ACK16_SHUT", "RC1_READY6"], 0,
     ["P3_OWNER"],
     "ACK-16 FALLBACK-22", "shutdown(SHUT_RDWR) of the copy after BACKEND_READY_VIOLATION"),
    ("no-ready-deadline", "SCEN_BR", ["V_NO_READY_DEADLINE"], 0, ["P5_READY", "P1_ONCE"],
     "READY-11", "the backend writes ready whatever the ready deadline"),
    ("read-before-ready", "SCEN_BR", ["V_READY9"], CRASH, ["P1_ONCE"],
     "READY-9", "the backend reads the request before it writes ready"),
    ("retry-after-ready", "SCEN_LEG", ["V_CLIENT6"], CRASH, ["P1_ONCE"],
     "CLIENT-6", "the client re-sends when the adopted connection breaks"),
    ("shutdown-backend-ready", "SCEN_BR", ["V_FALLBACK22"], CTLCLOSE,
     ["P3_OWNER", "P2_SERVED"],
     "FALLBACK-22", "the broker shuts the connection down on a backend-ready failure"),
    ("no-echo-check", "SCEN_LEG", ["V_NO_ECHO"], FORGEACK, ["P5_READY"],
     "ACK-2 ACK-5", "the broker does not compare the ACK's token echo"),
    ("no-sweep", "SCEN_LEG", ["V_NO_SWEEP"], STALL, ["P4_TOKEN", "P6_DRAIN"],
     "ACK-6", "the broker enforces ACK deadlines only when an ACK arrives"),
    ("greeting-first", "SCEN_LEG", ["V_READY3"], 0, ["P3_OWNER"],
     "READY-3", "a legacy backend writes before it has read from the client"),
]

# name, scenario, defines, faults: searched for cycles (every execution is finite)
CYCLE_RUNS = [
    ("cycles-legacy", "SCEN_LEG", ["MAXF=1"], None),
    ("cycles-backend-ready-shared", "SCEN_BR2", ["MAXF=0"], None),
    ("cycles-misconfigured", "SCEN_MISCONF", [], None),
]

FINDING_RUNS = [
    ("F1-config-backend-ready", "SCEN_MISCONF", ["RC1_READY6"], 0, ["P1_ONCE"],
     "READY-6 ACK-16", "an operator's statement enables backend-ready mode for a v1 "
     "backend, which adopts after the client's READY-14 timeout"),
    ("F2-emfile-charged", "SCEN_LEG", ["RC1_FALLBACK23"], EMFILE, ["P7_CHARGE"],
     "FALLBACK-23 FALLBACK-18", "the broker's own EMFILE counts against the backend"),
    ("F3-legacy-short-wait", "SCEN_LEG", ["RC1_READY5"], 0, ["P5_READY"],
     "READY-5 ACK-17", "a legacy client that waits less than READY_TIMEOUT (READY-5 says "
     "'at most')"),
]

PAN_STATS = {
    "states": re.compile(r"^\s*(\d+) states, stored", re.M),
    "transitions": re.compile(r"^\s*(\d+) transitions", re.M),
    "memory": re.compile(r"^\s*([0-9.]+)\s+total actual memory usage", re.M),
    "depth": re.compile(r"depth reached (\d+)"),
    "errors": re.compile(r"errors: (\d+)"),
}
VIOLATED = re.compile(r"pan:1: (.*?) \(at depth (\d+)\)")


def sh(cmd, cwd, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def defines_of(scen, extra, faults):
    d = [scen] + list(extra)
    if faults is not None:
        d.append("FAULTS_OVERRIDE=%d" % faults)
    return d


def build_and_run(name, defines, build, cycles=False, shortest=False):
    wd = os.path.join(build, name)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    dflags = ["-D%s" % d for d in defines]
    t0 = time.monotonic()
    rc, out = sh(["spin", "-a"] + dflags + [MODEL], wd)
    if rc != 0 or not os.path.exists(os.path.join(wd, "pan.c")):
        return {"fail": "spin -a failed:\n" + out}
    cc = os.environ.get("MODEL_CC") or shutil.which("clang") or os.environ.get("CC", "cc")
    copts = ["-O0", "-w", "-DNP" if cycles else "-DSAFETY", "-DCOLLAPSE", "-DVECTORSZ=2048"]
    if shortest:
        copts.append("-DREACH")     # with pan -i: the shortest counterexample
    rc, out = sh([cc] + copts + ["-o", "pan", "pan.c"], wd)
    if rc != 0:
        return {"fail": "compiling pan failed:\n" + out}
    t1 = time.monotonic()
    rc, out = sh(["./pan", "-m20000", "-w22"] + (["-l"] if cycles else [])
                 + (["-i"] if shortest else []), wd)   # without -i: stops at the first error
    t2 = time.monotonic()
    with open(os.path.join(wd, "pan.out"), "w", encoding="utf-8") as f:
        f.write(out)
    res = {"dir": wd, "out": out, "compile_s": t1 - t0, "run_s": t2 - t1, "defines": defines}
    for k, rx in PAN_STATS.items():
        m = rx.search(out)
        res[k] = (float(m.group(1)) if k == "memory" else int(m.group(1))) if m else None
    if "error: max search depth too small" in out or "pan: reached -DMEMLIM" in out:
        res["fail"] = "search incomplete:\n" + out[-800:]
    m = VIOLATED.search(out)
    res["violation"] = m.group(1) if m else None
    return res


def witness_reached(res, text):
    """A complete run reached some printf of the model containing text: it
    has more instances in the generated verifier (pan.m, one Printf per
    expanded statement) than pan reports unreached."""
    with open(os.path.join(res["dir"], "pan.m"), encoding="utf-8", errors="replace") as f:
        made = sum(1 for line in f if 'Printf("' in line and text in line)
    unreached = 0
    in_unreached = False
    for line in res["out"].splitlines():
        if line.startswith("unreached in "):
            in_unreached = True
        elif in_unreached and "printf(" in line and text in line:
            unreached += 1
    return made > unreached, made


def msc_of(res, trail=None):
    """Replay a trail of the run; return (chart text, violated properties)."""
    import io
    wd = res["dir"]
    if trail is None:
        trails = sorted(f for f in os.listdir(wd) if f.endswith(".trail"))
        if not trails:
            return "(no trail written)\n", []
        trail = trails[0]
    text = trail2msc.replay(MODEL, res["defines"], os.path.join(wd, trail), cwd=wd)
    events, failures = trail2msc.parse(text)
    buf = io.StringIO()
    trail2msc.render(events, failures, buf)
    with open(os.path.join(wd, "msc.txt"), "w", encoding="utf-8") as f:
        f.write(buf.getvalue())
    props = sorted({p for _, what in failures for p in trail2msc.properties(what)})
    first = trail2msc.properties(failures[0][1]) if failures else []
    return buf.getvalue(), props, first


def run_one(r, build, quiet):
    """Run one entry of the tables; return (ok, text to print, result)."""
    kind, name = r[0], r[1]
    if kind == "model":
        _, _, scen, extra, faults, witnesses = r
    elif kind == "cycles":
        _, _, scen, extra, faults = r
        witnesses = []
    else:
        _, _, scen, extra, faults, expect, reqs, what = r
    res = build_and_run(name, defines_of(scen, extra, faults), build, kind == "cycles",
                        kind in ("variant", "finding"))
    res["kind"], res["name"] = kind, name
    if "fail" in res:
        return False, "FAIL %-8s %-24s %s\n" % (kind, name, res["fail"]), res
    stats = "%9s states %6.1f MB %5.1f s (+%.1f s to build)" % (
        res["states"], res["memory"] or 0, res["run_s"], res["compile_s"])
    out = []
    if kind in ("model", "cycles"):
        problems = []
        if res["errors"] != 0:
            problems.append("property violated: %s" % res["violation"])
        else:
            for w in witnesses:
                reached, made = witness_reached(res, w)
                if not made:
                    problems.append("witness %r is no statement of the model" % w)
                elif not reached:
                    problems.append("witness never reached: %r" % w)
        ok = not problems
        out.append("%-4s %-8s %-24s %s\n" % ("ok" if ok else "FAIL", kind, name, stats))
        out += ["     %s\n" % p for p in problems]
        if res["errors"]:
            out.append(msc_of(res)[0])
        return ok, "".join(out), res
    if not res["errors"]:
        ok, props, note = False, [], "no counterexample: the %s has lost its teeth" % kind
    else:
        chart, props, first = msc_of(res)
        ok = any(p in first for p in expect)
        if not ok:
            # the shortest counterexample breaks another property first: look
            # for one of the property the rule defends among the first errors
            for f in os.listdir(res["dir"]):
                if f.endswith(".trail"):
                    os.remove(os.path.join(res["dir"], f))
            sh(["./pan", "-m20000", "-w22", "-e", "-c200"], res["dir"])
            trails = sorted((f for f in os.listdir(res["dir"]) if f.endswith(".trail")),
                            key=lambda f: int(re.sub(r"\D", "", f) or 0))
            for t in trails:
                c2, p2, f2 = msc_of(res, t)
                if any(p in f2 for p in expect):
                    chart, props, ok = c2, p2, True
                    break
        note = "" if ok else "counterexample violates %s, expected one of %s" % (props, expect)
        if not quiet or not ok:
            out.append("---- %s %s (%s): %s\n" % (
                kind, name, reqs, ("rule removed: " if kind == "variant" else "rc1 as written: ")
                + what))
            out.append(chart)
    res["props"] = props
    out.append("%-4s %-8s %-24s %s  -> %s\n" % ("ok" if ok else "FAIL", kind, name, stats,
                                              ",".join(props) if props else "-"))
    if note:
        out.append("     %s\n" % note)
    return ok, "".join(out), res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build", "model"))
    ap.add_argument("--only", default="", help="comma-separated run names")
    ap.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    ap.add_argument("--quiet", action="store_true", help="no message sequence charts")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    build = os.path.abspath(a.build)
    only = set(x for x in a.only.split(",") if x)
    runs = ([("model",) + r for r in MODEL_RUNS] + [("cycles",) + r for r in CYCLE_RUNS]
            + [("variant",) + r for r in VARIANT_RUNS] + [("finding",) + r for r in FINDING_RUNS])
    if a.list:
        for r in runs:
            print("%-8s %s" % (r[0], r[1]))
        return 0
    runs = [r for r in runs if not only or r[1] in only]
    unknown = only - {r[1] for r in runs}
    if unknown:
        print("check.py: no run named %s (see --list)" % ", ".join(sorted(unknown)))
        return 1
    if not shutil.which("spin"):
        print("check.py: spin not found (Debian package spin; mk/deps.sh installs it)")
        return 1
    start = time.monotonic()
    from concurrent.futures import ThreadPoolExecutor
    bad, results = [], []
    with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        for ok, text, res in pool.map(lambda r: run_one(r, build, a.quiet), runs):
            sys.stdout.write(text)
            sys.stdout.flush()
            results.append(res)
            if not ok:
                bad.append(res["name"])
    total = time.monotonic() - start
    models = [r for r in results if r.get("kind") == "model" and r.get("states")]
    print("model-check: %d runs, %d failed, %.1f s; the model: %d states in %d scenarios, "
          "at most %.1f MB, %.1f s of search"
          % (len(results), len(bad), total, sum(r["states"] for r in models), len(models),
             max([r["memory"] or 0 for r in models] or [0]), sum(r["run_s"] for r in models)))
    with open(os.path.join(build, "summary.json"), "w", encoding="utf-8") as f:
        json.dump([{k: r.get(k) for k in ("kind", "name", "defines", "states", "transitions",
                                          "memory", "depth", "run_s", "compile_s", "errors",
                                          "violation", "props", "fail")}
                   for r in results], f, indent=1)
    if bad:
        print("model-check: FAILED: " + ", ".join(bad))
        return 1
    print("model-check: PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
