"""Vectors promoted from fuzz findings by `make fuzz-promote` (fuzz/tools/
promote.py): one entry of vectors_fuzz.json each, with the input exactly as
the fuzzer produced it. The expectation of a decodable input is Google's
decoding (as for every vector); that of a rejected one is the error name
the reference decoder gives once the finding is fixed, which the promotion
checked both codecs agree on. Imported by make_vectors.py."""
import json
import os

ENTRIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors_fuzz.json")


def entries():
    if not os.path.exists(ENTRIES):
        return []
    with open(ENTRIES, encoding="utf-8") as fh:
        return json.load(fh)


def build(g):
    for e in entries():
        g["add"](e["id"], e["description"], e["requirements"], e["direction"], e["message"],
                 bytes.fromhex(e["hex"]), e.get("error"))
