#!/usr/bin/python3
"""Hold spec/, proto/ and ref/include/handoff/ against each other.

1. Schema freeze (spec: VER-3): every field, enum value and reserved range
   of the original v1 is present in proto/handoff/v1 with the same number,
   name, type and label.
2. Extensions (spec: VER-4): every field or enum value beyond the frozen
   set has a number outside every reserved range and above the highest
   frozen number of its message.
3. Field tables: the tables of spec/messages.md and spec/envelope.md list
   exactly the fields of the .proto (number, name, type), and every cap they
   state equals the nanopb .options bound and the wire.h constant.
4. Registries (spec: VER-5 VER-6): the capability, offer-flag and
   backend-capability bits of spec/negotiation.md and spec/messages.md are
   the HO_CAP_* / HO_OFFER_FLAG_* / HO_BACKEND_CAP_* bits of wire.h, each
   registry assigned from bit 0 upwards without gaps; the payload protocol
   ids of spec/envelope.md are wire.h's and no id used by this spec lies in
   a range the original reserves.
5. Error names: the names of spec/errors.md are exactly those of
   HO_ERROR_LIST in error.h, and every golden vector expects one of them
   and names the requirements it exercises.

    /usr/bin/python3 conformance/schema/check_spec_schema.py [ROOT]
Exit status 0 when everything agrees; every disagreement is printed.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
PROTOS = ["handoff/v1/handoff_v1_envelope.proto", "handoff/v1/handoff_v1_handoff.proto"]
FD = descriptor_pb2.FieldDescriptorProto

# The original v1 (running-process broker v1), frozen: number -> (name, type, label).
T = {"u32": FD.TYPE_UINT32, "u64": FD.TYPE_UINT64, "str": FD.TYPE_STRING, "bytes": FD.TYPE_BYTES,
     "bool": FD.TYPE_BOOL, "enum": FD.TYPE_ENUM, "msg": FD.TYPE_MESSAGE}
OPT, REP = FD.LABEL_OPTIONAL, FD.LABEL_REPEATED
FROZEN = {
    "Frame": ({1: ("envelope_version", "u32"), 2: ("kind", "enum"), 3: ("payload_protocol", "u32"),
               4: ("payload", "bytes"), 5: ("request_id", "u64"), 6: ("payload_encoding", "enum"),
               7: ("deadline_unix_ms", "u64"), 8: ("traceparent", "str"), 9: ("tracestate", "str")},
              [(10, 15)]),
    "Hello": ({1: ("client_min_protocol", "u32"), 2: ("client_max_protocol", "u32"),
               3: ("service_name", "str"), 4: ("wanted_version", "str"), 5: ("client_version", "str"),
               6: ("client_capabilities", "u64"), 7: ("auth_token", "bytes"), 8: ("request_id", "str"),
               9: ("connection_id", "u64"), 10: ("peer_pid", "u32"), 11: ("client_lib_name", "str"),
               12: ("client_lib_version", "str"), 13: ("peer_attestation_nonce", "bytes"),
               14: ("capability_token", "bytes"), 15: ("client_keepalive_secs", "u64")},
              [(16, 20)]),
    "HelloReply": ({1: ("negotiated", "msg"), 2: ("refused", "msg")}, []),
    "Negotiated": ({1: ("negotiated_protocol", "u32"), 2: ("daemon_version", "str"),
                    3: ("backend_pipe", "str"), 4: ("warnings", "str", REP),
                    5: ("server_capabilities", "u64"), 6: ("keepalive_interval_secs", "u64"),
                    7: ("handle_passed_token", "bytes"), 8: ("connection_id", "u64")}, []),
    "Refused": ({1: ("reason", "str"), 2: ("daemon_min_protocol", "u32"),
                 3: ("daemon_max_protocol", "u32"), 4: ("code", "enum"),
                 5: ("details", "msg", REP), 6: ("retry_after_ms", "u64")}, []),
    "HandoffOffer": ({1: ("handle_value", "u64"), 2: ("token", "bytes"), 3: ("service_name", "str"),
                      4: ("correlation_id", "u64")}, [(5, 10)]),
    "HandoffAck": ({1: ("token", "bytes"), 2: ("accepted", "bool"), 3: ("error_detail", "str"),
                    4: ("correlation_id", "u64")}, [(5, 10)]),
}
FROZEN_ENUMS = {
    "FrameKind": ({0: "FRAME_KIND_REQUEST", 1: "FRAME_KIND_RESPONSE", 2: "FRAME_KIND_EVENT",
                   3: "FRAME_KIND_CANCEL"}, []),
    "PayloadEncoding": ({0: "PAYLOAD_ENCODING_NONE", 1: "PAYLOAD_ENCODING_ZSTD",
                         2: "PAYLOAD_ENCODING_SNAPPY", 3: "PAYLOAD_ENCODING_LZ4"}, []),
    "ErrorCode": ({0: "ERROR_CODE_UNSPECIFIED", 1: "ERROR_VERSION_UNSUPPORTED",
                   2: "ERROR_SERVICE_UNKNOWN", 3: "ERROR_BACKEND_SPAWN_FAILED", 4: "ERROR_RATE_LIMITED",
                   5: "ERROR_SHUTTING_DOWN", 6: "ERROR_PEER_REJECTED", 7: "ERROR_INTERNAL",
                   8: "ERROR_VERSION_BLOCKED", 9: "ERROR_FD_PRESSURE"}, [(10, 20)]),
}
# Reserved ranges the original defines and wire.h's payload ids it reserves.
ORIGINAL_RESERVED_PAYLOAD = [(0x7000, 0x7EFF), (0xF000, 0xFFFF)]
ORIGINAL_ASSIGNED_PAYLOAD = {0x0000, 0xD0FF, 0xAD01, 0xB232, 0x5350}

errors = []


def err(msg):
    errors.append(msg)


def descriptors():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "--include_imports", "--descriptor_set_out=" + out,
                        "-I" + os.path.join(ROOT, "proto")] + PROTOS, check=True)
        with open(out, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    msgs, enums = {}, {}
    for fd in fds.file:
        for m in fd.message_type:
            msgs[m.name] = m
            for n in m.nested_type:
                msgs[m.name + "." + n.name] = n
        for e in fd.enum_type:
            enums[e.name] = e
    return msgs, enums


def ranges_of(reserved):
    return [(r.start, r.end - 1) for r in reserved]  # descriptor end is exclusive


def check_freeze(msgs, enums):
    """spec: VER-3 VER-4"""
    for name, (fields, reserved) in FROZEN.items():
        m = msgs.get(name)
        if m is None:
            err("proto: message %s is missing" % name)
            continue
        got = {f.number: f for f in m.field}
        for num, spec in fields.items():
            fname, ftype = spec[0], T[spec[1]]
            label = spec[2] if len(spec) > 2 else OPT
            f = got.get(num)
            if f is None:
                err("proto: %s field %d (%s) of the original v1 is missing" % (name, num, fname))
            elif (f.name, f.type, f.label) != (fname, ftype, label):
                err("proto: %s field %d is %s/%d/%d, the original has %s/%d/%d"
                    % (name, num, f.name, f.type, f.label, fname, ftype, label))
        have_res = ranges_of(m.reserved_range)
        for r in reserved:
            if r not in have_res:
                err("proto: %s lacks the reserved range %d-%d of the original" % (name, r[0], r[1]))
        top = max(fields)
        for num, f in got.items():
            if num in fields:
                continue
            if any(lo <= num <= hi for lo, hi in reserved):
                err("proto: %s.%s uses reserved number %d" % (name, f.name, num))
            if num <= top:
                err("proto: %s.%s (%d) is not above the highest original number %d"
                    % (name, f.name, num, top))
    for name, (values, reserved) in FROZEN_ENUMS.items():
        e = enums.get(name)
        if e is None:
            err("proto: enum %s is missing" % name)
            continue
        got = {v.number: v.name for v in e.value}
        for num, vname in values.items():
            if got.get(num) != vname:
                err("proto: %s value %d is %r, the original has %r" % (name, num, got.get(num), vname))
        have_res = ranges_of(e.reserved_range)
        for r in reserved:
            if (r[0], r[1]) not in [(a, b) for a, b in [(x.start, x.end) for x in e.reserved_range]] \
                    and r not in have_res:
                err("proto: enum %s lacks the reserved range %d-%d" % (name, r[0], r[1]))
        for num, vname in got.items():
            if num not in values and (num <= max(values) or any(lo <= num <= hi for lo, hi in reserved)):
                err("proto: %s.%s (%d) is not outside the original's numbers" % (name, vname, num))


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def wire_constants():
    consts = {}
    for m in re.finditer(r"#define\s+(HO_\w+)\s+(.+?)\s*(?:/\*.*)?$", read("ref/include/handoff/wire.h"), re.M):
        expr = m.group(2).strip()
        expr = re.sub(r"UINT64_C\((\d+)\)", r"\1", expr).replace("u", "")
        try:
            consts[m.group(1)] = int(eval(expr, {"__builtins__": {}}))  # numbers and shifts only
        except Exception:
            pass
    return consts


def options():
    opts = {}
    for path in ("proto/handoff/v1/handoff_v1_envelope.options", "proto/handoff/v1/handoff_v1_handoff.options"):
        for line in read(path).splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            parts = line.split()
            field = parts[0].replace("handoff.v1.", "")
            for p in parts[1:]:
                k, _, v = p.partition(":")
                if v.isdigit():
                    opts.setdefault(field, {})[k] = int(v)
    return opts


def table_after(text, heading_re):
    """Rows (lists of cells) of the first table after the first heading matching heading_re."""
    m = re.search(heading_re, text, re.M)
    if not m:
        return None
    rows, started = [], False
    for line in text[m.end():].splitlines():
        s = line.strip()
        if s.startswith("|"):
            started = True
            cells = [c.strip() for c in s.strip("|").split("|")]
            if cells and (cells[0] in ("#", "bit", "value", "id") or set(cells[0]) <= set("-: ")):
                continue
            rows.append(cells)
        elif started:
            break
        elif s.startswith("#"):
            return None
    return rows


SPEC_TYPE = {FD.TYPE_UINT32: "uint32", FD.TYPE_UINT64: "uint64", FD.TYPE_STRING: "string",
             FD.TYPE_BYTES: "bytes", FD.TYPE_BOOL: "bool"}


def spec_type_of(f, msgs):
    if f.type == FD.TYPE_ENUM:
        return "enum `%s`" % f.type_name.split(".")[-1]
    if f.type == FD.TYPE_MESSAGE:
        t = f.type_name.split(".")[-1]
        if t.endswith("Entry"):
            return "map<string,string>"
        return "`%s`" % t
    base = SPEC_TYPE[f.type]
    return ("repeated " + base) if f.label == REP else base


def first_int(s):
    nums = [int(x) for x in re.findall(r"\d+", s)]
    return nums[0] if nums else None


def cap_of(s):
    """The byte cap a table cell states: the largest number outside code spans
    ("0 or exactly 16" -> 16, "64; syntax `...`" -> 64)."""
    nums = [int(x) for x in re.findall(r"\d+", re.sub(r"`[^`]*`", " ", s))]
    return max(nums) if nums else None


def check_tables(msgs):
    msgs_md = read("spec/messages.md")
    env_md = read("spec/envelope.md")
    opts = options()
    where = {
        "Frame": (env_md, r"^## 1\. Fields"),
        "Hello": (msgs_md, r"^## \d+\. `Hello`"),
        "HelloReply": (msgs_md, r"^## \d+\. `HelloReply`"),
        "Negotiated": (msgs_md, r"^### [\d.]+ `Negotiated`"),
        "Refused": (msgs_md, r"^### [\d.]+ `Refused`"),
        "HandoffOffer": (msgs_md, r"^## \d+\. `HandoffOffer`"),
        "HandoffAck": (msgs_md, r"^## \d+\. `HandoffAck`"),
    }
    for name, (text, heading) in where.items():
        rows = table_after(text, heading)
        if rows is None:
            err("spec: no field table for %s" % name)
            continue
        m = msgs[name]
        by_num = {f.number: f for f in m.field}
        listed = set()
        for cells in rows:
            num_cell = cells[0]
            if re.fullmatch(r"\d+[–-]\d+", num_cell):
                lo, hi = [int(x) for x in re.split(r"[–-]", num_cell)]
                if (lo, hi) not in ranges_of(m.reserved_range):
                    err("spec: %s table reserves %d-%d, the proto does not" % (name, lo, hi))
                continue
            if not num_cell.isdigit():
                err("spec: %s table row %r has no field number" % (name, cells))
                continue
            num = int(num_cell)
            listed.add(num)
            f = by_num.get(num)
            if f is None:
                err("spec: %s table lists field %d, the proto has none" % (name, num))
                continue
            if cells[1] != "`%s`" % f.name:
                err("spec: %s field %d is %s in the table, %s in the proto" % (name, num, cells[1], f.name))
            want = spec_type_of(f, msgs)
            if not cells[2].startswith(want):
                err("spec: %s.%s type %r in the table, %r expected" % (name, f.name, cells[2], want))
            # caps: strings and bytes (and repeated items) against .options and wire.h
            if f.type in (FD.TYPE_STRING, FD.TYPE_BYTES) or (f.type == FD.TYPE_MESSAGE and f.label == REP):
                o = opts.get("%s.%s" % (name, f.name), {})
                cap_cell = cells[3] if len(cells) > 4 else ""
                if f.type == FD.TYPE_STRING and "max_size" in o:
                    expect = o["max_size"] - 1
                elif f.type == FD.TYPE_BYTES and "max_size" in o:
                    expect = o["max_size"]
                else:
                    expect = None
                if f.label == REP:
                    items = first_int(cap_cell)
                    if items != o.get("max_count"):
                        err("spec: %s.%s item cap %r, .options max_count %r"
                            % (name, f.name, items, o.get("max_count")))
                    if f.type == FD.TYPE_STRING:
                        nums = [int(x) for x in re.findall(r"\d+", cap_cell)]
                        if len(nums) < 2 or nums[1] != expect:
                            err("spec: %s.%s item size %r, .options %r" % (name, f.name, nums, expect))
                    elif f.type == FD.TYPE_MESSAGE:
                        nums = [int(x) for x in re.findall(r"\d+", cap_cell)]
                        ko = opts.get("%s.DetailsEntry.key" % name, {}).get("max_size", 0) - 1
                        vo = opts.get("%s.DetailsEntry.value" % name, {}).get("max_size", 0) - 1
                        if nums[1:3] != [ko, vo]:
                            err("spec: %s.%s key/value caps %r, .options %r" % (name, f.name, nums[1:3], [ko, vo]))
                elif expect is not None:
                    got = cap_of(cap_cell)
                    if got != expect:
                        err("spec: %s.%s cap %r in the table, .options gives %r" % (name, f.name, got, expect))
                elif f.type in (FD.TYPE_STRING, FD.TYPE_BYTES) and f.name != "payload":
                    err("spec: %s.%s has no bound in the .options file" % (name, f.name))
        missing = set(by_num) - listed
        if missing:
            err("spec: %s table lacks fields %s" % (name, sorted(missing)))
    # The wire.h string caps are the same numbers (the codec checks .options = wire.h at build time;
    # here the two that matter to the frame layer).
    c = wire_constants()
    if c.get("HO_MAX_FRAME_BYTES") != 16 * 1024 * 1024 or c.get("HO_MAX_HELLO_BYTES") != 64 * 1024:
        err("wire.h: frame caps differ from spec/framing.md (16 MiB, 64 KiB)")
    if c.get("HO_TOKEN_BYTES") != 16:
        err("wire.h: HO_TOKEN_BYTES is not 16")


def check_registries():
    """spec: VER-5 VER-6"""
    c = wire_constants()
    neg = read("spec/negotiation.md")
    rows = table_after(neg, r"^## \d+\. Capability registry")
    spec_caps = {}
    for cells in rows or []:
        if cells[0].isdigit():
            spec_caps[cells[1].strip("`")] = int(cells[0])
    wire_caps = {k[3:]: v.bit_length() - 1 for k, v in c.items() if k.startswith("HO_CAP_")}
    if spec_caps != wire_caps:
        err("registry: capability bits in the spec %r, in wire.h %r" % (spec_caps, wire_caps))
    if sorted(wire_caps.values()) != list(range(len(wire_caps))):
        err("registry: capability bits are not assigned from 0 without gaps: %r" % wire_caps)
    msgs_md = read("spec/messages.md")
    for prefix, reg in (("HO_OFFER_FLAG_", "`offer_flags` registry"),
                        ("HO_BACKEND_CAP_", "`backend_capabilities` registry")):
        m = re.search(re.escape(reg) + r": (.*?)Bits \d+–63 are\s+unassigned", msgs_md, re.S)
        spec_bits = dict((n, int(b)) for b, n in re.findall(r"bit (\d+)\s+`(\w+)`", m.group(1))) if m else {}
        wire_bits = {k[3:]: v.bit_length() - 1 for k, v in c.items() if k.startswith(prefix)}
        if spec_bits != wire_bits:
            err("registry: %s in the spec %r, in wire.h %r" % (reg, spec_bits, wire_bits))
        if sorted(wire_bits.values()) != list(range(len(wire_bits))):
            err("registry: %s bits not assigned from 0 without gaps" % reg)
    env = read("spec/envelope.md")
    rows = table_after(env, r"^## \d+\. Payload protocol ids")
    spec_ids = set()
    for cells in rows or []:
        m = re.fullmatch(r"`0x([0-9A-Fa-f]{4})`", cells[0])
        if m:
            spec_ids.add(int(m.group(1), 16))
    wire_ids = {v for k, v in c.items() if k.startswith("HO_PAYLOAD_") and not k.endswith(("_FIRST", "_LAST"))}
    if spec_ids != wire_ids:
        err("registry: payload ids in the spec %r, in wire.h %r" % (sorted(spec_ids), sorted(wire_ids)))
    for pid in wire_ids - ORIGINAL_ASSIGNED_PAYLOAD:
        if any(lo <= pid <= hi for lo, hi in ORIGINAL_RESERVED_PAYLOAD):
            err("registry: payload id 0x%04X lies in a range the original reserves" % pid)
    for lo_k, hi_k, rng in (("HO_PAYLOAD_CONSUMER_FIRST", "HO_PAYLOAD_CONSUMER_LAST", (0x7000, 0x7EFF)),
                            ("HO_PAYLOAD_PRIVATE_FIRST", "HO_PAYLOAD_PRIVATE_LAST", (0xF000, 0xFFFF))):
        if (c.get(lo_k), c.get(hi_k)) != rng:
            err("registry: %s..%s differ from the original's range" % (lo_k, hi_k))


def check_error_names():
    spec = set()
    for line in read("spec/errors.md").splitlines():
        if line.startswith("| ") and not line.startswith("| class") and "`" in line:
            cells = [x.strip() for x in line.strip("|").split("|")]
            if len(cells) == 3:
                spec |= set(re.findall(r"`([A-Z][A-Z_]+)`", cells[1]))
    code = set(re.findall(r"X\(([A-Z_]+),", read("ref/include/handoff/error.h")))
    if spec != code:
        err("errors: names only in spec/errors.md %s; only in error.h %s"
            % (sorted(spec - code), sorted(code - spec)))
    # Every golden vector names an error of that table and at least one requirement.
    vdir = os.path.join(ROOT, "conformance", "vectors")
    for fn in sorted(os.listdir(vdir)) if os.path.isdir(vdir) else []:
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(vdir, fn), encoding="utf-8") as f:
            v = json.load(f)
        e = (v.get("expect") or {}).get("error")
        if e is not None and e not in spec:
            err("vectors: %s expects error %r, not an error name of spec/errors.md" % (fn, e))
        if not v.get("requirements"):
            err("vectors: %s names no requirement IDs" % fn)


def main():
    msgs, enums = descriptors()
    check_freeze(msgs, enums)
    check_tables(msgs)
    check_registries()
    check_error_names()
    for e in errors:
        print("MISMATCH: " + e)
    print("check_spec_schema: %s (%d mismatches)" % ("ok" if not errors else "FAILED", len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
