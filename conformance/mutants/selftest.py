#!/usr/bin/python3
"""selftest.py — the conformance suite tests itself, in all three modes: every
mutant (mutant_backend.py, mutant_broker.py, mutant_client.py: the Python
example peers with one known defect each) must be killed by some case, and
every case must kill some mutant or say why none can reach it.

    selftest.py --runner build/bin/handoff-conform --out DIR [--quick] [--jobs N]
                [--only NAME] [--mode backend|broker|client]

--quick (make test): per mutant, its hinted cases first, stopping at the
first kill; the whole suite (still stopping at the first kill) only if the
hints miss. Without --quick (make conform-selftest): every mutant against
every case of its mode, plus the clean example peers as the baseline, then
one kill matrix over the three modes.

Exit status 0 when every mutant is killed (and, in full mode, every case
kills a mutant or has a no-mutant reason, and the baseline passes).
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PEERS = os.path.join(ROOT, "conformance", "peers", "python")
PY = "/usr/bin/python3"
KILLS = ("fail", "crash", "timeout", "unimplemented", "error")


def backend_suite(ready, features):
    args = ["--handoff-endpoint", "{handoff_endpoint}", "--backend-pipe", "{backend_pipe}", "--service", "{service}",
            "--ready-mode", ready, "--offer-timeout-ms", "{offer_timeout_ms}", "--replay-capacity",
            "{replay_capacity}", "--log-level", "warn"]
    return {"runner": "backend", "features": features, "constants": {"offer_timeout_ms": 500, "replay_capacity": 8},
            "program": os.path.join(PEERS, "backend.py"), "mutants": os.path.join(HERE, "mutant_backend.py"),
            "args": args}


def manifest_suite(runner, manifest, mutants):
    """A suite from a Python peer's manifest: its command, declarations."""
    with open(os.path.join(PEERS, manifest)) as f:
        m = json.load(f)
    cmd = m["command"]
    return {"runner": runner, "features": m["features"], "constants": m.get("constants", {}),
            "program": os.path.join(ROOT, cmd[1]), "mutants": os.path.join(HERE, mutants), "args": cmd[2:]}


SUITES = {
    # Declarations for each suite, as the clean peers' manifests say.
    "backend": backend_suite("backend", ["backend-ready", "early-data", "multi-offer", "service-name-check"]),
    "legacy": backend_suite("legacy", ["multi-offer", "service-name-check"]),
    "broker": manifest_suite("broker", "manifest-broker.json", "mutant_broker.py"),
    "client": manifest_suite("client", "manifest-client.json", "mutant_client.py"),
    "client-ready": manifest_suite("client", "manifest-client-ready.json", "mutant_client.py"),
    "client-legacy": manifest_suite("client", "manifest-client-legacy.json", "mutant_client.py"),
}
MODES = ("backend", "broker", "client")


def run_suite(runner, out, label, suite, mutant=None, runs=(), fail_fast=False):
    s = SUITES[suite]
    report = os.path.join(out, label + ".json")
    args = [runner, s["runner"], "-q", "--json", report, "--failure-traces", os.path.join(out, "traces", label)]
    for f in s["features"]:
        args += ["--feature", f]
    for k, v in s["constants"].items():
        args += ["--constant", "%s=%d" % (k, v)]
    for r in runs:
        args += ["--run", r]
    if fail_fast:
        args.append("-x")
    program = [s["mutants"], "--mutant", mutant] if mutant else [s["program"]]
    args += ["--", PY] + program + s["args"]
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT, encoding="utf-8",
                       errors="replace")
    took = time.monotonic() - t0
    try:
        with open(report) as f:
            cases = json.load(f)["cases"]
    except (OSError, ValueError):
        sys.stdout.write(p.stdout)
        raise SystemExit("selftest: the runner wrote no report for %s (exit %d)" % (label, p.returncode))
    return {c["id"]: c for c in cases}, took


def kills(results):
    return [cid for cid, c in results.items() if c["verdict"] in KILLS]


def quick(args, mutants):
    failed = []
    t0 = time.monotonic()

    def one(m):
        name = m["uid"]
        res, took = run_suite(args.runner, args.out, name, m["mode"], m["name"], m["hint"], True)
        k, how = kills(res), "hint"
        if not k:
            res, more = run_suite(args.runner, args.out, name, m["mode"], m["name"], (), True)
            took += more
            k, how = kills(res), "suite"
        return name, m, k[:1], res, how, took

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        for name, m, k, res, how, took in ex.map(one, mutants):
            if k:
                print("  \u2714 %-8s %-30s killed by %s (%s; %s, %.1f s)" % (
                    SUITES[m["mode"]]["runner"], name, k[0], res[k[0]]["verdict"],
                    "hinted case" if how == "hint" else "full suite", took), flush=True)
            else:
                print("  \u2717 %-8s %-30s NOT KILLED (violates %s: %s)" % (
                    SUITES[m["mode"]]["runner"], name, m["violates"], m["what"]), flush=True)
                failed.append(name)
    print("\n%d mutants, %d killed, %d survived (%.0f s)" % (
        len(mutants), len(mutants) - len(failed), len(failed), time.monotonic() - t0))
    return 1 if failed else 0


def print_matrix(mode, names, cases, matrix, by):
    print("\n== %s mode: %d cases x %d mutants (X killed, . passed, - skipped); columns:" % (
        mode, len(cases), len(names)))
    for i, n in enumerate(names):
        print("  %2d %-30s [%s] violates %s" % (i + 1, n, by[n]["mode"], by[n]["violates"]))
    head = "".join("%d" % ((i + 1) // 10 % 10) if (i + 1) >= 10 else " " for i in range(len(names)))
    print("\n%-48s %s" % ("", head))
    print("%-48s %s  kills" % ("case", "".join(str((i + 1) % 10) for i in range(len(names)))))
    unreached = []
    for c in cases:
        row, n = "", 0
        for name in names:
            v = matrix[name].get(c["id"], {}).get("verdict", "skip")
            row += "X" if v in KILLS else "." if v == "pass" else "-"
            n += v in KILLS
        print("%-48s %s  %d" % (c["id"], row, n))
        if n == 0:
            unreached.append(c)
    return unreached


def full(args, mutants, cases_by_mode, unit_only):
    t0 = time.monotonic()
    suites = sorted({m["mode"] for m in mutants} | {s for s in SUITES if SUITES[s]["runner"] in args.modes})
    jobs = [("clean-" + s, s, None) for s in suites] + [(m["uid"], m["mode"], m["name"]) for m in mutants]

    def one(j):
        label, suite, mutant = j
        res, took = run_suite(args.runner, args.out, label, suite, mutant)
        return label, res, took

    matrix = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        for label, res, took in ex.map(one, jobs):
            matrix[label] = res
            print("  ran %-34s %3d kills  %.1f s" % (label, len(kills(res)), took), flush=True)
    rc = 0
    for s in suites:                                  # the baseline: clean peers pass
        bad = kills(matrix["clean-" + s])
        if bad:
            print("baseline clean-%s FAILS: %s" % (s, ", ".join(bad)))
            rc = 1
    by = {m["uid"]: m for m in mutants}
    print("\nKill matrix")
    totals = []
    for mode in args.modes:
        names = [m["uid"] for m in mutants if SUITES[m["mode"]]["runner"] == mode]
        if not names:
            continue
        unreached = print_matrix(mode, names, cases_by_mode[mode], matrix, by)
        survivors = [n for n in names if not kills(matrix[n])]
        totals.append((mode, len(cases_by_mode[mode]), len(names), len(survivors), len(unreached)))
        for n in survivors:
            print("  SURVIVED: %s (violates %s: %s)" % (n, by[n]["violates"], by[n]["what"]))
            rc = 1
        for c in unreached:
            if c.get("no_mutant"):
                print("  no mutant for %s: %s" % (c["id"], c["no_mutant"]))
            elif all(matrix[n].get(c["id"], {}).get("verdict", "skip") == "skip" for n in names):
                print("  NOT RUN here: %s (skipped for every mutant)" % c["id"])
            else:
                print("  KILLS NOTHING and gives no reason: %s" % c["id"])
                rc = 1
        print("\nMUSTs of the %s error tables with no mutant (checked by unit tests only):" % mode)
        for u in unit_only[mode]:
            print("  %s: %s" % (u["reqs"], u["why"]))
    print("\nSummary:")
    for mode, nc, nm, ns, nu in totals:
        print("  %-8s %3d cases, %3d mutants, %d survived, %d cases kill none" % (mode, nc, nm, ns, nu))
    with open(os.path.join(args.out, "matrix.json"), "w") as f:
        json.dump({n: {cid: r["verdict"] for cid, r in matrix[n].items()} for n in matrix}, f, indent=1)
    print("\n(%.0f s; reports and failure traces in %s)" % (time.monotonic() - t0, args.out))
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--mode", action="append", choices=MODES, default=[])
    args = ap.parse_args()
    args.runner = os.path.abspath(args.runner)
    args.out = os.path.abspath(args.out)
    args.modes = args.mode or list(MODES)
    os.makedirs(args.out, exist_ok=True)
    mutants, unit_only = [], {}
    for mode in MODES:
        program = os.path.join(HERE, "mutant_%s.py" % mode)
        listing = json.loads(subprocess.check_output([PY, program, "--list"]))
        unit_only[mode] = next(x["unit_only"] for x in listing if "unit_only" in x)
        if mode in args.modes:
            mutants += [dict(m, uid="%s.%s" % (mode, m["name"])) for m in listing if "name" in m]
    if args.only:
        mutants = [m for m in mutants if m["name"] in args.only or m["uid"] in args.only]
    cases = {mode: json.loads(subprocess.check_output([args.runner, mode, "--list-json"])) for mode in args.modes}
    print("conform self-test: %d mutants (%s), %d cases%s" % (
        len(mutants), ", ".join("%s %d" % (mode, sum(SUITES[m["mode"]]["runner"] == mode for m in mutants))
                                for mode in args.modes),
        sum(len(c) for c in cases.values()), " (quick: stop at each mutant's first kill)" if args.quick else ""))
    return quick(args, mutants) if args.quick else full(args, mutants, cases, unit_only)


if __name__ == "__main__":
    sys.exit(main())
