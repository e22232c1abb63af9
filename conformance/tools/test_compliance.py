#!/usr/bin/python3
"""Self-test of compliance.py: run it on every fixture tree under
testdata/ and check its exit code, its output, and (where given) the status
of requirements in its JSON report. Each fixture holds spec/, optional ref/,
conformance/ and fuzz/ trees, and expect.json:
    {"exit": N, "contains": ["text", ...], "json": {"ID": "status", ...}}
The fixtures prove that the tool counts citations in the spin model
(spec/model/*.pml) as tests, that it fails on an untested MUST, on a stale or
unknown exception, on a duplicate ID, on a tag without level or party, on a
stray keyword, and on a citation of an unknown or withdrawn ID."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "compliance.py")


def main():
    data = os.path.join(HERE, "testdata")
    failures = 0
    cases = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    for case in cases:
        root = os.path.join(data, case)
        with open(os.path.join(root, "expect.json"), encoding="utf-8") as f:
            exp = json.load(f)
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "report.json")
            tree = os.path.join(tmp, "tree")  # a copy: --prune-stale rewrites files
            shutil.copytree(root, tree)
            p = subprocess.run([sys.executable, TOOL, "--root", tree, "--exclude", "",
                                "--json", out_json] + exp.get("args", []),
                               capture_output=True, text=True)
            for rel, text in exp.get("file_contains", {}).items():
                with open(os.path.join(tree, rel), encoding="utf-8") as f:
                    body = f.read()
                if (text not in body) if not text.startswith("!") else (text[1:] in body):
                    problems_pre = "file %s: expected %s %r" % (rel, "no" if text.startswith("!") else "", text)
                    exp.setdefault("_pre", []).append(problems_pre)
            problems = list(exp.get("_pre", []))
            if p.returncode != exp["exit"]:
                problems.append("exit %d, expected %d" % (p.returncode, exp["exit"]))
            for text in exp.get("contains", []):
                if text not in p.stdout:
                    problems.append("output lacks %r" % text)
            if exp.get("json"):
                if not os.path.exists(out_json):
                    problems.append("no JSON report written")
                else:
                    with open(out_json, encoding="utf-8") as f:
                        rep = json.load(f)
                    status = {r["id"]: r["status"] for r in rep["requirements"]}
                    for rid, st in exp["json"].items():
                        if status.get(rid) != st:
                            problems.append("%s status %r, expected %r" % (rid, status.get(rid), st))
        if problems:
            failures += 1
            print("FAIL %s: %s\n--- output ---\n%s" % (case, "; ".join(problems), p.stdout))
        else:
            print("ok   %s" % case)
    print("test_compliance: %d cases, %d failed" % (len(cases), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
