#!/usr/bin/env python3
"""test-man: the generated man pages (mk/man.mk) render and say what --help says.

    test_man.py BIN_DIR MAN_DIR PROG...

For every program: its page MAN_DIR/PROG.1 renders with groff's man macros
with no warning at all (-ww) and through man -l; the page carries the
version that PROG --version prints; and every option that PROG --help lists
(an options line "  --name" or "  -x, --name") appears in the rendered page.
"""
import os
import re
import subprocess
import sys

OPTION_LINE = re.compile(r"^\s{2,}(?:-[A-Za-z0-9], )?(--[a-z0-9][a-z0-9-]*)")


def run(argv, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def main():
    bin_dir, man_dir, progs = sys.argv[1], sys.argv[2], sys.argv[3:]
    failures = []

    def check(name, ok, detail=""):
        print("  %-62s %s" % (name, "ok" if ok else "FAIL"))
        if not ok:
            failures.append(name)
            if detail:
                print("      " + detail.replace("\n", "\n      ")[:2000])

    print("man pages: render cleanly, carry --version, list every --help option")
    for prog in progs:
        page = os.path.join(man_dir, prog + ".1")
        exe = os.path.join(bin_dir, prog)
        check("%s: page exists" % prog, os.path.isfile(page), page)
        if not os.path.isfile(page):
            continue
        rc, _, err = run(["groff", "-man", "-Tutf8", "-ww", "-z", page])
        check("%s: groff -man -Tutf8 -ww: no warning" % prog, rc == 0 and err == "", err)
        env = dict(os.environ, MANWIDTH="100", MANPAGER="cat", PAGER="cat", LC_ALL="C.UTF-8")
        rc, out, err = run(["man", "-l", page], env=env)
        check("%s: man -l renders" % prog, rc == 0 and prog.upper() in out and err.strip() == "", err)
        rc, text, err = run(["groff", "-man", "-Tascii", "-P-cbou", "-rLL=300n", "-rHY=0", page])
        check("%s: groff -Tascii renders" % prog, rc == 0 and text.strip() != "", err)
        rc, ver, _ = run([exe, "--version"])
        first = ver.splitlines()[0] if ver else ""
        check("%s: the page carries '%s'" % (prog, first), rc == 0 and first != "" and first in text,
              first)
        rc, helptext, _ = run([exe, "--help"])
        opts = sorted({m.group(1) for m in map(OPTION_LINE.match, helptext.splitlines()) if m})
        missing = [o for o in opts if o not in text]
        check("%s: all %d options of --help in the page" % (prog, len(opts)),
              rc == 0 and len(opts) >= 3 and not missing, "missing: %s" % missing)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
