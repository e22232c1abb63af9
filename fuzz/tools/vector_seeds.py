#!/usr/bin/python3
"""Every golden vector (conformance/vectors/*.json) as a seed of each fuzz
target that reads its form, named by the sha1 of the content:

  fuzz_frame_decode, fuzz_msg_json  the whole input (a wire frame)
  fuzz_envelope                     the frame body (bytes after the header)
  fuzz_frame_reader                 [cap selector][seed] + the whole input, as a
                                    stream (Hello cap for Hello vectors, the
                                    default cap otherwise), plus one stream of
                                    every decodable vector back to back
  fuzz_hello, fuzz_hello_reply,     the envelope's payload (last occurrence of
  fuzz_offer, fuzz_ack              field 4) of vectors of that message (ack
                                    and ready vectors for fuzz_ack), whenever
                                    the body parses far enough to have one

    fuzz/tools/vector_seeds.py [--root DIR] [--check]

Without --check: writes the missing seeds (never deletes a corpus file).
With --check: fails listing every vector whose seed is missing from a
corpus (make test runs this), so a new vector cannot be forgotten.
"""
import argparse
import glob
import hashlib
import json
import os
import sys

PAYLOAD_TARGET = {"hello": "fuzz_hello", "hello_reply": "fuzz_hello_reply", "offer": "fuzz_offer",
                  "ack": "fuzz_ack", "ready": "fuzz_ack"}


def varint(buf, i):
    v = shift = 0
    for _ in range(10):
        if i >= len(buf):
            return None, i
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
    return None, i


def envelope_payload(body):
    """Field 4 of a Frame body (last occurrence), parsing as far as it goes."""
    i, payload = 0, None
    while i < len(body):
        tag, i = varint(body, i)
        if tag is None:
            break
        wt = tag & 7
        if wt == 0:
            v, i = varint(body, i)
            if v is None:
                break
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = varint(body, i)
            if n is None or i + n > len(body):
                break
            if tag >> 3 == 4:
                payload = body[i:i + n]
            i += n
        else:
            break
        if i > len(body):
            break
    return payload


def seeds_of(v):
    """(target, bytes) pairs for one vector."""
    wire = bytes.fromhex(v["hex"])
    out = [("fuzz_frame_decode", wire), ("fuzz_msg_json", wire)]
    cap = b"\x01" if v["message"] == "hello" else b"\x00"
    out.append(("fuzz_frame_reader", cap + b"\x00" + wire))
    if len(wire) >= 5:
        body = wire[5:]
        out.append(("fuzz_envelope", body))
        p = envelope_payload(body)
        if p is not None:
            out.append((PAYLOAD_TARGET[v["message"]], p))
    return out


def all_seeds(root):
    vectors = [json.load(open(f, encoding="utf-8"))
               for f in sorted(glob.glob(os.path.join(root, "conformance", "vectors", "*.json")))]
    if not vectors:
        sys.exit("vector_seeds: no vectors under %s/conformance/vectors" % root)
    seeds = []
    for v in vectors:
        seeds += [(v["id"], t, b) for t, b in seeds_of(v)]
    stream = b"".join(bytes.fromhex(v["hex"]) for v in vectors if "ok" in v["expect"])
    seeds.append(("(all decodable vectors)", "fuzz_frame_reader", b"\x00\x2a" + stream))
    return vectors, seeds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    vectors, seeds = all_seeds(a.root)
    missing, written = [], 0
    for vid, target, data in seeds:
        d = os.path.join(a.root, "fuzz", "corpus", target)
        path = os.path.join(d, hashlib.sha1(data).hexdigest())
        if os.path.exists(path):
            continue
        if a.check:
            missing.append("%s -> %s" % (vid, target))
            continue
        os.makedirs(d, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        written += 1
    if missing:
        sys.exit("vector_seeds: %d seeds missing (run make fuzz-seeds):\n  %s"
                 % (len(missing), "\n  ".join(missing)))
    targets = sorted({t for _, t, _ in seeds})
    print("vector_seeds: %d vectors -> %d seeds in %d corpora%s"
          % (len(vectors), len(seeds), len(targets),
             "" if a.check else " (%d written)" % written))


if __name__ == "__main__":
    main()
