#!/usr/bin/python3
"""Summary of libFuzzer campaigns (make fuzz-all, make fuzz-compare).

    fuzz_summary.py DIR TARGET...            DIR/<target>/campaign.log + artifacts/
    fuzz_summary.py --compare DIR [--cov BINDIR --seeds SEEDDIR] TARGET...
                                             DIR/<target>{,-bytes}/campaign.log; with
                                             --cov, also the ref/lib/wire line and branch
                                             coverage of each variant's corpus (seeds +
                                             new inputs) replayed by BINDIR/<target>_replay
                                             (a make coverage build): one yardstick for both

Per target: executions, execs/s, coverage when the seed corpus was loaded
(INITED cov/ft) and at the end, what the campaign added, new corpus units,
findings (crash, leak, timeout, oom artifacts and sanitizer reports). Exits
1 when any campaign found something, so a CI job fails on a finding.
"""
import json
import os
import re
import subprocess
import sys


def parse(log_path):
    r = {"execs": 0, "eps": 0, "new_units": 0, "cov0": None, "ft0": None, "cov": None, "ft": None,
         "errors": []}
    if not os.path.exists(log_path):
        r["errors"].append("no log")
        return r
    for line in open(log_path, errors="replace"):
        m = re.search(r"\bcov: (\d+) ft: (\d+)", line)
        if m:
            cov, ft = int(m.group(1)), int(m.group(2))
            if "INITED" in line and r["cov0"] is None:
                r["cov0"], r["ft0"] = cov, ft
            r["cov"], r["ft"] = cov, ft
        m = re.match(r"stat::(\w+):\s+(\d+)", line)
        if m:
            key = {"number_of_executed_units": "execs", "average_exec_per_sec": "eps",
                   "new_units_added": "new_units"}.get(m.group(1))
            if key:
                r[key] = int(m.group(2))
        m = re.search(r"ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)"
                      r"[: ]+(.*)", line)
        if m:
            r["errors"].append(m.group(1) + ": " + m.group(2).strip()[:60])
        if re.match(r"\S+: .*(differ|failed|not |wrong|before|after)", line) and "INFO" not in line \
                and line.startswith("fuzz_"):
            r["errors"].append(line.strip()[:90])
    return r


def artifacts(d):
    if not os.path.isdir(d):
        return []
    return sorted(f for f in os.listdir(d)
                  if f.split("-")[0] in ("crash", "leak", "timeout", "oom", "slow"))


def fmt(v):
    return "-" if v is None else str(v)


def summary(root, targets):
    print("%-20s %10s %8s %11s %11s %9s %6s  %s" % ("target", "execs", "exec/s", "cov start",
                                                   "cov end", "+cov/+ft", "units", "findings"))
    found = 0
    for t in targets:
        d = os.path.join(root, t)
        r = parse(os.path.join(d, "campaign.log"))
        arts = artifacts(os.path.join(d, "artifacts"))
        findings = arts + [e for e in r["errors"] if not arts]
        found += bool(findings)
        dcov = "%s/%s" % ((r["cov"] - r["cov0"]) if r["cov0"] is not None else "-",
                          (r["ft"] - r["ft0"]) if r["ft0"] is not None else "-")
        print("%-20s %10d %8d %5s/%-5s %5s/%-5s %9s %6d  %s" % (
            t, r["execs"], r["eps"], fmt(r["cov0"]), fmt(r["ft0"]), fmt(r["cov"]), fmt(r["ft"]), dcov,
            r["new_units"], ", ".join(findings) if findings else "none"))
        for a in arts:
            print("    %s" % os.path.join(d, "artifacts", a))
    print("(cov/ft: libFuzzer's edge coverage / features; start = the seed corpus loaded)")
    return found


def wire_coverage(bindir, target, dirs, work):
    """Line and branch coverage of ref/lib/wire by replaying dirs."""
    import glob
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = dict(os.environ, LLVM_PROFILE_FILE=os.path.join(work, "p-%m.profraw"))
    binary = os.path.join(bindir, target + "_replay")
    subprocess.run([binary] + dirs, env=env, stdout=subprocess.DEVNULL, check=True)
    prof = os.path.join(work, "all.profdata")
    subprocess.run(["llvm-profdata-14", "merge", "-sparse", "-o", prof] +
                   glob.glob(os.path.join(work, "*.profraw")), check=True)
    out = subprocess.run(["llvm-cov-14", "export", "-summary-only", "-instr-profile=" + prof, binary] +
                         sorted(glob.glob("ref/lib/wire/*.c")), stdout=subprocess.PIPE, check=True)
    tot = json.loads(out.stdout)["data"][0]["totals"]
    return tot["lines"]["covered"], tot["lines"]["count"], tot["branches"]["covered"], \
        tot["branches"]["count"]


def compare(root, targets, cov=None, seeds=None):
    print("%-18s %-21s %9s %11s %11s %6s %s" % ("target", "mutator", "execs", "cov start",
                                                 "cov end", "units",
                                                 "ref/lib/wire lines, branches of the corpus"
                                                 if cov else ""))
    for t in targets:
        for v, label in ((t, "structure-aware"), (t + "-bytes", "libFuzzer byte-level")):
            r = parse(os.path.join(root, v, "campaign.log"))
            extra = ""
            if cov:
                lc, ln, bc, bn = wire_coverage(cov, t, [os.path.join(seeds, t),
                                                        os.path.join(root, v, "new")],
                                               os.path.join(root, v, "prof"))
                extra = "%5.1f%% %4d/%-4d %5.1f%% %4d/%-4d" % (pct(lc, ln), lc, ln, pct(bc, bn), bc, bn)
            print("%-18s %-21s %9d %5s/%-5s %5s/%-5s %6d %s" % (
                t, label, r["execs"], fmt(r["cov0"]), fmt(r["ft0"]), fmt(r["cov"]), fmt(r["ft"]),
                r["new_units"], extra))
    return 0


def pct(c, n):
    return 100.0 * c / n if n else 100.0


def main():
    args = sys.argv[1:]
    if args and args[0] == "--compare":
        root, rest, cov, seeds = args[1], args[2:], None, None
        while rest and rest[0] in ("--cov", "--seeds"):
            if rest[0] == "--cov":
                cov = rest[1]
            else:
                seeds = rest[1]
            rest = rest[2:]
        sys.exit(compare(root, rest, cov, seeds or "fuzz/corpus"))
    if len(args) < 2:
        sys.exit(__doc__)
    sys.exit(1 if summary(args[0], args[1:]) else 0)


if __name__ == "__main__":
    main()
