#!/usr/bin/env python3
"""make test-make-help: every .PHONY target of Makefile and mk/*.mk has one
line in mk/targets.txt, and every line there names a .PHONY target."""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
phony = set()
for path in [os.path.join(root, "Makefile")] + sorted(glob.glob(os.path.join(root, "mk", "*.mk"))):
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    for line in text.splitlines():
        m = re.match(r"^\.PHONY\s*:(.*)$", line)
        if m:
            phony.update(t for t in m.group(1).split() if "$" not in t)
listed = {}
for n, line in enumerate(open(os.path.join(root, "mk", "targets.txt"), encoding="utf-8"), 1):
    if not line.strip() or line.startswith("#"):
        continue
    name, sep, what = line.rstrip("\n").partition("\t")
    if not sep or not what.strip():
        sys.exit("mk/targets.txt:%d: want 'target<TAB>description', got %r" % (n, line))
    if name in listed:
        sys.exit("mk/targets.txt:%d: %s listed twice" % (n, name))
    listed[name] = what
bad = 0
for t in sorted(phony - set(listed)):
    print("make help: .PHONY target %s has no line in mk/targets.txt" % t)
    bad += 1
for t in sorted(set(listed) - phony):
    print("make help: mk/targets.txt lists %s, which is no .PHONY target" % t)
    bad += 1
if bad:
    sys.exit(1)
print("make help: %d targets, each with one line" % len(listed))
