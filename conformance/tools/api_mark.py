#!/usr/bin/env python3
"""Mark every public function declaration of ref/include/handoff/*.h with HO_API.

A public function declaration is a line at column 0, outside comments and
preprocessor lines, that is not a typedef and names `ho_<name>(` as the
declared function (a return type precedes it). The marker goes at the start
of that line; a header that uses HO_API includes "handoff/version.h".

  api_mark.py [--check] [HEADER...]     (default: ref/include/handoff/*.h)

Without --check the headers are rewritten in place (idempotent; re-run it
after renaming or adding API). With --check nothing is written and the exit
status is 1 when a declaration lacks the marker or a header lacks the
include; each problem is printed as FILE:LINE: message.
"""
import glob
import re
import sys

DECL = re.compile(r'^(?!typedef\b|static\b|extern\b|enum\b|struct\s+\w+\s*\{|#)'
                  r'[A-Za-z_][\w \t\*]*?\b(ho_\w+)\s*\(')
INCLUDE = '#include "handoff/version.h"'


def scan(text):
    """Yield (index, line) of every public declaration line not in a comment."""
    in_comment = False
    for i, line in enumerate(text.split('\n')):
        start_in_comment = in_comment
        # track /* ... */ state across the line
        j = 0
        while j < len(line):
            if in_comment:
                k = line.find('*/', j)
                if k < 0:
                    j = len(line)
                else:
                    in_comment, j = False, k + 2
            else:
                k = line.find('/*', j)
                if k < 0:
                    j = len(line)
                else:
                    in_comment, j = True, k + 2
        if start_in_comment:
            continue
        body = line[len('HO_API '):] if line.startswith('HO_API ') else line
        if DECL.match(body) and '(*' not in body.split('ho_', 1)[0]:
            yield i, line


def process(path, check):
    text = open(path, encoding='utf-8').read()
    lines = text.split('\n')
    problems = []
    marked = False
    for i, line in list(scan(text)):
        marked = True
        if not line.startswith('HO_API '):
            problems.append(f'{path}:{i + 1}: public declaration without HO_API: {line.strip()}')
            lines[i] = 'HO_API ' + line
    if path.endswith('/version.h'):
        need_include = False
    else:
        need_include = marked and INCLUDE not in text
    if need_include:
        problems.append(f'{path}: uses HO_API but does not {INCLUDE}')
        guard = next((n for n, l in enumerate(lines) if re.match(r'#define HANDOFF_\w+_H\b', l)), None)
        if guard is None:
            problems.append(f'{path}: no include guard to put {INCLUDE} after')
        else:
            lines.insert(guard + 1, '')
            lines.insert(guard + 2, INCLUDE)
    if not check and problems:
        open(path, 'w', encoding='utf-8').write('\n'.join(lines))
    return problems


def main(argv):
    check = '--check' in argv
    paths = [a for a in argv if a != '--check'] or sorted(glob.glob('ref/include/handoff/*.h'))
    problems = []
    for p in paths:
        problems += process(p, check)
    if check:
        for p in problems:
            print('api_mark: ' + p, file=sys.stderr)
        if problems:
            print("api_mark: run 'python3 conformance/tools/api_mark.py' to add the marker", file=sys.stderr)
            return 1
        return 0
    for p in problems:
        print('api_mark: fixed ' + p)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
