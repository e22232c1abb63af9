#!/usr/bin/python3
"""test_runner.py — tests of handoff-conform itself: usage errors, a SUT
that cannot start, exits early, never opens its endpoints or says
"unimplemented"; the expected-failure list checked both ways; reports
(JUnit against junit.xsd, JSON), traces; and that the runner leaves no
process, socket or directory behind, also when interrupted.

    test_runner.py BIN_DIR
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
CONFORM = os.path.join(BIN, "handoff-conform")
REF = os.path.join(BIN, "handoff-backend")
HERE = os.path.dirname(os.path.abspath(__file__))
MUTANT = os.path.join(HERE, "..", "mutants", "mutant_backend.py")
XSD = os.path.join(HERE, "junit.xsd")
REF_CMD = [REF, "--handoff-endpoint", "{handoff_endpoint}", "--backend-pipe", "{backend_pipe}"]
MARK = "hc-test-%d" % os.getpid()      # in every SUT command line, to find leftovers

failures = []
TMP = tempfile.mkdtemp(prefix="hct-")


def run(args, timeout=60, **kw):
    t0 = time.monotonic()
    p = subprocess.run([CONFORM] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, **kw)
    return p.returncode, p.stdout, time.monotonic() - t0


def check(name, cond, detail=""):
    print("  %s %s%s" % ("\u2714" if cond else "\u2717", name, "" if cond else "\n      " + detail[-1500:]))
    if not cond:
        failures.append(name)


def leftovers():
    """SUT processes of this test still alive, and per-case directories."""
    procs = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()            # every SUT has HANDOFF_CONFORM_DIR under TMP
            if MARK.encode() in cmd or ("HANDOFF_CONFORM_DIR=" + TMP).encode() in env:
                procs.append(pid)
        except OSError:
            pass
    return procs, [d for d in os.listdir(TMP) if d.startswith("hc-")]


def base(*extra):
    return ["backend", "--tmpdir", TMP, "--failure-traces", os.path.join(TMP, "ft")] + list(extra)


def sh(script):
    return ["/bin/sh", "-c", script, MARK]


def main():
    print("handoff-conform runner tests")
    rc, out, _ = run([])
    check("no arguments: the missing MODE named in one line, then Try, exit 2",
          rc == 2 and out.splitlines() == ["handoff-conform: missing MODE: backend, broker or client",
                                           "Try 'handoff-conform --help'."], out)
    rc, out, _ = run(["--help"])
    needed = ["{handoff_endpoint}", "{backend_pipe}", "{service}", "{offer_timeout_ms}", "HANDOFF_CASE",
              "backend-ready", "early-data", "multi-offer", "service-name-check", "replay_capacity",
              "--expect-fail", "--junit", "--json", "--trace", "--manifest", "89", "UNIMPLEMENTED"]
    check("--help documents placeholders, features, constants, options", rc == 0 and all(n in out for n in needed),
          "missing: %s" % [n for n in needed if n not in out])
    rc, out, _ = run(["broker", "--help"])
    needed = ["{client_endpoint}", "{handoff_endpoint}", "{backend_pipe}", "hello_timeout_ms", "ack_timeout_ms",
              "failure_window_ms", "hello_rate", "coalesced-reply", "multi-offer"]
    check("broker --help: the broker contract, its features and constants",
          rc == 0 and all(n in out for n in needed) and "replay_capacity" not in out,
          "missing: %s" % [n for n in needed if n not in out])
    rc, out, _ = run(["client", "--help"])
    needed = ["{client_endpoint}", "{message}", "ready_timeout_ms", "reply_timeout_ms", "print-reply", "handoff",
              "OUTCOME_UNKNOWN"]
    check("client --help: the client contract, its features and constants",
          rc == 0 and all(n in out for n in needed) and "offer_timeout_ms" not in out,
          "missing: %s" % [n for n in needed if n not in out])
    for args, what in [(["client", "--feature", "service-name-check", "--", "x"], "a backend feature in client mode"),
                       (["client", "--feature", "early-data", "--feature", "handoff", "--", "x"],
                        "client early-data without backend-ready"),
                       (["broker", "--feature", "backend-ready", "--", "x"], "broker backend-ready without multi-offer"),
                       (["broker", "--constant", "offer_timeout_ms=500", "--", "x"], "a backend constant in broker mode"),
                       (["client", "--", "x", "{handoff_endpoint}", "{replay_capacity}"], "a backend placeholder"),
                       (["fuzz", "--", "x"], "unknown mode")]:
        rc, out, _ = run(args)
        check("usage error, exit 2: %s" % what, rc == 2, out)
    for args, what in [(["backend", "--feature", "nope", "--", "x"], "unknown feature"),
                       (["backend", "--constant", "nope=1", "--", "x"], "unknown constant"),
                       (["backend", "--constant", "offer_timeout_ms=1", "--", "x"], "constant out of range"),
                       (["backend", "--", "x", "{nope}"], "unknown placeholder"),
                       (["backend", "--", "x", "{replay_capacity}"], "placeholder without a value"),
                       (["backend", "--run", "backend.nothing-like-this", "--", "x"], "--run matching no case"),
                       (["backend", "--feature", "early-data", "--", "x"], "early-data without backend-ready"),
                       (["backend"], "no command")]:
        rc, out, _ = run(args)
        check("usage error, exit 2: %s" % what, rc == 2, out)
    bad = os.path.join(TMP, "bad.json")
    for text, what in [('{"manifest": 1, "featurez": []}', "unknown manifest key"),
                       ('{"manifest": 1, "mode": "client"}', "manifest for another mode"),
                       ('{"manifest": 1, "features": ["nope"]}', "unknown feature in the manifest"),
                       ('{"manifest": 2}', "unknown manifest version"), ('{"manifest": 1,', "not JSON")]:
        with open(bad, "w") as f:
            f.write(text)
        rc, out, _ = run(["backend", "--manifest", bad, "--", "x"])
        check("usage error, exit 2: %s" % what, rc == 2, out)

    # --list: IDs, requirement IDs, needs.
    rc, out, _ = run(["backend", "--list"])
    check("--list names every case with its requirement IDs",
          rc == 0 and "backend.descriptor.none" in out and "XFER-28" in out and len(out.splitlines()) > 90, out)
    rc, out, _ = run(["backend", "--list-json"])
    cases = json.loads(out) if rc == 0 else []
    check("--list-json is JSON with reqs and needs", cases and all("reqs" in c and "needs" in c for c in cases), out)

    # The SUT cannot start, exits early, never listens, is unimplemented.
    rc, out, took = run(base("--run", "backend.service", "--", "/nonexistent/backend-" + MARK))
    check("SUT cannot execute: clear message, exit 1, gives up after 3 cases",
          rc == 1 and "cannot execute '/nonexistent" in out and "giving up" in out and took < 10, out)
    rc, out, took = run(base("--run", "backend.service.backend-pipe", "--", *sh("echo started; exit 3")))
    check("SUT exits early: CRASH with its status and output",
          rc == 1 and "exited with status 3 before its endpoints" in out and "started" in out, out)
    rc, out, took = run(base("--start-timeout-ms", "300", "--grace-ms", "200", "--run", "backend.service.backend-pipe",
                             "--", *sh("sleep 30")))
    check("SUT never opens its endpoints: TIMEOUT, bounded", rc == 1 and "did not open its endpoints within 300 ms"
          in out and "timeout" in out and took < 5, out)
    rc, out, _ = run(base("--run", "backend.service.backend-pipe", "--", *sh("exit 89")))
    check("exit 89: UNIMPLEMENTED fails the run", rc == 1 and "unimplemented" in out, out)
    rc, out, _ = run(base("--allow-unimplemented", "--run", "backend.service.backend-pipe", "--", *sh("exit 89")))
    check("exit 89 with --allow-unimplemented: exit 0", rc == 0 and "1 failed" in out, out)
    procs, dirs = leftovers()
    check("nothing left behind (processes, directories)", not procs and not dirs, "%s %s" % (procs, dirs))

    # Client and broker SUTs that misbehave as processes.
    cbase = ["client", "--tmpdir", TMP, "--failure-traces", os.path.join(TMP, "ft"), "--run", "client.fallback.no-token"]
    rc, out, _ = run(cbase + ["--", *sh("exit 89")])
    check("client mode, exit 89: UNIMPLEMENTED", rc == 1 and "unimplemented" in out, out)
    rc, out, _ = run(cbase + ["--", *sh("kill -SEGV $$")])
    check("client mode, killed by a signal: CRASH", rc == 1 and "crash" in out and "signal 11" in out, out)
    rc, out, took = run(cbase[:1] + ["--start-timeout-ms", "300", "--grace-ms", "200"] + cbase[1:] + ["--", *sh("sleep 30")])
    check("client mode, a client that never connects: TIMEOUT, bounded", rc == 1 and "timeout" in out and took < 5, out)
    rc, out, took = run(["broker", "--tmpdir", TMP, "--failure-traces", os.path.join(TMP, "ft"), "--start-timeout-ms", "300", "--grace-ms", "200", "--run",
                         "broker.hello.framing-version", "--", *sh("sleep 30")])
    check("broker mode, a broker that never listens: TIMEOUT, bounded",
          rc == 1 and "did not open its endpoints within 300 ms" in out and took < 5, out)
    broker = os.path.join(BIN, "handoff-broker")
    rc, out, _ = run(["broker", "--tmpdir", TMP, "--failure-traces", os.path.join(TMP, "ft"), "--run",
                      "broker.hello.framing-version", "--run", "broker.handoff.legacy",
                      "--", broker, "--listen", "{client_endpoint}", "--handoff-endpoint", "{handoff_endpoint}",
                      "--backend-pipe", "{backend_pipe}", "--service", "{service}", "--log-level", "info"])
    check("broker mode, the reference broker: exit 0", rc == 0 and "2 passed" in out, out)
    procs, dirs = leftovers()
    check("nothing left behind by the broker and client modes", not procs and not dirs, "%s %s" % (procs, dirs))

    # A passing run: reports and traces.
    junit, js, tr = os.path.join(TMP, "r.xml"), os.path.join(TMP, "r.json"), os.path.join(TMP, "tr")
    ref = REF_CMD + ["--log-level", "info", "--service", "echo"]
    rc, out, _ = run(base("--run", "backend.descriptor", "--run", "backend.ready.legacy", "--junit", junit,
                          "--json", js, "--trace", tr, "--skip", "backend.descriptor.many",
                          "--skip", "backend.descriptor.fd-exhausted", "--", *ref))
    check("reference backend, a passing selection: exit 0, summary last",
          rc == 0 and out.rstrip().splitlines()[-1].endswith("0 failed, 0 skipped"), out)
    x = subprocess.run(["xmllint", "--noout", "--schema", XSD, junit], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    check("JUnit validates against junit.xsd", x.returncode == 0, x.stdout)
    try:
        with open(js) as f:
            rep = json.load(f)
        ok = (rep["suite"] == "handoff-conform" and rep["spec_revision"] and rep["sut"]["command"][0] == REF
              and all(k in rep["cases"][0] for k in ("id", "verdict", "reqs", "duration_ms", "trace")))
    except (OSError, ValueError, KeyError, IndexError) as e:
        ok, rep = False, e
    check("JSON report: suite, spec revision, SUT, per-case verdict/reqs/duration/trace", ok, str(rep))
    try:
        with open(os.path.join(tr, "backend.descriptor.two.trace")) as f:
            t = f.read()
    except OSError:
        t = ""
    check("trace: SCM_RIGHTS with count and types, frames decoded, SUT output",
          "SCM_RIGHTS with 2 descriptors" in t and "socket stream connected" in t and "decoded: {" in t
          and "SUT output" in t, t[:2000])

    # Expected failures, both ways.
    xf = os.path.join(TMP, "x.txt")
    mut = ["/usr/bin/python3", MUTANT, "--mutant", "sideband-unchecked", "--handoff-endpoint", "{handoff_endpoint}",
           "--backend-pipe", "{backend_pipe}", "--ready-mode", "legacy", "--log-level", "warn", "--service", "echo",
           "--offer-timeout-ms", "2000"]
    sel = ["--run", "backend.token.sideband-mismatch", "--run", "backend.service.backend-pipe"]
    rc, out, _ = run(base(*sel, "--", *mut))
    check("an unlisted failure fails the run", rc == 1 and "sideband-mismatch" in out, out)
    with open(xf, "w") as f:
        f.write("# test\nbackend.token.sideband-mismatch  mutant without the sideband check\n")
    rc, out, _ = run(base(*sel, "--expect-fail", xf, "--", *mut))
    check("a listed failure: exit 0, reported as expected", rc == 0 and "expected failure" in out, out)
    rc, out, _ = run(base("--run", "backend.token.sideband-mismatch", "--expect-fail", xf, "--", *ref))
    check("a listed case that passes fails the run", rc == 1 and "but it passed" in out, out)
    with open(xf, "w") as f:
        f.write("backend.no-such-area  stale\n")
    rc, out, _ = run(base(*sel, "--expect-fail", xf, "--", *ref))
    check("an entry matching no case: usage error", rc == 2 and "matches no case" in out, out)
    with open(xf, "w") as f:
        f.write("backend.token.sideband-mismatch\n")
    rc, out, _ = run(base(*sel, "--expect-fail", xf, "--", *ref))
    check("an entry without a reason: usage error", rc == 2 and "no reason" in out, out)
    rc, out, _ = run(base("--fail-fast", "--run", "backend.token", "--", *mut))
    check("--fail-fast stops at the first unexpected result", rc == 1 and "backend.token.replay" not in out, out)

    # Interrupted: SIGINT while a case waits; the SUT goes, the directory too.
    p = subprocess.Popen([CONFORM] + base("--run", "backend.stream.stall-mid-offer", "--", *ref),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.7)
    p.send_signal(signal.SIGINT)
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out = "(runner did not stop)"
    time.sleep(0.2)
    procs, dirs = leftovers()
    check("SIGINT: the runner stops, exit 1, nothing left behind", p.returncode == 1 and not procs and not dirs,
          "%s %s %s" % (out, procs, dirs))
    # Case processes of the runner itself are gone too.
    stale = [pid for pid in os.listdir("/proc") if pid.isdigit() and _is_conform_child(pid)]
    check("no runner child left", not stale, str(stale))

    shutil.rmtree(TMP, ignore_errors=True)
    print("%d runner tests failed" % len(failures) if failures else "all runner tests passed")
    return 1 if failures else 0


def _is_conform_child(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read()
        return b"handoff-conform" in cmd and TMP.encode() in cmd
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
