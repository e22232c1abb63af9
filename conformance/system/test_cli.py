#!/usr/bin/env python3
"""test-cli: the command line of every program (issue #15).

    test_cli.py BIN_DIR BENCH_DIR             the Linux programs
    test_cli.py --win-bin DIR --wine-prefix DIR  the Windows programs under Wine

For handoff-broker, handoff-backend, handoff-client, handoff-conform and the
bench programs: --version exits 0 with "PROG VERSION" (VERSION from
ref/include/handoff/version.h); -h and --help exit 0 with the usage on
stdout, nothing on stderr, and an "Exit status:" paragraph; an unknown flag
exits 2 with exactly "PROG: unknown option ..." and "Try 'PROG --help'." on
stderr; a missing required flag is named in one line; a bad number is
rejected by name with exit 2. Broker and backend print their counters in one
format on one stream (stderr) on SIGUSR1 and at exit, and their log lines
carry the documented timestamp. With --win-bin: the Windows programs under
Wine answer --version, --help and an unknown flag the same way.
"""
import datetime
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURES = []


def check(name, ok, detail=""):
    print("  %-66s %s" % (name, "ok" if ok else "FAIL"))
    if not ok:
        FAILURES.append(name)
        if detail:
            print("      " + str(detail).replace("\n", "\n      ")[:2000])


def version():
    with open(os.path.join(ROOT, "ref/include/handoff/version.h")) as f:
        return re.search(r'#define HO_VERSION_STRING "([^"]+)"', f.read()).group(1)


def run(argv, env=None, timeout=60):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def usage_error(name, res, prog, first):
    """exit 2, nothing on stdout, stderr exactly: the named line, then Try."""
    rc, out, err = res
    lines = err.replace("\r\n", "\n").splitlines()
    ok = (rc == 2 and out == "" and len(lines) == 2 and lines[0].startswith(prog + ": ")
          and first in lines[0] and lines[1] == "Try '%s --help'." % prog)
    check(name, ok, "rc=%s stdout=%r stderr=%r" % (rc, out[:200], err[:400]))


def common(prog, argv0, ver, env=None, exact_version=True):
    """--version, -h, --help, an unknown long and short flag."""
    rc, out, err = run(argv0 + ["--version"], env)
    line = out.replace("\r\n", "\n").split("\n")[0]
    want = "%s %s" % (prog, ver)
    check("%s --version: exit 0, '%s'" % (prog, want),
          rc == 0 and (line == want if exact_version else line.startswith(want + " ")),
          "rc=%s out=%r err=%r" % (rc, out[:200], err[:200]))
    for flag in ("-h", "--help"):
        rc, out, err = run(argv0 + [flag], env)
        check("%s %s: exit 0, usage on stdout, exit codes documented" % (prog, flag),
              rc == 0 and out.startswith("Usage: %s " % prog) and "Exit status:" in out and err == "",
              "rc=%s out=%r err=%r" % (rc, out[:300], err[:300]))
    usage_error("%s --no-such-flag: exit 2, one line + Try" % prog,
                run(argv0 + ["--no-such-flag"], env), prog, "unknown option '--no-such-flag'")
    usage_error("%s -Z: exit 2, one line + Try" % prog, run(argv0 + ["-Z"], env), prog,
                "unknown option '-Z'")


def wait_for(pred, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


COUNTER = re.compile(r"^[a-z_]+(\{[a-z_]+=[A-Za-z0-9_+.]+(,[a-z_]+=[A-Za-z0-9_+.]+)*\})? [0-9]+$")


def blocks(text, prog):
    """{WHEN: [counter lines]} of every 'PROG counters (WHEN):' block."""
    out, lines = {}, text.splitlines()
    for i, l in enumerate(lines):
        m = re.match(r"^%s counters \((\w+)\):$" % re.escape(prog), l)
        if m:
            body = []
            for l2 in lines[i + 1:]:
                if not COUNTER.match(l2):
                    break
                body.append(l2)
            out[m.group(1)] = body
    return out


def counters(prog, argv, paths, tmp):
    """Start PROG, SIGUSR1, SIGTERM: both counters blocks on stderr, same format."""
    errf, outf = os.path.join(tmp, prog + ".err"), os.path.join(tmp, prog + ".out")
    with open(errf, "wb") as e, open(outf, "wb") as o:
        p = subprocess.Popen(argv, stdout=o, stderr=e)
    try:
        up = wait_for(lambda: all(os.path.exists(x) for x in paths))
        check("%s: up (endpoints exist)" % prog, up)
        p.send_signal(signal.SIGUSR1)
        wait_for(lambda: "counters (SIGUSR1):" in open(errf).read())
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err, out = open(errf).read(), open(outf).read()
    b = blocks(err, prog)
    check("%s: SIGTERM exit 0" % prog, rc == 0, "rc=%s" % rc)
    check("%s: counters on SIGUSR1 and at exit, on stderr, 'name value' lines" % prog,
          set(b) == {"SIGUSR1", "exit"} and all(len(v) >= 5 for v in b.values()), err[-1500:])
    check("%s: nothing on stdout" % prog, out == "", out[:300])
    logs = [l for l in err.splitlines() if " level=" in l]
    stamp = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z %s\[[0-9]+\] level=(error|warn|info|debug) " % re.escape(prog))
    check("%s: log lines carry the documented timestamp" % prog,
          logs and all(stamp.match(l) for l in logs), "\n".join(logs[:5]))
    if logs and stamp.match(logs[0]):  # the civil date of cli_log_time is the real one
        t = datetime.datetime.strptime(logs[0].split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        check("%s: the timestamp is the UTC wall clock" % prog, abs(time.time() - t) < 600,
              "%s vs now %.0f" % (logs[0].split()[0], time.time()))
    return b


def unix(bin_dir, bench_dir, ver):
    """The Linux programs and the bench programs."""
    progs = {
        # program: [(args that lack a required flag, the flag named)], a bad number
        "handoff-broker": ([([], "--listen"), (["--listen", "x"], "--backend-pipe")],
                           ["--max-controls", "0"], "--max-controls"),
        "handoff-backend": ([([], "--handoff-endpoint"), (["--handoff-endpoint", "x"], "--backend-pipe")],
                            ["--offer-timeout-ms", "soon"], "--offer-timeout-ms"),
        "handoff-client": ([([], "--connect"), (["--connect", "x"], "--service")],
                           ["--count", "-1"], "--count"),
    }
    for prog, (missing, bad, badname) in progs.items():
        exe = [os.path.join(bin_dir, prog)]
        common(prog, exe, ver)
        for extra, flag in missing:
            usage_error("%s %s: the missing %s named" % (prog, " ".join(extra), flag), run(exe + extra),
                        prog, "missing required option " + flag)
        usage_error("%s %s: rejected by name" % (prog, " ".join(bad)), run(exe + bad), prog, badname)
        usage_error("%s --service: a value is needed" % prog, run(exe + ["--service"]), prog,
                    "option '--service' needs a value")
    conform = [os.path.join(bin_dir, "handoff-conform")]
    common("handoff-conform", conform, ver, exact_version=False)
    usage_error("handoff-conform: the missing MODE named", run(conform), "handoff-conform", "missing MODE")
    usage_error("handoff-conform backend --bogus: exit 2, one line + Try",
                run(conform + ["backend", "--bogus"]), "handoff-conform", "unknown option '--bogus'")

    for prog in ("bench_token", "bench_codec", "bench_cores", "bench_handoff"):
        exe = [os.path.join(bench_dir, prog)]
        common(prog, exe, ver)
        rc, out, _ = run(exe + ["--help"])
        check("%s --help: runs nothing (no 'inf', no table)" % prog, "inf" not in out.split() and rc == 0)
    tok = [os.path.join(bench_dir, "bench_token")]
    usage_error("bench_token --iters abc: rejected by name", run(tok + ["--iters", "abc"]), "bench_token",
                "--iters must be a number")
    usage_error("bench_token 0: an operand is not an option", run(tok + ["0"]), "bench_token",
                "unexpected argument '0'")
    usage_error("bench_cores ready x none: N rejected by name",
                run([os.path.join(bench_dir, "bench_cores"), "ready", "x", "none"]), "bench_cores",
                "N must be a number")
    usage_error("bench_handoff --runs 0: rejected by name",
                run([os.path.join(bench_dir, "bench_handoff"), "--runs", "0"]), "bench_handoff",
                "--runs must be a number")

    with tempfile.TemporaryDirectory(prefix="ho-cli-") as tmp:
        ep, pipe, lst = (os.path.join(tmp, n) for n in ("d/handoff.sock", "d/backend.sock", "b/listen.sock"))
        bk = counters("handoff-backend", [os.path.join(bin_dir, "handoff-backend"), "--handoff-endpoint", ep,
                                          "--backend-pipe", pipe], [ep, pipe], tmp)
        br = counters("handoff-broker", [os.path.join(bin_dir, "handoff-broker"), "--listen", lst,
                                         "--backend-pipe", pipe, "--log-level", "info"], [lst], tmp)
        check("broker and backend: the same block format (header, then 'name value')",
              bool(bk) and bool(br) and bk.keys() == br.keys())


def main():
    args = sys.argv[1:]
    win_bin = args[args.index("--win-bin") + 1] if "--win-bin" in args else None
    prefix = args[args.index("--wine-prefix") + 1] if "--wine-prefix" in args else None
    ver = version()
    print("command lines: --version, --help, usage errors, counters (version %s)" % ver)
    if not win_bin:
        unix(args[0], args[1], ver)
    else:
        env = dict(os.environ, WINEPREFIX=prefix, WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
        for prog in ("handoff-broker", "handoff-backend", "handoff-client"):
            exe = ["wine", os.path.join(win_bin, prog + ".exe")]
            rc, out, err = run(exe + ["--version"], env, timeout=120)
            line = out.replace("\r\n", "\n").split("\n")[0]
            check("%s.exe --version (Wine): exit 0, '%s %s'" % (prog, prog, ver),
                  rc == 0 and line == "%s %s" % (prog, ver), "rc=%s out=%r err=%r" % (rc, out, err[:300]))
            rc, out, err = run(exe + ["--help"], env, timeout=120)
            check("%s.exe --help (Wine): exit 0, usage, exit codes" % prog,
                  rc == 0 and out.startswith("Usage: %s " % prog) and "Exit status:" in out,
                  "rc=%s out=%r" % (rc, out[:300]))
            usage_error("%s.exe --no-such-flag (Wine): exit 2, one line + Try" % prog,
                        run(exe + ["--no-such-flag"], env, timeout=120), prog, "unknown option")
            rc, _, err = run(exe, env, timeout=120)
            check("%s.exe without flags (Wine): exit 2, a flag named" % prog,
                  rc == 2 and "missing required option --" in err, err[:300])
    print("%d failed" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
