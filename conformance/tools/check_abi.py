#!/usr/bin/env python3
"""make test-abi: the shared library exports exactly the public API.

  check_abi.py LIBSO SONAME SYMBOLS [--update]

Checks (a) every public declaration in ref/include/handoff/*.h carries
HO_API (api_mark.py --check), (b) LIBSO's SONAME is SONAME, (c) the
defined dynamic symbols of LIBSO equal the committed list SYMBOLS (one name
a line), (d) every exported name is declared with HO_API in a public header.
With --update the list is rewritten from LIBSO instead of compared.
"""
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 3 or f[1] == 'A':  # 'A': the version node HANDOFF_0
            continue
        names.add(f[2].split('@')[0])
    return names


def declared():
    names = set()
    for h in glob.glob('ref/include/handoff/*.h'):
        names |= set(re.findall(r'^HO_API [^(;]*?\b(ho_\w+)\s*\(', open(h).read(), re.M))
    return names


def main(argv):
    update = '--update' in argv
    lib, soname, symbols = [a for a in argv if a != '--update']
    fails = []
    if subprocess.run([sys.executable, os.path.join(HERE, 'api_mark.py'), '--check']).returncode:
        fails.append('public declarations without HO_API (see above)')
    dyn = subprocess.run(['readelf', '-d', lib], check=True, capture_output=True, text=True).stdout
    m = re.search(r'Library soname: \[(.*?)\]', dyn)
    if not m or m.group(1) != soname:
        fails.append(f'SONAME is {m.group(1) if m else "missing"}, expected {soname}')
    names = exported(lib)
    if update:
        with open(symbols, 'w') as f:
            f.write(''.join(n + '\n' for n in sorted(names)))
        print(f'check_abi: wrote {len(names)} symbols to {symbols}')
    else:
        want = set(l.strip() for l in open(symbols) if l.strip() and not l.startswith('#'))
        for n in sorted(names - want):
            fails.append(f'exported but not in {symbols}: {n}')
        for n in sorted(want - names):
            fails.append(f'in {symbols} but not exported: {n}')
    for n in sorted(names - declared()):
        fails.append(f'exported but not declared with HO_API in ref/include/handoff/: {n}')
    for f in fails:
        print('check_abi: FAIL ' + f, file=sys.stderr)
    if fails:
        print("check_abi: an intended ABI change is a deliberate diff: run "
              "'make abi-update' and commit ref/abi/libhandoff.symbols", file=sys.stderr)
        return 1
    print(f'check_abi: {len(names)} exported symbols, all public and listed; SONAME {soname}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
