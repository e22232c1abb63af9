#!/usr/bin/python3
"""mutant_decoder.py — deliberately wrong variants of the Python peer
decoder (conformance/peers/python/decoder.py), one defect each, for the
decoder oracle's self-test (decoder_selftest.py): each must disagree with
the reference on some input of `handoff-conform decode`.

    mutant_decoder.py --mutant NAME FRAME_TYPE     (--list: every mutant)

Each mutant is a source edit of decoder.py applied when it starts (the
text it replaces must occur exactly once, so a change of decoder.py that
removes it fails loudly instead of leaving a mutant that is not one).
"""

import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "..", "peers", "python")
sys.path.insert(0, PEERS)
sys.path.insert(0, HERE)

from backend import ProtocolError  # noqa: E402
from mutantlib import cli, registry  # noqa: E402

MUTANTS, mutant = registry("decode")


def lenient_read_varint(buf, pos, max_bytes):
    """backend.read_varint, except that a varint cut off by the end of the
    buffer yields the bits read so far."""
    value, shift = 0, 0
    for i in range(max_bytes):
        if pos + i >= len(buf):
            return value, pos + i                     # the defect: MSG-10 says MALFORMED
        b = buf[pos + i]
        if i == 9 and b > 1:
            raise ProtocolError("MALFORMED")
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, pos + i + 1
    raise ProtocolError("MALFORMED")


@mutant("truncated-varint-accepted", "MSG-10", "a varint cut off by the end of its buffer is accepted",
        ["decode.vector"])
def truncated_varint():
    return [("from backend import ProtocolError, check_envelope, read_varint\n",
             "from backend import ProtocolError, check_envelope\n"
             "from mutant_decoder import lenient_read_varint as read_varint\n")]


@mutant("unknown-field-rejected", "MSG-1", "a length-delimited or varint field of unknown number is MALFORMED",
        ["decode.vector"])
def unknown_rejected():
    return [("            continue                                  # MSG-1: unknown fields are skipped",
             "            raise ProtocolError(\"MALFORMED\")")]


@mutant("oneof-not-merged", "MSG-2", "a repeated HelloReply member replaces the earlier one instead of merging "
        "(wrong JSON for the oneof)", ["decode.vector"])
def oneof_not_merged():
    return [("                if member_field != number:            # MSG-2: the other member starts afresh",
             "                if True:")]


@mutant("crash-on-empty", "FRAME-9", "an empty record (EOF before any byte) raises an uncaught exception",
        ["decode.stream"])
def crash_on_empty():
    return [("    if not data:\n        raise ProtocolError(\"CLOSED\")                 # FRAME-9: EOF at a frame boundary\n",
             "")]


@mutant("content-before-length-cap", "MSG-17", "a string is checked for UTF-8 and NUL before its length cap",
        ["decode.vector"])
def content_first():
    return [("""    if len(value) > cap:
        raise ProtocolError("STRING_TOO_LONG")        # MSG-6, in any occurrence
    if b"\\x00" in value:
        raise ProtocolError("STRING_INVALID")         # MSG-7
    try:
        return value.decode("utf-8")                  # strict: no overlongs, no surrogates
    except UnicodeDecodeError:
        raise ProtocolError("STRING_INVALID") from None""",
             """    if b"\\x00" in value:
        raise ProtocolError("STRING_INVALID")
    try:
        s = value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("STRING_INVALID") from None
    if len(value) > cap:
        raise ProtocolError("STRING_TOO_LONG")
    return s""")]


def run(install, argv):
    path = os.path.join(PEERS, "decoder.py")
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    for old, new in install():
        if src.count(old) != 1:
            sys.stderr.write("mutant_decoder.py: the text to mutate occurs %d times in decoder.py\n" % src.count(old))
            return 3
        src = src.replace(old, new)
    mod = types.ModuleType("decoder")
    mod.__file__ = path
    sys.modules["decoder"] = mod
    exec(compile(src, path, "exec"), mod.__dict__)
    return mod.main(argv)


if __name__ == "__main__":
    sys.exit(cli("mutant_decoder.py", MUTANTS, [], run))
