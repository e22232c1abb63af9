#!/usr/bin/python3
"""decoder_selftest.py — the decoder oracle tests itself: every mutant
decoder of mutant_decoder.py must disagree with the reference on some input
(`handoff-conform decode --fail-fast`: each stops at its first
disagreement), and the correct Python decoder (conformance/peers/python/
decoder.py) must agree on every one.

    decoder_selftest.py --runner build/bin/handoff-conform [-n N] [--seed S]
                        [--out DIR]

Exit status 0 when every mutant is caught and the correct decoder passes.
Verdicts come from the runner's exit status and its JSON report only.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = "/usr/bin/python3"
sys.path.insert(0, HERE)


def run(runner, out, name, cmd, n, seed, fail_fast):
    report = os.path.join(out, "decode-%s.json" % name)
    args = [runner, "decode", "-q", "-n", str(n), "--seed", str(seed), "--json", report,
            "--vectors", os.path.join(ROOT, "conformance", "vectors")]
    if fail_fast:
        args += ["--fail-fast", "--max-reports", "1", "--minimize-trials", "100"]
    t0 = time.monotonic()
    p = subprocess.run(args + ["--"] + cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=600)
    secs = time.monotonic() - t0
    try:
        with open(report, encoding="utf-8") as fh:
            cases = json.load(fh)["cases"]
    except (OSError, ValueError, KeyError):
        cases = None
    return p.returncode, cases, p.stdout, secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", default="build/conform/decoder-selftest")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    from mutant_decoder import MUTANTS
    ok = True
    t_all = time.monotonic()
    for name, m in MUTANTS.items():
        cmd = [PY, os.path.join(HERE, "mutant_decoder.py"), "--mutant", name, "{frame_type}"]
        rc, cases, text, secs = run(a.runner, a.out, name, cmd, a.n, a.seed, True)
        bad = [c for c in cases or [] if c["verdict"] != "pass" and not c["id"].startswith("decode.mutated.")]
        if rc == 1 and bad:
            c = bad[0]
            print("caught   %-28s (%s) by %s: %s / %s  [%.1f s]" % (name, m["violates"], c["id"], c["expected"][:60],
                                                                   c["actual"][:60], secs))
        else:
            ok = False
            print("SURVIVED %-28s (%s): runner exit %d, %d failing cases\n%s" % (name, m["violates"], rc,
                                                                                len(bad), text[-2000:]))
    cmd = [PY, os.path.join(ROOT, "conformance", "peers", "python", "decoder.py"), "{frame_type}"]
    rc, cases, text, secs = run(a.runner, a.out, "correct", cmd, a.n, a.seed, False)
    if rc == 0 and cases and all(c["verdict"] == "pass" for c in cases):
        print("correct  decoder.py agrees on all %d cases, -n %d --seed %d  [%.1f s]" % (len(cases), a.n, a.seed, secs))
    else:
        ok = False
        print("FAILED   decoder.py: runner exit %d\n%s" % (rc, text[-3000:]))
    print("%d mutants, %s; %.1f s" % (len(MUTANTS), "all caught, the correct decoder passes" if ok else "SELF-TEST FAILED",
                                     time.monotonic() - t_all))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
