#!/usr/bin/python3
"""Coverage report of make coverage (clang source-based coverage).

    coverage_report.py --llvm-cov BIN --out DIR --profile NAME=PROFDATA ...
                       --objects BIN... [--sources FILE...]

For each profile (e.g. all = unit tests + every corpus, fuzz = the corpora
alone) prints line and branch coverage per folder of ref/lib/ (a branch is
one outcome of a condition, true or false, as llvm-cov counts them), writes
DIR/coverage.json, DIR/branches-never-taken-<name>.txt (every condition
outcome never taken, with its source line) and, for the first profile, the
HTML report DIR/html/index.html.
"""
import argparse
import collections
import json
import os
import subprocess
import sys


def export(llvm_cov, profdata, objects, sources):
    cmd = [llvm_cov, "export", "-format=text", "-instr-profile=" + profdata, objects[0]]
    for o in objects[1:]:
        cmd += ["-object", o]
    r = subprocess.run(cmd + sources, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("coverage_report: llvm-cov export failed:\n" + r.stderr)
    return json.loads(r.stdout)["data"][0]["files"]


def folder_of(path):
    p = path.replace(os.sep, "/")
    i = p.find("ref/lib/")
    if i < 0:
        return None
    rest = p[i + len("ref/lib/"):]
    return rest.split("/")[0] if "/" in rest else None


def summarise(files):
    per = collections.OrderedDict()
    for f in sorted(files, key=lambda f: f["filename"]):
        d = folder_of(f["filename"])
        if d is None:
            continue
        s = per.setdefault(d, {"lines": [0, 0], "branches": [0, 0]})
        for k in ("lines", "branches"):
            s[k][0] += f["summary"][k]["covered"]
            s[k][1] += f["summary"][k]["count"]
    return per


def pct(c, n):
    return 100.0 * c / n if n else 100.0


def never_taken(files, root):
    out = []
    for f in sorted(files, key=lambda f: f["filename"]):
        if folder_of(f["filename"]) is None:
            continue
        rel = os.path.relpath(f["filename"], root)
        try:
            src = open(f["filename"], encoding="utf-8", errors="replace").read().split("\n")
        except OSError:
            src = []
        seen = set()
        # Branches in the file's own code, then those inside macro
        # expansions, reported at the call site with the macro's line.
        regions = [(None, b) for b in f.get("branches", [])]
        for e in f.get("expansions", []):
            regions += [(e["source_region"][0], b) for b in e.get("branches", [])]
        for call, b in regions:
            line, col, t, fl = b[0], b[1], b[4], b[5]
            for count, what in ((t, "true"), (fl, "false")):
                key = (call, line, col, what)
                if count != 0 or key in seen:
                    continue
                seen.add(key)
                text = src[line - 1].strip() if 0 < line <= len(src) else ""
                if call is None:
                    out.append("%s:%d:%d: never %s: %s" % (rel, line, col, what, text))
                else:
                    ctext = src[call - 1].strip() if 0 < call <= len(src) else ""
                    out.append("%s:%d: in the macro at line %d:%d: never %s: %s  <- %s"
                               % (rel, call, line, col, what, text, ctext))
    return out


def never_key(line):
    """'file:line:col: never true: ...' -> ('file:line:col', 'true'); macro lines by call site."""
    head, _, rest = line.partition(": never ")
    if ": in the macro at line " in line:
        head, _, tail = line.partition(": in the macro at line ")
        rest = tail.partition(": never ")[2]
        head = head + "@" + tail.partition(":")[0] + ":" + tail.partition(":")[2].partition(":")[0]
    return head, rest.partition(":")[0]


def check_unreached(path, never_file):
    """The committed list: one line per branch outcome that cannot be taken,
    'file:line:col never true|false -- reason' (macro outcomes as
    'file:CALL@LINE:COL'); '#' lines are comments. Prints its size and flags
    entries now taken or gone, and never-taken outcomes it does not explain."""
    never = set()
    for ln in open(never_file, encoding="utf-8"):
        if ln.strip():
            never.add(never_key(ln.strip()))
    listed, stale = set(), []
    for n, ln in enumerate(open(path, encoding="utf-8"), 1):
        ln = ln.strip()
        if not ln or ln.startswith("#"):
            continue
        loc, _, rest = ln.partition(" never ")
        what = rest.split()[0] if rest.split() else ""
        if "--" not in rest or what not in ("true", "false"):
            print("unreached: %s:%d: malformed (want 'file:line:col never true|false -- reason')" % (path, n))
            continue
        key = (loc, what)
        listed.add(key)
        if key not in never:
            stale.append("%s:%d: %s never %s: now taken or no longer exists" % (path, n, loc, what))
    unexplained = len(never - listed)
    print("unreached list %s: %d entries, %d stale, %d never-taken outcomes not yet explained" % (
        path, len(listed), len(stale), unexplained))
    for s_ in stale:
        print("  " + s_)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llvm-cov", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--profile", action="append", required=True, help="NAME=PROFDATA")
    ap.add_argument("--objects", nargs="+", required=True)
    ap.add_argument("--sources", nargs="*", default=[])
    ap.add_argument("--root", default=os.getcwd())
    ap.add_argument("--unreached", help="committed list of branches that cannot be taken")
    a = ap.parse_args()
    objects = [o for o in a.objects if os.path.exists(o)]
    result = collections.OrderedDict()
    for spec in a.profile:
        name, prof = spec.split("=", 1)
        files = export(a.llvm_cov, prof, objects, a.sources)
        result[name] = summarise(files)
        nt = never_taken(files, a.root)
        with open(os.path.join(a.out, "branches-never-taken-%s.txt" % name), "w") as fh:
            fh.write("\n".join(nt) + "\n")
        result[name + ".never_taken"] = len(nt)
    with open(os.path.join(a.out, "coverage.json"), "w") as fh:
        json.dump(result, fh, indent=2)

    names = [s.split("=", 1)[0] for s in a.profile]
    folders = list(result[names[0]].keys())
    head = "%-10s" % "ref/lib/" + "".join(" | %-8s lines          branches      " % n for n in names)
    print(head)
    print("-" * len(head))
    tot = {n: {"lines": [0, 0], "branches": [0, 0]} for n in names}
    for d in folders + ["total"]:
        row = "%-10s" % d
        for n in names:
            if d == "total":
                s = tot[n]
            else:
                s = result[n].get(d, {"lines": [0, 0], "branches": [0, 0]})
                for k in ("lines", "branches"):
                    tot[n][k][0] += s[k][0]
                    tot[n][k][1] += s[k][1]
            row += " | %6.1f%% %9s %6.1f%% %9s" % (
                pct(*s["lines"]), "%d/%d" % tuple(s["lines"]),
                pct(*s["branches"]), "%d/%d" % tuple(s["branches"]))
        print(row)
    for n in names:
        print("%s: %d condition outcomes never taken: %s" % (
            n, result[n + ".never_taken"], os.path.join(a.out, "branches-never-taken-%s.txt" % n)))

    if a.unreached:
        check_unreached(a.unreached, os.path.join(a.out, "branches-never-taken-%s.txt" % names[0]))

    # HTML of the first profile, restricted to the library sources.
    first = a.profile[0].split("=", 1)[1]
    cmd = [a.llvm_cov, "show", "-format=html", "-show-branches=count", "-show-line-counts-or-regions",
           "-instr-profile=" + first, "-output-dir=" + os.path.join(a.out, "html"), objects[0]]
    for o in objects[1:]:
        cmd += ["-object", o]
    subprocess.run(cmd + a.sources, check=True)
    print("HTML report: %s" % os.path.join(a.out, "html", "index.html"))


if __name__ == "__main__":
    main()
