#!/usr/bin/python3
"""trail2msc.py — print a spin counterexample trail of spec/model/handoff.pml
as a message sequence chart: who sent what to whom, in order.

The model prints one line per event while spin replays a trail
(`printf("@@ SRC DST text")`, SRC and DST one of C0 C1 BRK B0 B1, or "-"
for a local event or a tick of time). This script replays the trail with
spin, keeps those lines and the violated assertion, and draws them:

    #   C0    C1    BRK   B0    B1
    1   o---------->|                 Hello{caps 3}
    2   |<----------o                 Negotiated{token 1, caps 7}
    3   |     |     o---->|           sideband{token 1}+fd(C0)
    ...
    x   assertion violated: P1_ONCE && exec[c] <= 1

Usage:
    trail2msc.py [-D NAME[=VALUE] ...] [--trail FILE] MODEL.pml
    trail2msc.py --from-file SPIN_T_OUTPUT      (output of spin -t, already run)
Standard library only.
"""

import argparse
import os
import re
import subprocess
import sys

LANES = ["C0", "C1", "BRK", "B0", "B1"]
WIDTH = 6
EVENT_RE = re.compile(r"^\s*@@ (\S+) (\S+) (.*)$")
ASSERT_RE = re.compile(r"text of failed assertion: assert\((.*)\)\s*$")
WHERE_RE = re.compile(r"^spin: (\S+):(\d+), Error: (.*)$")
RUNGS = {
    "2": "the ready deadline passed (Negotiated + READY_BUDGET)",
    "3": "the legacy ACK deadline passed (Negotiated + 1.5 s, ACK-17)",
    "4": "the client's ready timeout passed (Negotiated + 2 s)",
    "5": "5 s passed (the original's ACK deadline)",
    "6": "the token expired (TOKEN_TTL)",
}
RUNG_RE = re.compile(r"^time: C(\d) rung (\d) passed$")
PROPS = ("P1_ONCE", "P2_SERVED", "P3_OWNER", "P4_TOKEN", "P5_READY", "P6_DRAIN", "P7_CHARGE")


def parse(text):
    """Return (events, failures): events are (src, dst, label); failures are
    (where, assertion text) in the order spin reports them."""
    events, failures, where = [], [], None
    for line in text.splitlines():
        m = EVENT_RE.match(line)
        if m:
            src, dst, label = m.groups()
            r = RUNG_RE.match(label)
            if r:
                label = "time C%s: %s" % (r.group(1), RUNGS.get(r.group(2), "rung " + r.group(2)))
            events.append((src, dst, label))
            continue
        m = WHERE_RE.match(line.strip())
        if m:
            where = "%s:%s" % (m.group(1).rsplit("/", 1)[-1], m.group(2))
            if "assertion" not in m.group(3):
                failures.append((where, m.group(3)))
            continue
        m = ASSERT_RE.search(line)
        if m:
            failures.append((where, m.group(1)))
    return events, failures


def tidy(expr):
    """Make a spin assertion readable: drop the outer parentheses spin adds."""
    e = expr.strip()
    while e.startswith("(") and e.endswith(")"):
        depth = 0
        for i, ch in enumerate(e):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(e) - 1:
                break
        else:
            e = e[1:-1]
            continue
        break
    return e.replace("&&", " && ").replace("||", " || ")


def properties(expr):
    return [p for p in PROPS if p in expr]


def lane_row(src, dst):
    cells = [" "] * (WIDTH * len(LANES))
    for i in range(len(LANES)):
        cells[i * WIDTH] = "|"
    if src in LANES and dst in LANES and src != dst:
        a, b = LANES.index(src) * WIDTH, LANES.index(dst) * WIDTH
        lo, hi = min(a, b), max(a, b)
        for x in range(lo + 1, hi):
            cells[x] = "-"
        cells[a] = "o"
        cells[b] = ">" if b > a else "<"
    elif src in LANES:
        cells[LANES.index(src) * WIDTH] = "*"
    elif dst in LANES:
        cells[LANES.index(dst) * WIDTH] = "*"
    else:
        cells = [("~" if c == "|" else c) for c in cells]
    return "".join(cells).rstrip().ljust(WIDTH * (len(LANES) - 1) + 2)


def render(events, failures, out=sys.stdout):
    head = "".join(name.ljust(WIDTH) for name in LANES)
    out.write("  #  %s\n" % head.rstrip())
    for n, (src, dst, label) in enumerate(events, 1):
        out.write("%3d  %s  %s\n" % (n, lane_row(src, dst), label))
    seen = set()
    for where, what in failures:
        if (where, what) in seen:
            continue
        seen.add((where, what))
        props = properties(what)
        out.write("  x  %s: %s%s\n" % (where or "?", tidy(what),
                                       ("   [%s]" % " ".join(props)) if props else ""))


def replay(model, defines, trail, cwd=None):
    """spin -t; spin writes temporary files into its working directory, so
    concurrent replays need directories of their own (cwd)."""
    cmd = ["spin", "-t"]
    if trail:
        cmd += ["-k", os.path.abspath(trail)]
    cmd += ["-D%s" % d for d in defines] + [os.path.abspath(model)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    return p.stdout + p.stderr


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-D", dest="defines", action="append", default=[],
                    help="preprocessor definition, as given to spin -a")
    ap.add_argument("--trail", help="trail file (default: spin's own choice)")
    ap.add_argument("--from-file", help="read the output of spin -t from this file")
    ap.add_argument("model", nargs="?")
    a = ap.parse_args(argv)
    if a.from_file:
        with open(a.from_file, encoding="utf-8") as f:
            text = f.read()
    elif a.model:
        text = replay(a.model, a.defines, a.trail)
    else:
        ap.error("a model or --from-file is needed")
    events, failures = parse(text)
    if not events and not failures:
        sys.stderr.write("trail2msc: no events in the replay (wrong -D flags or no trail?)\n")
        return 1
    render(events, failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
