"""mutantlib.py — what the three mutant programs share (mutant_backend.py,
mutant_broker.py, mutant_client.py): the registry of mutants, each with the
requirement it violates, the self-test suite it runs in and its hinted
cases, and the command line (--list, --mutant NAME)."""

import json
import os
import sys


def registry(default_mode):
    """(MUTANTS, decorator): @mutant(name, violates, what, hint, mode=...)."""
    mutants = {}

    def mutant(name, violates, what, hint, mode=default_mode):
        def deco(fn):
            mutants[name] = {"name": name, "violates": violates, "what": what, "hint": hint, "mode": mode,
                             "install": fn}
            return fn
        return deco
    return mutants, mutant


def cli(prog, mutants, unit_only, run):
    """--list prints every mutant as JSON; --mutant NAME (or $HANDOFF_MUTANT)
    calls run(install, argv) with the rest of the command line."""
    argv = sys.argv[1:]
    if argv[:1] == ["--list"]:
        print(json.dumps([{k: v for k, v in m.items() if k != "install"} for m in mutants.values()]
                         + [{"unit_only": [{"reqs": r, "why": w} for r, w in unit_only]}], indent=1))
        return 0
    name = os.environ.get("HANDOFF_MUTANT", "")
    if argv[:1] == ["--mutant"] and len(argv) >= 2:
        name, argv = argv[1], argv[2:]
    if name not in mutants:
        sys.stderr.write("%s: unknown mutant %r (--list shows them)\n" % (prog, name))
        return 2
    sys.stderr.write("%s: mutant %s (%s)\n" % (prog, name, mutants[name]["what"]))
    return run(mutants[name]["install"], argv)
