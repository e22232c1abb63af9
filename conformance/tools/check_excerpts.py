#!/usr/bin/env python3
"""make test-examples: the example code quoted in a public header is the
code of the example program, byte for byte; every public header documents
threads and fork in its first comment.

In ref/examples/NAME.c the quoted region lies between the two lines
containing "---8<--- handoff/HEADER quotes from here" and "... up to here".
In ref/include/handoff/HEADER the quote lies between
" * ---8<--- ref/examples/NAME.c ---8<---" and " * ---8<--- end of quote ---8<---",
each line prefixed with " * " (" *" for an empty line). Usage:
    check_excerpts.py [ROOT]"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
bad = 0
found = 0
for ex in sorted(glob.glob(os.path.join(root, "ref", "examples", "*.c"))):
    lines = open(ex, encoding="utf-8").read().split("\n")
    starts = [i for i, l in enumerate(lines) if re.search(r"---8<--- handoff/\S+ quotes from here", l)]
    for s in starts:
        header = re.search(r"handoff/(\S+) quotes from here", lines[s]).group(1)
        ends = [i for i in range(s + 1, len(lines)) if "quotes up to here" in lines[i]]
        if not ends:
            print("%s:%d: quote without its end line" % (ex, s + 1))
            bad += 1
            continue
        region = lines[s + 1:ends[0]]
        hpath = os.path.join(root, "ref", "include", "handoff", header)
        hl = open(hpath, encoding="utf-8").read().split("\n")
        rel = "ref/examples/" + os.path.basename(ex)
        try:
            h0 = hl.index(" * ---8<--- %s ---8<---" % rel)
            h1 = hl.index(" * ---8<--- end of quote ---8<---", h0)
        except ValueError:
            print("%s: no quote of %s (lines ' * ---8<--- %s ---8<---' ... ' * ---8<--- end of quote ---8<---')"
                  % (hpath, rel, rel))
            bad += 1
            continue
        quoted = []
        for n, l in enumerate(hl[h0 + 1:h1], h0 + 2):
            if l == " *":
                quoted.append("")
            elif l.startswith(" * "):
                quoted.append(l[3:])
            else:
                print("%s:%d: quote line without the ' * ' prefix: %r" % (hpath, n, l))
                bad += 1
        found += 1
        if quoted != region:
            bad += 1
            for k in range(max(len(quoted), len(region))):
                a = quoted[k] if k < len(quoted) else "<missing>"
                b = region[k] if k < len(region) else "<missing>"
                if a != b:
                    print("%s:%d differs from %s:%d:\n  header:  %r\n  example: %r"
                          % (hpath, h0 + 2 + k, ex, s + 2 + k, a, b))
                    break
        for k, l in enumerate(region):
            if "/*" in l or "*/" in l:
                print("%s:%d: a quoted line must not contain /* or */ (it lives in a comment)" % (ex, s + 2 + k))
                bad += 1
# Every public header says what its objects allow across threads, fork and
# exec (issue #15): its first comment names fork (Windows: inheritance).
for h in sorted(glob.glob(os.path.join(root, "ref", "include", "handoff", "*.h"))):
    text = open(h, encoding="utf-8").read()
    first = text[:text.find("*/")]
    if ("fork" not in first and "inheritable" not in first) or "hread" not in first:
        print("%s: the first comment does not document threads and fork" % h)
        bad += 1
if found == 0:
    print("check_excerpts: no quoted region found")
    bad += 1
if bad:
    sys.exit(1)
print("check_excerpts: %d quoted regions identical to their examples" % found)
