#!/usr/bin/python3
"""selftest.py — the conformance suite tests itself: every mutant backend
(mutant_backend.py, one known defect each) must be killed by some case, and
every case must kill some mutant or say why none can reach it.

    selftest.py --runner build/bin/handoff-conform --out DIR [--quick] [--jobs N] [--only NAME]

--quick (make test): per mutant, its hinted cases first, stopping at the
first kill; the whole suite (still stopping at the first kill) only if the
hints miss. Without --quick (make conform-selftest): every mutant against
every case, plus the clean example backend in both modes as the baseline,
then the kill matrix.

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
MUTANT = os.path.join(HERE, "mutant_backend.py")
BACKEND = os.path.join(HERE, "..", "peers", "python", "backend.py")
PY = "/usr/bin/python3"

MODES = {
    # Declarations for each mode, as the clean backend's manifests say.
    "backend": {"features": ["backend-ready", "early-data", "multi-offer", "service-name-check"],
                "ready": "backend"},
    "legacy": {"features": ["multi-offer", "service-name-check"], "ready": "legacy"},
}
CONSTANTS = {"offer_timeout_ms": 500, "replay_capacity": 8}
KILLS = ("fail", "crash", "timeout", "unimplemented", "error")


def sut_command(program, mutant, mode):
    cmd = [PY, program]
    if mutant:
        cmd += ["--mutant", mutant]
    return cmd + ["--handoff-endpoint", "{handoff_endpoint}", "--backend-pipe", "{backend_pipe}",
                  "--service", "{service}", "--ready-mode", MODES[mode]["ready"],
                  "--offer-timeout-ms", "{offer_timeout_ms}", "--replay-capacity", "{replay_capacity}",
                  "--log-level", "warn"]


def run_suite(runner, out, label, program, mutant, mode, runs=(), fail_fast=False):
    report = os.path.join(out, label + ".json")
    args = [runner, "backend", "-q", "--json", report,
            "--failure-traces", os.path.join(out, "traces", label)]
    for f in MODES[mode]["features"]:
        args += ["--feature", f]
    for k, v in CONSTANTS.items():
        args += ["--constant", "%s=%d" % (k, v)]
    for r in runs:
        args += ["--run", r]
    if fail_fast:
        args.append("-x")
    args += ["--"] + sut_command(program, mutant, mode)
    t0 = time.monotonic()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - t0
    try:
        with open(report) as f:
            cases = json.load(f)["cases"]
    except (OSError, ValueError):
        sys.stdout.write(p.stdout)
        raise SystemExit("selftest: the runner wrote no report for %s (exit %d)" % (label, p.returncode))
    return {c["id"]: c for c in cases}, took, p.returncode


def kills(results):
    return [cid for cid, c in results.items() if c["verdict"] in KILLS]


def quick(args, mutants):
    failed = []
    t0 = time.monotonic()

    def one(m):
        name = m["name"]
        res, took, _ = run_suite(args.runner, args.out, name, MUTANT, name, m["mode"], m["hint"], True)
        k = kills(res)
        how = "hint"
        if not k:
            res, more, _ = run_suite(args.runner, args.out, name, MUTANT, name, m["mode"], (), True)
            took += more
            k = kills(res)
            how = "suite"
        return name, m, k[:1], res, how, took

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        for name, m, k, res, how, took in ex.map(one, mutants):
            if k:
                print("  \u2714 %-26s killed by %s (%s; %s, %.1f s)" % (
                    name, k[0], res[k[0]]["verdict"], "hinted case" if how == "hint" else "full suite", took))
            else:
                print("  \u2717 %-26s NOT KILLED (violates %s: %s)" % (name, m["violates"], m["what"]))
                failed.append(name)
    print("\n%d mutants, %d killed, %d survived (%.0f s)" % (
        len(mutants), len(mutants) - len(failed), len(failed), time.monotonic() - t0))
    return 1 if failed else 0


def full(args, mutants, cases):
    t0 = time.monotonic()
    jobs = [("clean-" + mode, BACKEND, None, mode) for mode in MODES]
    jobs += [(m["name"], MUTANT, m["name"], m["mode"]) for m in mutants]

    def one(j):
        label, program, mutant, mode = j
        res, took, _ = run_suite(args.runner, args.out, label, program, mutant, mode)
        return label, res, took

    matrix = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        for label, res, took in ex.map(one, jobs):
            matrix[label] = res
            print("  ran %-28s %3d kills  %.1f s" % (label, len(kills(res)), took), flush=True)
    rc = 0
    # The baseline: the clean backend passes everything it runs.
    for mode in MODES:
        bad = kills(matrix["clean-" + mode])
        if bad:
            print("baseline clean-%s FAILS: %s" % (mode, ", ".join(bad)))
            rc = 1
    names = [m["name"] for m in mutants]
    # The matrix: one row per case, one column per mutant.
    print("\nKill matrix (X killed, . passed, - skipped); columns:")
    for i, n in enumerate(names):
        print("  %2d %-26s violates %s" % (i + 1, n, MUTANTS_BY[n]["violates"]))
    head = "".join("%d" % ((i + 1) // 10) if (i + 1) >= 10 else " " for i in range(len(names)))
    print("\n%-52s %s" % ("", head))
    print("%-52s %s  kills" % ("case", "".join(str((i + 1) % 10) for i in range(len(names)))))
    unreached = []
    for c in cases:
        row, n = "", 0
        for name in names:
            r = matrix[name].get(c["id"])
            v = r["verdict"] if r else "skip"
            if v in KILLS:
                row += "X"
                n += 1
            else:
                row += "." if v == "pass" else "-"
        print("%-52s %s  %d" % (c["id"], row, n))
        if n == 0:
            unreached.append(c)
    survivors = [n for n in names if not kills(matrix[n])]
    print("\n%d cases, %d mutants; %d mutants survived; %d cases kill no mutant" % (
        len(cases), len(names), len(survivors), len(unreached)))
    for n in survivors:
        print("  SURVIVED: %s (violates %s: %s)" % (n, MUTANTS_BY[n]["violates"], MUTANTS_BY[n]["what"]))
        rc = 1
    for c in unreached:
        if c.get("no_mutant"):
            print("  no mutant for %s: %s" % (c["id"], c["no_mutant"]))
        elif all(matrix[n].get(c["id"], {}).get("verdict", "skip") == "skip" for n in names):
            print("  NOT RUN here: %s (skipped for every mutant: %s)" % (
                c["id"], next(iter(matrix.values())).get(c["id"], {}).get("note", "")))
        else:
            print("  KILLS NOTHING and gives no reason: %s" % c["id"])
            rc = 1
    print("\nMUSTs of the backend error table with no mutant (checked by unit tests only):")
    for u in UNIT_ONLY:
        print("  %s: %s" % (u["reqs"], u["why"]))
    with open(os.path.join(args.out, "matrix.json"), "w") as f:
        json.dump({n: {cid: r["verdict"] for cid, r in matrix[n].items()} for n in matrix}, f, indent=1)
    print("\n(%.0f s; reports and failure traces in %s)" % (time.monotonic() - t0, args.out))
    return rc


MUTANTS_BY = {}
UNIT_ONLY = []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    listing = json.loads(subprocess.check_output([PY, MUTANT, "--list"]))
    mutants = [m for m in listing if "name" in m]
    UNIT_ONLY.extend(next(x["unit_only"] for x in listing if "unit_only" in x))
    MUTANTS_BY.update({m["name"]: m for m in mutants})
    if args.only:
        mutants = [m for m in mutants if m["name"] in args.only]
    cases = json.loads(subprocess.check_output([args.runner, "backend", "--list-json"]))
    print("conform self-test: %d mutant backends, %d cases%s" % (
        len(mutants), len(cases), " (quick: stop at each mutant's first kill)" if args.quick else ""))
    return quick(args, mutants) if args.quick else full(args, mutants, cases)


if __name__ == "__main__":
    sys.exit(main())
