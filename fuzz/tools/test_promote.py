#!/usr/bin/python3
"""Self-test of fuzz/tools/promote.py (make test-fuzz-promote), end to end
in a scratch copy of the tree (conformance/tools, conformance/vectors,
proto, fuzz/tools): a rejected payload becomes a golden vector with the
reference error name that make_vectors.py --check accepts, a decodable one a
vector with Google's decoding, a stream a named regression file, and an
input the target still fails on is refused with nothing written.

    test_promote.py --verdict BIN --bindir DIR   (DIR holds <target>_replay)
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
failures = []


def check(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def promote(tmp, a, target, data, *extra, replay=None):
    path = os.path.join(tmp, "input.bin")
    with open(path, "wb") as fh:
        fh.write(data)
    cmd = [PY, os.path.join(tmp, "fuzz", "tools", "promote.py"), "--root", tmp, "--verdict", a.verdict,
           "--replay", replay or os.path.join(a.bindir, target + "_replay"), "--input", path,
           "--target", target] + list(extra)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--verdict", required=True)
    ap.add_argument("--bindir", required=True)
    a = ap.parse_args()
    a.verdict = os.path.abspath(a.verdict)
    a.bindir = os.path.abspath(a.bindir)
    with tempfile.TemporaryDirectory() as tmp:
        for d in ("conformance/tools", "conformance/vectors", "proto", "fuzz/tools"):
            shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d),
                            ignore=shutil.ignore_patterns("__pycache__"))
        token = bytes(range(16))

        # A rejected offer payload: a 15-byte token.
        r = promote(tmp, a, "fuzz_offer", b"\x12\x0f" + token[:15] + b"\x1a\x04echo\x20\x01",
                    "--name", "fuzz-test-offer-token-15")
        print(r.stdout)
        vec = os.path.join(tmp, "conformance", "vectors", "fuzz-test-offer-token-15.json")
        check(r.returncode == 0 and os.path.exists(vec), "rejected payload -> golden vector")
        if os.path.exists(vec):
            v = json.load(open(vec))
            check(v["expect"] == {"error": "TOKEN_LENGTH"} and v["requirements"] == ["MSG-8"]
                  and v["message"] == "offer" and v["direction"] == "broker->backend",
                  "its expectation is the reference error name, MSG-8")
        check(len(os.listdir(os.path.join(tmp, "fuzz", "corpus", "fuzz_offer"))) > 0,
              "corpus entry and vector seeds of fuzz_offer written")

        # A decodable ready payload with an explicit default (not canonical).
        r = promote(tmp, a, "fuzz_ack", b"\x0a\x10" + token + b"\x10\x00\x20\x05", "--message", "ready",
                    "--name", "fuzz-test-ready-explicit-false")
        print(r.stdout)
        vec = os.path.join(tmp, "conformance", "vectors", "fuzz-test-ready-explicit-false.json")
        check(r.returncode == 0 and os.path.exists(vec), "decodable payload -> golden vector")
        if os.path.exists(vec):
            v = json.load(open(vec))
            ok = v["expect"].get("ok", {})
            check(ok.get("message", {}).get("accepted") is False and
                  ok.get("envelope", {}).get("kind") == 2 and
                  ok.get("envelope", {}).get("request_id") == "5" and v["canonical"] is False,
                  "its expectation is Google's decoding of the ready frame")
        r = subprocess.run([PY, os.path.join(tmp, "conformance", "tools", "make_vectors.py"), "--check"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0, "make_vectors.py --check accepts the promoted vectors")
        r = subprocess.run([PY, os.path.join(tmp, "fuzz", "tools", "vector_seeds.py"), "--root", tmp,
                            "--check"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0, "every promoted vector is a seed of its targets")

        # A stream for the frame reader: a named regression file.
        r = promote(tmp, a, "fuzz_frame_reader", b"\x00\x07\x01\x00\x00\x00\x00\x02",
                    "--name", "reader-test-stream", "--description", "self-test")
        print(r.stdout)
        reg = os.path.join(tmp, "conformance", "regression", "fuzz_frame_reader", "reader-test-stream")
        readme = os.path.join(tmp, "conformance", "regression", "README.md")
        check(r.returncode == 0 and os.path.exists(reg), "stream -> named regression file")
        check(os.path.exists(readme) and "reader-test-stream" in open(readme).read(),
              "listed in conformance/regression/README.md")

        # Still failing: refused, nothing written.
        before = sorted(os.listdir(os.path.join(tmp, "conformance", "vectors")))
        r = promote(tmp, a, "fuzz_hello", b"\x1a\x02hi", "--name", "fuzz-test-unfixed",
                    replay="/bin/false")
        print(r.stdout)
        check(r.returncode != 0 and "fix the bug first" in r.stdout and
              sorted(os.listdir(os.path.join(tmp, "conformance", "vectors"))) == before and
              not os.path.exists(os.path.join(tmp, "fuzz", "corpus", "fuzz_hello",
                                              hashlib.sha1(b"\x1a\x02hi").hexdigest())),
              "an input the target still fails on is refused, nothing written")
    if failures:
        sys.exit("test_promote: %d failed" % len(failures))
    print("test_promote: all passed")


if __name__ == "__main__":
    main()
