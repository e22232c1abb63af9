#!/usr/bin/python3
"""Cross-check every decodable golden vector against Google's protoc.

For each vector whose expectation is "ok": the frame body is decoded by
`protoc --decode=handoff.v1.Frame` and the payload (taken from protoc's own
output) by `protoc --decode=<payload message>` against the .proto files in
proto/; protoc's text output is read back into messages, rendered in the
canonical JSON of conformance/vectors/README.md and compared with the
vector's expectation. A vector marked canonical must also equal Google's
deterministic re-encoding (unknown fields dropped).

    /usr/bin/python3 conformance/tools/check_vectors_protoc.py [VECTOR_DIR]

Exits non-zero on any difference. spec: MSG-1 MSG-2 MSG-3 MSG-4 MSG-11
"""
import glob
import json
import os
import subprocess
import sys

from google.protobuf import text_format

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import vectorlib as V  # noqa: E402


def protoc_decode(type_name, data):
    r = subprocess.run(["protoc", "--decode=handoff.v1." + type_name, "-I" + os.path.join(ROOT, "proto")]
                       + V.PROTOS, input=data, capture_output=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError("protoc --decode=%s failed: %s" % (type_name, r.stderr.decode().strip()))
    return r.stdout.decode("utf-8")


def main():
    vdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "conformance", "vectors")
    M = V.load_messages(ROOT)
    failures = checked = 0
    for path in sorted(glob.glob(os.path.join(vdir, "*.json"))):
        v = json.load(open(path, encoding="utf-8"))
        if "ok" not in v["expect"]:
            continue
        checked += 1
        try:
            wire = bytes.fromhex(v["hex"])
            f = M["Frame"]()
            text_format.Parse(protoc_decode("Frame", V.split_frame(wire)), f, allow_unknown_field=True)
            cls = V.FRAME_TYPES[v["message"]][0]
            p = M[cls]()
            text_format.Parse(protoc_decode(cls, f.payload), p, allow_unknown_field=True)
            got = {"envelope": V.render_envelope(f), "message": V.RENDER[cls](p)}
            if V.canonical_json(got) != V.canonical_json(v["expect"]["ok"]):
                raise RuntimeError("protoc decodes to %s" % V.canonical_json(got))
            if v.get("canonical") and not V.is_canonical(M, v["message"], wire):
                raise RuntimeError("marked canonical but Google re-encodes it differently")
        except Exception as e:  # report every vector, then fail
            failures += 1
            print("FAIL %s: %s" % (v["id"], e))
    print("protoc cross-check: %d decodable vectors, %d failures" % (checked, failures))
    sys.exit(1 if failures or checked == 0 else 0)


if __name__ == "__main__":
    main()
