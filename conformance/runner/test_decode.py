#!/usr/bin/python3
"""test_decode.py — tests of `handoff-conform decode` itself: usage errors,
a SUT that cannot start, hangs, dies or answers garbage (each a named
verdict, bounded, nothing left behind), the report of a disagreement
(minimized input as hex, both verdicts), runs repeated by their seed, and
the JUnit and JSON reports.

    test_decode.py BIN_DIR
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
CONFORM = os.path.join(BIN, "handoff-conform")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = "/usr/bin/python3"
DECODER = os.path.join(ROOT, "conformance", "peers", "python", "decoder.py")
MUTANT = os.path.join(ROOT, "conformance", "mutants", "mutant_decoder.py")
XSD = os.path.join(HERE, "junit.xsd")
TMP = tempfile.mkdtemp(prefix="hcd-")
failures = []


def run(args, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run([CONFORM, "decode", "--tmpdir", TMP] + args, cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout, time.monotonic() - t0


def check(name, cond, detail=""):
    print("  %s %s%s" % ("\u2714" if cond else "\u2717", name, "" if cond else "\n      " + detail[-1500:]))
    if not cond:
        failures.append(name)


def left_behind():
    return os.listdir(TMP)


def main():
    print("handoff-conform decode")
    rc, out, _ = run([])
    check("no SUT command: usage error, exit 2", rc == 2 and "no SUT command" in out, out)
    rc, out, _ = run(["--", PY, DECODER, "{case}"])
    check("a placeholder of another mode: usage error, exit 2", rc == 2 and "{case}" in out, out)
    rc, out, _ = run(["--help"])
    check("--help states the stdin/stdout contract", rc == 0 and "4-byte little-endian length" in out
          and "{frame_type}" in out and "CLOSED" in out, out)
    rc, out, _ = run(["-n", "10", "--", "/nonexistent-decoder", "{frame_type}"])
    check("SUT cannot execute: clear message, exit 1, nothing left", rc == 1 and "cannot be started" in out
          and not left_behind(), out)
    rc, out, took = run(["-x", "-n", "0", "--timeout-ms", "300", "--", "/bin/sh", "-c", "exec sleep 30"])
    check("a SUT that never answers: TIMEOUT, bounded", rc == 1 and "TIMEOUT (no answer line within 300 ms" in out
          and took < 5, out)
    rc, out, _ = run(["-x", "-n", "0", "--", "/bin/sh", "-c", "head -c 4 >/dev/null; echo oops >&2; exit 3"])
    check("a SUT that dies: CRASH with its exit status and stderr", rc == 1 and "CRASH (" in out
          and "exited with status 3" in out and "oops" in out, out)
    rc, out, _ = run(["-x", "-n", "0", "--", "/bin/sh", "-c", "while head -c 4 >/dev/null; do echo '{not json'; done"])
    check("a SUT that answers garbage: GARBAGE", rc == 1 and "GARBAGE ({not json)" in out, out)
    rc, out, _ = run(["-x", "-n", "0", "--", "/bin/sh", "-c", "while head -c 4 >/dev/null; do echo MALFORMED; done"])
    check("a wrong error name is a disagreement, both verdicts shown", rc == 1 and "SUT: MALFORMED" in out
          and "reference: CLOSED" in out, out)
    check("nothing left behind by failing SUTs", not left_behind(), str(left_behind()))
    # A mutant only mutated inputs catch: minimized, as hex, repeatable by its seed.
    args = ["-x", "-n", "3000", "--seed", "5", "--", PY, MUTANT, "--mutant", "truncated-varint-accepted", "{frame_type}"]
    rc, out1, _ = run(args)
    m = re.search(r"decode\.disagreement\.(\S+).*?input \((\w+) frame, (\d+) bytes, minimized, mutated input (\d+) "
                  r"of seed 5, from vector (\S+)\): ([0-9a-f]+) \| original (\d+) bytes", out1, re.S)
    check("a disagreement: minimized input as hex, origin, both verdicts", rc == 1 and m is not None
          and int(m.group(3)) < int(m.group(7)) and "reference: MALFORMED" in out1, out1)
    rc2, out2, _ = run(args)
    m2 = re.search(r"decode\.disagreement\.(\S+)", out2)
    check("the same seed gives the same run", rc2 == 1 and m is not None and m2 is not None
          and m.group(1) == m2.group(1), out2)
    # The correct decoder: exit 0, reports valid.
    junit, rep = os.path.join(TMP, "..", "hcd-decode.xml"), os.path.join(TMP, "..", "hcd-decode.json")
    rc, out, _ = run(["-q", "-n", "500", "--seed", "9", "--junit", junit, "--json", rep, "--", PY, DECODER,
                      "{frame_type}"])
    check("the Python decoder: exit 0, the seed printed", rc == 0 and "0 disagreements" in out and "seed 9" in out, out)
    x = subprocess.run(["xmllint", "--noout", "--schema", XSD, junit], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check("JUnit validates against junit.xsd", x.returncode == 0, x.stdout)
    try:
        with open(rep, encoding="utf-8") as fh:
            j = json.load(fh)
        ok = j["mode"] == "decode" and all(c["verdict"] == "pass" for c in j["cases"]) and \
            any(c["id"] == "decode.stream.closed-hello-reply" for c in j["cases"])
    except (OSError, ValueError, KeyError) as e:
        ok, j = False, str(e)
    check("JSON report: mode decode, every case passed", ok, str(j)[:500])
    for p in (junit, rep):
        if os.path.exists(p):
            os.unlink(p)
    check("nothing left behind", not left_behind(), str(left_behind()))
    os.rmdir(TMP)
    print("%d failed" % len(failures) if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
