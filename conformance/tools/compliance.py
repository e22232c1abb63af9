#!/usr/bin/python3
"""compliance.py — requirement traceability for the handoff spec.

Extracts every requirement from spec/*.md (syntax: spec/README.md §4),
finds the places that cite each requirement ID, and reports per requirement
its code sites (under ref/) and its tests (under conformance/ and fuzz/,
golden vectors included, and the spin model under spec/model/, whose .pml
citations count as evidence), then a summary line per level:

    N MUST: N tested, N untested

Citations: `spec: ID ID ...` anywhere in a source file (inside a comment by
convention; a citation that ends its line continues on following comment
lines that hold only IDs), and the "requirements" arrays of JSON files (golden vectors).

The run FAILS (exit 1) when
  - an untested MUST / MUST NOT requirement is not listed in the exceptions
    file, or a listed requirement is in fact tested (stale exception), or
    the exceptions file names an unknown or withdrawn ID, or lacks a reason;
  - a file cites an ID the spec does not define, or a withdrawn one.
The run fails with exit 2 when the spec itself breaks the syntax rules:
duplicate ID, tag without level or party, unknown prefix, leading zero,
level keyword missing from the statement, a level weaker than a keyword the
statement uses, a tag that is not at the start of its block, or a BCP 14
keyword outside a tagged requirement (code spans and fenced blocks
excepted).

Standard library only. Usage:
    compliance.py [--root DIR] [--json OUT] [--quiet] [--prune-stale]
"""

import argparse
import json
import os
import re
import sys

PREFIXES = ("FRAME ENV MSG HELLO CAP TOKEN ACK XFER READY FALLBACK BACKEND CLIENT "
            "BROKER SEC VER ERR").split()
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "MAY")
PARTIES = ("broker", "backend", "client")
# Strength class of every BCP 14 keyword (higher is stronger).
KEYWORD_CLASS = {
    "MUST": 3, "MUST NOT": 3, "REQUIRED": 3, "SHALL": 3, "SHALL NOT": 3,
    "SHOULD": 2, "SHOULD NOT": 2, "RECOMMENDED": 2, "NOT RECOMMENDED": 2,
    "MAY": 1, "OPTIONAL": 1,
}
KEYWORD_RE = re.compile(
    r"(?<![A-Za-z0-9_])(MUST NOT|SHALL NOT|SHOULD NOT|NOT RECOMMENDED|MUST|SHALL|SHOULD|"
    r"REQUIRED|RECOMMENDED|MAY|OPTIONAL)(?![A-Za-z0-9_])")
TAG_RE = re.compile(r"^\*\*\[([A-Z][A-Z0-9]*)-([0-9]+)\]\*\*\s*\*\(([^)]*)\)\*\s*(.*)$", re.S)
TAG_ANYWHERE_RE = re.compile(r"\*\*\[[A-Z][A-Z0-9]*-[0-9]+\]\*\*")
# The continuation of a wrapped citation: a comment line that starts with IDs.
CONT_RE = re.compile(r"^[ \t]*(?:\*|//|#)?((?:[ \t]*,?[ \t]*[A-Z][A-Z0-9]*-[0-9]+(?![A-Za-z0-9_]))+)(.*)$")
CITE_RE = re.compile(r"spec:((?:[ \t]*,?[ \t]*[A-Z][A-Z0-9]*-[0-9]+(?![A-Za-z0-9_]))+)")
ID_RE = re.compile(r"[A-Z][A-Z0-9]*-[0-9]+")
ANCHOR_RE = re.compile(r'<a id="([^"]+)"></a>')
REVISION_RE = re.compile(r"\*\*Spec revision:\*\*\s*(\S+)")
LIST_RE = re.compile(r"^\s*(?:[-*+]|[0-9]+[.)])\s+")

SOURCE_EXTS = {".c", ".h", ".cc", ".cpp", ".py", ".sh", ".json", ".go", ".rs", ".js",
               ".ts", ".java", ".mk", ".txt", ".options", ".dict", ".pml"}
SKIP_DIRS = {".git", "__pycache__", "node_modules"}
MAX_FILE = 4 * 1024 * 1024


class Req:
    def __init__(self, rid, level, parties, withdrawn, text, path, line, anchor):
        self.id = rid
        self.level = level
        self.parties = parties
        self.withdrawn = withdrawn
        self.text = text
        self.path = path
        self.line = line
        self.anchor = anchor
        self.code = []
        self.tests = []


def strip_code_spans(s):
    return re.sub(r"`+[^`]*`+", " ", s)


def blocks_of(path):
    """Yield (first_line_no, text, anchor, kind) per block of a Markdown file.

    Blocks: paragraphs, list items, table rows, headings. Fenced code blocks
    and HTML comments are dropped."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    # Drop HTML comments (may span lines) while keeping line numbers.
    text = "\n".join(lines)
    text = re.sub(r"<!--.*?-->", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    lines = text.split("\n")
    in_fence = False
    cur, cur_line, cur_kind = [], 0, None
    anchor = ""
    out = []

    def flush():
        nonlocal cur, cur_kind
        if cur:
            out.append((cur_line, " ".join(x.strip() for x in cur), anchor, cur_kind))
        cur, cur_kind = [], None

    for i, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = ANCHOR_RE.search(stripped)
        if m:
            flush()
            anchor = m.group(1)
            rest = ANCHOR_RE.sub("", stripped).strip()
            if not rest:
                continue
            stripped = rest
        if not stripped:
            flush()
            continue
        if stripped.startswith("#"):
            flush()
            out.append((i, stripped.lstrip("#").strip(), anchor, "heading"))
            continue
        if stripped.startswith("|"):
            flush()
            out.append((i, stripped, anchor, "row"))
            continue
        if LIST_RE.match(raw):
            flush()
            cur, cur_line, cur_kind = [LIST_RE.sub("", raw, count=1)], i, "item"
            continue
        if not cur:
            cur_line, cur_kind = i, "para"
        cur.append(stripped)
    flush()
    return out


def parse_spec(spec_dir, errors):
    reqs = {}
    revision = None
    files = sorted(f for f in os.listdir(spec_dir) if f.endswith(".md"))
    for name in files:
        path = os.path.join(spec_dir, name)
        rel = os.path.join(os.path.basename(spec_dir.rstrip("/")), name)
        if revision is None:
            with open(path, encoding="utf-8") as f:
                m = REVISION_RE.search(f.read())
            if m:
                revision = m.group(1)
        for line, text, anchor, kind in blocks_of(path):
            where = "%s:%d" % (rel, line)
            body = text
            if kind == "row":
                cells = [c.strip() for c in text.strip().strip("|").split("|")]
                body = " ".join(cells)
                first = cells[0] if cells else ""
            else:
                first = text
            tag = TAG_RE.match(first) if kind != "heading" else None
            if tag and kind == "row":
                tag = TAG_RE.match(body)
            if not tag:
                if TAG_ANYWHERE_RE.search(body):
                    errors.append("%s: requirement tag not at the start of its block "
                                  "(or malformed tag)" % where)
                    continue
                kws = KEYWORD_RE.findall(strip_code_spans(body))
                if kws:
                    errors.append("%s: normative keyword %s outside a tagged requirement"
                                  % (where, ", ".join(sorted(set(kws)))))
                continue
            prefix, num, attrs, stmt = tag.groups()
            rid = "%s-%s" % (prefix, num)
            if prefix not in PREFIXES:
                errors.append("%s: %s has an unknown prefix %s" % (where, rid, prefix))
                continue
            if num.startswith("0"):
                errors.append("%s: %s has a leading zero" % (where, rid))
                continue
            if rid in reqs:
                errors.append("%s: duplicate requirement ID %s (first at %s:%d)"
                              % (where, rid, reqs[rid].path, reqs[rid].line))
                continue
            attrs = attrs.strip()
            if TAG_ANYWHERE_RE.search(stmt):
                errors.append("%s: %s: a second requirement tag in the same block" % (where, rid))
                continue
            if attrs == "withdrawn":
                reqs[rid] = Req(rid, None, [], True, stmt.strip(), rel, line, anchor)
                continue
            parts = [p.strip() for p in attrs.split(",")]
            if len(parts) != 2 or not parts[0] or not parts[1]:
                errors.append("%s: %s: tag must be *(LEVEL, PARTY)* or *(withdrawn)*, got (%s)"
                              % (where, rid, attrs))
                continue
            level, party = parts
            if level not in LEVELS:
                errors.append("%s: %s: unknown level %r" % (where, rid, level))
                continue
            if party == "all":
                parties = list(PARTIES)
            else:
                parties = party.split("/")
                if any(p not in PARTIES for p in parties) or len(set(parties)) != len(parties):
                    errors.append("%s: %s: party must be broker, backend, client joined by / "
                                  "or all, got %r" % (where, rid, party))
                    continue
            plain = strip_code_spans(stmt)
            kws = KEYWORD_RE.findall(plain)
            if not re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(level), plain):
                errors.append("%s: %s: level %s does not appear in the statement"
                              % (where, rid, level))
                continue
            strongest = max(KEYWORD_CLASS[k] for k in kws)
            if KEYWORD_CLASS[level] < strongest:
                errors.append("%s: %s: level %s is weaker than a keyword the statement uses (%s)"
                              % (where, rid, level, ", ".join(sorted(set(kws)))))
                continue
            reqs[rid] = Req(rid, level, parties, False, " ".join(stmt.split()), rel, line, anchor)
    return reqs, revision


def iter_files(root, sub, exclude):
    base = os.path.join(root, sub)
    if not os.path.isdir(base):
        return
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and not d.startswith("build")
                             and os.path.relpath(os.path.join(dirpath, d), root) not in exclude)
        for fn in sorted(filenames):
            path = os.path.join(dirpath, fn)
            ext = os.path.splitext(fn)[1]
            if ext not in SOURCE_EXTS and fn not in ("Makefile",):
                continue
            try:
                if os.path.getsize(path) > MAX_FILE:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if b"\0" in data:
                continue
            try:
                yield os.path.relpath(path, root), data.decode("utf-8")
            except UnicodeDecodeError:
                continue


def json_requirements(obj, out, label):
    """Collect (label, ids) from every "requirements" array in a JSON value."""
    if isinstance(obj, dict):
        name = obj.get("name") or obj.get("id") or label
        reqs = obj.get("requirements")
        if isinstance(reqs, list):
            out.append((str(name), [r for r in reqs if isinstance(r, str)]))
        for k, v in obj.items():
            if k != "requirements":
                json_requirements(v, out, name if isinstance(name, str) else label)
    elif isinstance(obj, list):
        for v in obj:
            json_requirements(v, out, label)


def find_citations(root, subdirs, exclude, errors):
    """Return list of (location, id)."""
    cites = []
    for sub in subdirs:
        for rel, text in iter_files(root, sub, exclude):
            if rel.endswith(".json"):
                try:
                    obj = json.loads(text)
                except ValueError as e:
                    errors.append("%s: not valid JSON: %s" % (rel, e))
                    continue
                found = []
                json_requirements(obj, found, os.path.basename(rel))
                for label, ids in found:
                    for rid in ids:
                        if not ID_RE.fullmatch(rid):
                            errors.append("%s[%s]: %r is not a requirement ID" % (rel, label, rid))
                            continue
                        cites.append(("%s[%s]" % (rel, label), rid))
                continue
            lines = text.split("\n")
            for n, line in enumerate(lines, 1):
                if "spec:" not in line:
                    continue
                last = None
                for m in CITE_RE.finditer(line):
                    last = m
                    for rid in ID_RE.findall(m.group(1)):
                        cites.append(("%s:%d" % (rel, n), rid))
                # A citation that runs to the end of its line may go on in
                # the next comment lines: " * TOKEN-8 TOKEN-9" continues it.
                more = last is not None and line[last.end():].strip() == ""
                k = n
                while more and k < len(lines):
                    c = CONT_RE.match(lines[k])
                    if c is None:
                        break
                    k += 1
                    for rid in ID_RE.findall(c.group(1)):
                        cites.append(("%s:%d" % (rel, k), rid))
                    more = c.group(2).strip() == ""
    return cites


def read_exceptions(path, reqs, errors):
    exc = {}
    if not os.path.exists(path):
        return exc
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 1)
            rid = parts[0]
            where = "%s:%d" % (os.path.relpath(path), n)
            if not ID_RE.fullmatch(rid):
                errors.append("%s: %r is not a requirement ID" % (where, rid))
                continue
            if len(parts) < 2 or not parts[1].strip():
                errors.append("%s: %s has no reason" % (where, rid))
                continue
            if rid not in reqs:
                errors.append("%s: %s is not a requirement of the spec" % (where, rid))
                continue
            if reqs[rid].withdrawn:
                errors.append("%s: %s is withdrawn; remove it from the exceptions" % (where, rid))
                continue
            if rid in exc:
                errors.append("%s: %s is listed twice" % (where, rid))
                continue
            exc[rid] = parts[1].strip()
    return exc


def id_key(rid):
    p, n = rid.rsplit("-", 1)
    return (PREFIXES.index(p) if p in PREFIXES else 99, p, int(n))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=".", help="repository root (default .)")
    ap.add_argument("--spec", default="spec", help="spec directory, relative to root")
    ap.add_argument("--exceptions", default=None,
                    help="exceptions file (default SPEC/compliance-exceptions.txt)")
    ap.add_argument("--code", default="ref", help="comma-separated code dirs")
    ap.add_argument("--tests", default="conformance,fuzz,spec/model",
                    help="comma-separated test dirs (spec/model: the spin model is evidence)")
    ap.add_argument("--exclude", default="conformance/tools/testdata",
                    help="comma-separated dirs (relative to root) not scanned")
    ap.add_argument("--json", default=None, help="write the machine-readable report here")
    ap.add_argument("--quiet", action="store_true", help="print only problems and the summary")
    ap.add_argument("--prune-stale", action="store_true",
                    help="remove from the exceptions file every listed ID that is now tested "
                         "(never adds entries), then report")
    a = ap.parse_args(argv)

    root = a.root
    spec_dir = os.path.join(root, a.spec)
    exc_path = a.exceptions or os.path.join(spec_dir, "compliance-exceptions.txt")
    exclude = set(x.strip().rstrip("/") for x in a.exclude.split(",") if x.strip())

    spec_errors = []
    if not os.path.isdir(spec_dir):
        print("compliance: no spec directory %s" % spec_dir, file=sys.stderr)
        return 2
    reqs, revision = parse_spec(spec_dir, spec_errors)

    errors = []
    code_dirs = [d for d in a.code.split(",") if d]
    test_dirs = [d for d in a.tests.split(",") if d]
    for loc, rid in find_citations(root, code_dirs, exclude, errors):
        r = reqs.get(rid)
        if r is None:
            errors.append("%s: cites %s, which the spec does not define" % (loc, rid))
        elif r.withdrawn:
            errors.append("%s: cites %s, which is withdrawn" % (loc, rid))
        elif loc not in r.code:
            r.code.append(loc)
    for loc, rid in find_citations(root, test_dirs, exclude, errors):
        r = reqs.get(rid)
        if r is None:
            errors.append("%s: cites %s, which the spec does not define" % (loc, rid))
        elif r.withdrawn:
            errors.append("%s: cites %s, which is withdrawn" % (loc, rid))
        elif loc not in r.tests:
            r.tests.append(loc)

    if a.prune_stale and os.path.exists(exc_path):
        tested = {r.id for r in reqs.values() if r.tests}
        with open(exc_path, encoding="utf-8") as f:
            lines = f.readlines()
        kept = [ln for ln in lines
                if not (ln.strip() and not ln.lstrip().startswith("#")
                        and ln.split(None, 1)[0] in tested)]
        if len(kept) != len(lines):
            with open(exc_path, "w", encoding="utf-8") as f:
                f.writelines(kept)
            print("compliance: pruned %d stale exceptions from %s" % (len(lines) - len(kept), exc_path))

    exc = read_exceptions(exc_path, reqs, errors)

    problems = []
    ordered = sorted(reqs.values(), key=lambda r: id_key(r.id))
    for r in ordered:
        if r.withdrawn:
            continue
        must = r.level in ("MUST", "MUST NOT")
        if r.tests and r.id in exc:
            problems.append("%s is tested (%s) but listed in the exceptions: remove it "
                            "(stale exception)" % (r.id, r.tests[0]))
        elif must and not r.tests and r.id not in exc:
            problems.append("%s (%s, %s) is an untested MUST not listed in the exceptions "
                            "(%s:%d)" % (r.id, r.level, "/".join(r.parties), r.path, r.line))

    # ---- report -------------------------------------------------------------
    out = []
    if not a.quiet:
        for r in ordered:
            loc = "%s#%s" % (r.path.split("/")[-1], r.anchor) if r.anchor else r.path
            if r.withdrawn:
                out.append("%-12s withdrawn  %s" % (r.id, loc))
                continue
            out.append("%-12s %-10s %-22s %s" % (r.id, r.level, "/".join(r.parties), loc))
            out.append("    code:  %s" % (", ".join(r.code) if r.code else "-"))
            if r.tests:
                out.append("    tests: %s" % ", ".join(r.tests))
            elif r.id in exc:
                out.append("    tests: - (exception: %s)" % exc[r.id])
            else:
                out.append("    tests: -")
    summary = {}
    for cls, levels in (("MUST", ("MUST", "MUST NOT")), ("SHOULD", ("SHOULD", "SHOULD NOT")),
                        ("MAY", ("MAY",))):
        rs = [r for r in ordered if not r.withdrawn and r.level in levels]
        tested = [r for r in rs if r.tests]
        untested = [r for r in rs if not r.tests]
        summary[cls] = {
            "total": len(rs), "tested": len(tested), "untested": len(untested),
            "excepted": len([r for r in untested if r.id in exc]),
            "with_code": len([r for r in rs if r.code]),
            "untested_ids": [r.id for r in untested],
        }
    withdrawn = [r.id for r in ordered if r.withdrawn]
    out.append("")
    out.append("spec revision %s: %d requirements (%d withdrawn)"
               % (revision or "?", len(ordered), len(withdrawn)))
    for cls in ("MUST", "SHOULD", "MAY"):
        s = summary[cls]
        line = "%d %s: %d tested, %d untested" % (s["total"], cls, s["tested"], s["untested"])
        if cls == "MUST":
            line += " (%d in the exceptions file)" % s["excepted"]
        line += "; %d with code sites" % s["with_code"]
        out.append(line)
    for e in spec_errors:
        out.append("SPEC ERROR: " + e)
    for e in errors:
        out.append("ERROR: " + e)
    for p in problems:
        out.append("FAIL: " + p)
    ok = not spec_errors and not errors and not problems
    out.append("compliance: %s" % ("PASSED" if ok else "FAILED"))
    print("\n".join(out))

    if a.json:
        report = {
            "tool": "conformance/tools/compliance.py",
            "spec_revision": revision,
            "ok": ok,
            "summary": summary,
            "withdrawn": withdrawn,
            "spec_errors": spec_errors,
            "errors": errors,
            "failures": problems,
            "requirements": [{
                "id": r.id, "level": r.level, "parties": r.parties, "withdrawn": r.withdrawn,
                "file": r.path, "line": r.line, "anchor": r.anchor, "text": r.text,
                "code": r.code, "tests": r.tests, "exception": exc.get(r.id),
                "status": ("withdrawn" if r.withdrawn else "tested" if r.tests
                           else "excepted" if r.id in exc else "untested"),
            } for r in ordered],
        }
        d = os.path.dirname(a.json)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, sort_keys=False)
            f.write("\n")
    if spec_errors:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
