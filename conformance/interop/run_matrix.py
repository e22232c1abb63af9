#!/usr/bin/python3
"""run_matrix.py — interop matrix: every broker x backend x client combination.

Parties: the C reference programs (build/bin/handoff-broker, -backend,
-client), the v1 test peers (conformance/peers/v1/*.py), which behave like
the ORIGINAL running-process v1, and the spec's Python example broker and
client (conformance/peers/python/broker.py, client.py). Each cell starts one backend and one broker,
runs N clients (P at a time), each with a unique request (a nonce), and judges
from observation only:

  served     the client's exit status and its own echo check (its nonce came
             back to it)
  route      the route the client reports (handoff / reconnect), cross-checked
             with the route on which the backend executed the nonce
  executed   per nonce, from the backend: the v1 backend's --exec-log (one line
             per request, with the route); the C backend's log (one
             `conn-closed route=... bytes=B` line per connection: every nonce of
             a cell has a different length, so B names the nonce)
  double     a nonce executed more than once (never allowed, in any cell)
  leaked     descriptors of broker and backend (/proc/PID/fd) after the
             clients are done, minus before, minus the control connections
             still open (counted on the backend: connected sockets bound to the
             handoff endpoint, from /proc/net/unix)

Expectations: `handoff` (every client served once, by handoff), `reconnect`
(every client served once, by backend_pipe), `at-most-once` (no client's
request executed twice; a client not served must report OUTCOME_UNKNOWN).
A cell is red when any check fails; the exit status is 1 when any cell is red.

Standard library only. Run `run_matrix.py --help`; `make interop-matrix` runs
the full matrix, `make test-interop` the quick one.
"""

import argparse
import collections
import concurrent.futures as cf
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PEERS = os.path.join(ROOT, "conformance", "peers", "v1")
PYPEERS = os.path.join(ROOT, "conformance", "peers", "python")
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")

SERVICE = "echo"
NONCE_BASE = 40  # nonce i (without its newline) is NONCE_BASE + i bytes long


# ---- the cells ------------------------------------------------------------------

class Cell:
    def __init__(self, scenario, broker, backend, client, expect, n, bflags=(), kflags=(),
                 cflags=(), note="", warmup=None):
        self.scenario = scenario
        # Client flags of one client run before the counted ones (not judged):
        # a legacy handoff that brings the backend's declarations (READY-36).
        self.warmup = warmup
        self.broker, self.backend, self.client = broker, backend, client
        self.expect = expect
        self.n = n
        self.bflags, self.kflags, self.cflags = list(bflags), list(kflags), list(cflags)
        self.note = note

    @property
    def name(self):
        def tag(kind, flags):
            return kind + ("[" + " ".join(f.lstrip("-") for f in flags) + "]" if flags else "")
        return "%s: broker=%s backend=%s client=%s" % (
            self.scenario, tag(self.broker, self.bflags), tag(self.backend, self.kflags),
            tag(self.client, self.cflags))


def handoff_flags(client):
    return [] if client == "v1" else ["--handoff"]


def optout_flags(client):
    return ["--no-handoff"] if client == "v1" else []


def build_cells(n, n_small, n_ext):
    cells = []
    both = ("C", "v1")
    brokers, clients = ("C", "v1", "py"), ("C", "v1", "py")
    # spec: XFER-3 XFER-5 READY-2 READY-4 READY-37 CAP-1 — the common path,
    # every combination. The v1 backend assumes a blocking descriptor, so the
    # C broker must pass one (spec: XFER-25); the v1 broker passes blocking
    # descriptors, so the C backend must set the flags it needs (spec: XFER-26);
    # the v1 backend closes after one offer (spec: XFER-37).
    for b in brokers:
        for k in both:
            for c in clients:
                cells.append(Cell("handoff", b, k, c, "handoff", n, cflags=handoff_flags(c)))
    # spec: FALLBACK-3 FALLBACK-4 CAP-8 — clients that do not opt in.
    for b in brokers:
        for k in both:
            for c in clients:
                cells.append(Cell("opt-out", b, k, c, "reconnect", n_small,
                                  cflags=optout_flags(c)))
    # spec: FALLBACK-24 FALLBACK-20 XFER-18 — the backend refuses every offer.
    for b in brokers:
        for c in clients:
            cells.append(Cell("refusal", b, "C", c, "reconnect", n_small, kflags=["--fault", "refuse"],
                              cflags=handoff_flags(c)))
    # The original issues a token without a handoff endpoint, then drops
    # the stream (D-3): clients see EOF and fall back. spec: FALLBACK-24
    for k in both:
        for c in clients:
            cells.append(Cell("no-endpoint", "v1", k, c, "reconnect", n_small, bflags=["--no-endpoint"],
                              cflags=handoff_flags(c)))
    # Declared extensions, all three parties supporting them; the backend's
    # declaration comes in the ACK of a first (legacy) handoff, the warm-up.
    # spec: READY-36 READY-7 READY-9 READY-13 READY-14 CAP-5 CAP-7
    br = ["--handoff", "--backend-ready"]
    cells.append(Cell("ext", "C", "C", "C", "handoff", n_ext,
                      kflags=["--ready-mode", "backend"], cflags=br, warmup=["--handoff"],
                      note="backend-ready, learnt from ACK backend_capabilities"))
    cells.append(Cell("ext", "C", "C", "C", "handoff", n_ext,
                      kflags=["--ready-mode", "backend"], cflags=br + ["--early-data"],
                      warmup=["--handoff"], note="backend-ready + early data"))
    # The same extensions with the Python client and broker (spec 1.0.0-rc2;
    # the Python broker learns backend-ready mode from the ACKs, READY-36).
    for b, c in (("C", "py"), ("py", "C"), ("py", "py")):
        bf = ["--backend-ready"]
        cells.append(Cell("ext", b, "C", c, "handoff", n_ext, bflags=bf, kflags=["--ready-mode", "backend"],
                          cflags=br, warmup=["--handoff"], note="backend-ready"))
        cells.append(Cell("ext", b, "C", c, "handoff", n_ext, bflags=bf, kflags=["--ready-mode", "backend"],
                          cflags=br + ["--early-data"], warmup=["--handoff"],
                          note="backend-ready + early data"))
    # Coalesced reply (spec 1.0.0-rc2) end to end: the C broker told the
    # backend implements it, the C backend, both clients that implement it.
    # spec: READY-25 READY-26 READY-27 READY-28 READY-31 READY-32
    for c in ("C", "py"):
        cells.append(Cell("ext", "C", "C", c, "handoff", n_ext, bflags=["--backend-coalesced"],
                          kflags=["--ready-mode", "backend"],
                          cflags=br + ["--early-data", "--coalesced-reply"],
                          note="coalesced reply"))
    # Coalesced reply asked for by the client: with brokers and backends
    # that do not (yet) implement it, an ordinary backend-ready handoff.
    cells.append(Cell("ext", "py", "C", "py", "handoff", n_ext, bflags=["--backend-ready"],
                      kflags=["--ready-mode", "backend"],
                      cflags=br + ["--early-data", "--coalesced-reply"],
                      note="coalesced reply asked for, backend without it"))
    # Extension clients in front of an original broker: the broker knows no
    # extension bit (spec: CAP-1 CAP-9); with early data the request is in
    # the queue of a connection the v1 broker hands off in legacy mode: at
    # most once (spec: READY-20 READY-21; differences.md D-5).
    for k in both:
        for c in ("C", "py"):
            cells.append(Cell("ext-vs-v1", "v1", k, c, "handoff", n_small, cflags=br,
                              note="CAP_BACKEND_READY unknown to the broker: legacy"))
            cells.append(Cell("ext-vs-v1", "v1", k, c, "at-most-once", n_ext,
                              cflags=br + ["--early-data"],
                              note="early data to a v1 broker"))
    # An operator's --backend-ready in front of an original backend: no
    # declaration ever comes, so no backend-ready offer either (spec: READY-36;
    # the model's F1): served in legacy mode, at most once.
    cells.append(Cell("ext-vs-v1", "C", "v1", "C", "at-most-once", n_ext, bflags=["--backend-ready"],
                      cflags=br, note="broker --backend-ready, v1 backend"))
    return cells


# ---- processes ------------------------------------------------------------------

def wait_paths(paths, procs, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(os.path.exists(p) for p in paths):
            return True
        if any(p.poll() is not None for p in procs):
            return False
        time.sleep(0.01)
    return False


def start_backend(cell, bindir, d):
    ho, pipe = os.path.join(d, "ho.sock"), os.path.join(d, "pipe.sock")
    log = open(os.path.join(d, "backend.log"), "w")
    if cell.backend == "C":
        cmd = [os.path.join(bindir, "handoff-backend"), "--handoff-endpoint", ho,
               "--backend-pipe", pipe, "--log-level", "info"] + cell.kflags
    else:
        cmd = [PYTHON, os.path.join(PEERS, "backend.py"), "--handoff-endpoint", ho,
               "--backend-pipe", pipe, "--exec-log", os.path.join(d, "exec.log")] + cell.kflags
    p = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    return p, ho, pipe


def start_broker(cell, bindir, d, ho, pipe):
    lst = os.path.join(d, "broker.sock")
    flags = [f for f in cell.bflags if f != "--no-endpoint"]
    endpoint = [] if "--no-endpoint" in cell.bflags else ["--handoff-endpoint", ho]
    log = open(os.path.join(d, "broker.log"), "w")
    if cell.broker == "C":
        # --queue-ttl-ms 1000: twenty clients at a time against a backend
        # that takes one offer per control connection queue behind its
        # dials; the default 100 ms (FALLBACK-12) made a loaded machine's
        # slowness a QUEUE_TIMEOUT fallback in a cell that judges routes.
        cmd = [os.path.join(bindir, "handoff-broker"), "--listen", lst, "--backend-pipe", pipe,
               "--service", SERVICE, "--queue-ttl-ms", "1000"] + endpoint + flags
    elif cell.broker == "py":
        cmd = [PYTHON, os.path.join(PYPEERS, "broker.py"), "--listen", lst, "--backend-pipe", pipe,
               "--service", SERVICE, "--hello-rate", "0"] + endpoint + flags
    else:
        cmd = [PYTHON, os.path.join(PEERS, "broker.py"), "--listen", lst, "--backend-pipe", pipe,
               "--service", SERVICE] + endpoint + flags
    p = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    return p, lst


def stop(p, timeout=5.0):
    """SIGTERM to our own child, SIGKILL if it does not exit. Returns its
    exit status, or None if it had to be killed."""
    if p.poll() is not None:
        return p.returncode
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


def client_cmd(cell, bindir, lst, nonce):
    if cell.client == "C":
        return [os.path.join(bindir, "handoff-client"), "--connect", lst, "--service", SERVICE,
                "--json", "--message", nonce] + cell.cflags
    if cell.client == "py":
        return [PYTHON, os.path.join(PYPEERS, "client.py"), "--connect", lst, "--service", SERVICE,
                "--json", "--message", nonce] + cell.cflags
    return [PYTHON, os.path.join(PEERS, "client.py"), "--connect", lst, "--service", SERVICE,
            "--message", nonce] + cell.cflags


def run_client(cmd, i):
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        rc, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout", e.stdout or "", e.stderr or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
    rep = {}
    for line in reversed(out.strip().splitlines()):
        try:
            rep = json.loads(line)
            break
        except ValueError:
            continue
    return {"i": i, "rc": rc, "report": rep, "stderr": err.strip()[-300:],
            "wall_ms": (time.monotonic() - t0) * 1000}


# ---- observation ----------------------------------------------------------------

def fd_inodes(pid):
    """{fd: target} of a live process."""
    out = {}
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out[fd] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
    except OSError:
        return None
    return out


def settle_fd_counts(pids, quiet_s=0.25, limit_s=10.0):
    """Wait until the descriptor counts of `pids` are unchanged for `quiet_s`
    (or `limit_s` has passed)."""
    end = time.monotonic() + limit_s
    last, since = None, time.monotonic()
    while time.monotonic() < end:
        now = [len(fd_inodes(p) or {}) for p in pids]
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.02)


def unix_table():
    """inode -> (state, path) from /proc/net/unix (Linux)."""
    t = {}
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 7:
                t[parts[6]] = (parts[5], parts[7] if len(parts) > 7 else "")
    return t


def control_conns(backend_fds, ho):
    """Connected sockets of the backend bound to its handoff endpoint: the
    control connections still open (each has one broker end). An accepted
    socket carries its listener's bound name; both the C programs and the
    peers bind under a temporary name `ENDPOINT.<suffix>` and rename it."""
    if not backend_fds:
        return 0
    tab = unix_table()
    n = 0
    for target in backend_fds.values():
        m = re.match(r"socket:\[(\d+)\]", target)
        if not m or m.group(1) not in tab:
            continue
        state, path = tab[m.group(1)]
        if state == "03" and (path == ho or path.startswith(ho + ".")):
            n += 1
    return n


def fd_balance(bpid, kpid, base_b, base_k, ho):
    fb, fk = fd_inodes(bpid), fd_inodes(kpid)
    if fb is None or fk is None:
        return None
    ctl = control_conns(fk, ho)
    return {"broker": len(fb) - base_b - ctl, "backend": len(fk) - base_k - ctl, "ctl": ctl,
            "broker_fds": fb, "backend_fds": fk}


WARMUP_MSG = "warm-up\n"  # shorter than every nonce: never mistaken for one


def executions_v1(d, nonce_index):
    """(per-client list of routes, unattributed lines) from the exec log."""
    per = collections.defaultdict(list)
    stray = []
    path = os.path.join(d, "exec.log")
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            route, _, text = line.rstrip("\n").partition("\t")
            if text == WARMUP_MSG.rstrip("\n"):
                continue  # the cell's warm-up client
            i = nonce_index.get(text)
            if i is None:
                stray.append(line.strip())
            else:
                per[i].append(route)
    return per, stray


CONN_CLOSED = re.compile(r"event=conn-closed .*route=(\w+) .*bytes=(\d+)")


def executions_c(d, length_index):
    """The C backend logs one conn-closed line per connection with the bytes
    it read; a nonce's length (newline included) names its client."""
    per = collections.defaultdict(list)
    stray = []
    for line in open(os.path.join(d, "backend.log"), errors="replace"):
        m = CONN_CLOSED.search(line)
        if not m:
            continue
        route, nbytes = m.group(1), int(m.group(2))
        if nbytes == 0 or nbytes == len(WARMUP_MSG):
            continue
        i = length_index.get(nbytes)
        if i is None:
            stray.append(line.strip())
        else:
            per[i].append(route)
    return per, stray


def log_evidence(d, which):
    """A short summary of a daemon's log: event / reason counts."""
    path = os.path.join(d, which + ".log")
    if not os.path.exists(path):
        return []
    c = collections.Counter()
    unread = [0, 0]
    for line in open(path, errors="replace"):
        line = line.strip()
        m = re.search(r"event=(\S+)(.*)", line)
        if m:  # v1 peers and the C backend: event=NAME k=v ...
            ev, rest = m.group(1), m.group(2)
            if ev == "control-unread":  # v1 backend: bytes it closed unread
                unread[0] += 1
                unread[1] += int(re.search(r"bytes=(\d+)", rest).group(1))
                continue
            keys = re.findall(r"\b((?:why|reason|stage|detail|nonblocking|mode)=(?:'[^']*'|\S+))",
                              rest)
            c[" ".join([ev] + keys)] += 1
        elif "level=warn" in line or "level=error" in line:
            c[re.sub(r"\d+", "N", line.split(" ", 2)[2])] += 1
        elif re.match(r"^[a-z_]+(\{[^}]*\})? \d+$", line):  # C broker counters at exit
            k, v = line.rsplit(" ", 1)
            if v != "0" and not k.startswith("handoff_latency"):
                c["counter %s=%s" % (k, v)] += 1
    out = [("%5d  %s" % (n, k.strip())) for k, n in c.most_common(12)]
    if unread[0]:
        out.append("%5d  control connection(s) closed with %d bytes unread (further offers)"
                   % tuple(unread))
    return out


def pct(vals, p):
    if not vals:
        return 0
    vals = sorted(vals)
    return vals[max(0, -(-len(vals) * p // 100) - 1)]


# ---- one cell --------------------------------------------------------------------

def run_cell(cell, idx, bindir, parallel, outdir, settle_s):
    d = tempfile.mkdtemp(prefix="hoi%02d." % idx, dir="/tmp")  # short: sun_path
    res = {"cell": cell.name, "scenario": cell.scenario, "broker": cell.broker,
           "backend": cell.backend, "client": cell.client, "expect": cell.expect, "n": cell.n,
           "note": cell.note, "problems": []}
    t_cell = time.monotonic()
    kp, ho, pipe = start_backend(cell, bindir, d)
    bp = None
    try:
        if not wait_paths([ho, pipe], [kp]):
            res["problems"].append("backend did not start")
            return finish(res, d, outdir, idx, t_cell)
        bp, lst = start_broker(cell, bindir, d, ho, pipe)
        if not wait_paths([lst], [bp]):
            res["problems"].append("broker did not start")
            return finish(res, d, outdir, idx, t_cell)
        # The endpoint appears before a program has opened everything it keeps
        # (event loop, timers, a reserve descriptor): count only once both
        # descriptor tables have stopped changing (a loaded machine stretches
        # this well past any fixed sleep).
        settle_fd_counts([bp.pid, kp.pid])
        if cell.warmup is not None:
            wcell = Cell(cell.scenario, cell.broker, cell.backend, cell.client, cell.expect, 1,
                         cflags=cell.warmup)
            run_client(client_cmd(wcell, bindir, lst, WARMUP_MSG), -1)
        base_b, base_k = len(fd_inodes(bp.pid) or {}), len(fd_inodes(kp.pid) or {})

        nonces = []
        for i in range(cell.n):
            head = "%02d-%05d-%s-" % (idx, i, secrets.token_hex(6))
            nonces.append(head + "x" * (NONCE_BASE + i - len(head)))
        cmds = [client_cmd(cell, bindir, lst, nonce + "\n") for nonce in nonces]
        with cf.ThreadPoolExecutor(parallel) as ex:
            clients = list(ex.map(run_client, cmds, range(cell.n)))

        # Settle: connections close once the clients are gone.
        end = time.monotonic() + settle_s
        bal = fd_balance(bp.pid, kp.pid, base_b, base_k, ho)
        while bal and (bal["broker"] > 0 or bal["backend"] > 0) and time.monotonic() < end:
            time.sleep(0.05)
            bal = fd_balance(bp.pid, kp.pid, base_b, base_k, ho)
        alive_b, alive_k = bp.poll() is None, kp.poll() is None
    finally:
        rc_b = stop(bp) if bp is not None else "-"
        rc_k = stop(kp)
    if not alive_b:
        res["problems"].append("broker exited during the run (status %s)" % rc_b)
    if not alive_k:
        res["problems"].append("backend exited during the run (status %s)" % rc_k)
    res["leak_broker"] = bal["broker"] if bal else None
    res["leak_backend"] = bal["backend"] if bal else None
    res["ctl_open"] = bal["ctl"] if bal else None
    if bal and (bal["broker"] > 0 or bal["backend"] > 0):
        # spec: FALLBACK-20 XFER-7 XFER-20 — no descriptor outlives its connection.
        res["problems"].append("descriptors leaked: broker %+d backend %+d (beyond %d open "
                               "control connections)" % (bal["broker"], bal["backend"], bal["ctl"]))
        with open(os.path.join(d, "fds-after.json"), "w") as f:
            json.dump({"broker": bal["broker_fds"], "backend": bal["backend_fds"]}, f, indent=1)

    if cell.backend == "v1":
        per, stray = executions_v1(d, {n: i for i, n in enumerate(nonces)})
    else:
        per, stray = executions_c(d, {len(n) + 1: i for i, n in enumerate(nonces)})
    judge(cell, res, clients, per, stray)
    with open(os.path.join(d, "clients.jsonl"), "w") as f:
        for c in clients:
            f.write(json.dumps(c) + "\n")
    return finish(res, d, outdir, idx, t_cell)


def judge(cell, res, clients, per, stray):
    routes = collections.Counter()
    errors = collections.Counter()
    served = double = unknown = mismatch = lost = 0
    bad_route = 0
    t_total = []
    for c in clients:
        rep = c["report"]
        ok = c["rc"] == 0 and rep.get("ok") is True
        ex = per.get(c["i"], [])
        if len(ex) > 1:
            double += 1  # spec: READY-21 FALLBACK-24 — never executed twice
        if ok:
            served += 1
            route = rep.get("route", "?")
            routes[route] += 1
            t_total.append(rep.get("total_us", 0))
            if len(ex) == 0:
                lost += 1  # echoed without the backend having executed it?
            elif len(ex) == 1 and ex[0] != route:
                mismatch += 1  # spec: CLIENT-8 — the route actually taken
            if cell.expect in ("handoff", "reconnect") and route != cell.expect:
                bad_route += 1
        else:
            err = rep.get("error") or ("rc=%s" % c["rc"])
            errors["%s/%s" % (rep.get("route", "none"), err)] += 1
            if cell.expect == "at-most-once" and err == "OUTCOME_UNKNOWN" and len(ex) <= 1:
                unknown += 1
    res.update(served=served, routes=dict(routes), double=double, unknown=unknown,
               errors=dict(errors.most_common(6)), stray=len(stray),
               p50_ms=pct(t_total, 50) / 1000.0, p99_ms=pct(t_total, 99) / 1000.0)
    n = cell.n
    p = res["problems"]
    if double:
        p.append("%d request(s) executed twice" % double)
    if stray:
        p.append("%d execution(s) the runner cannot attribute to a nonce (e.g. %s)"
                 % (len(stray), stray[0][:120]))
    if mismatch:
        p.append("%d client(s) report a route other than the one the backend served" % mismatch)
    if lost:
        p.append("%d served client(s) whose request the backend never logged" % lost)
    if cell.expect in ("handoff", "reconnect"):
        if served < n:
            p.append("%d of %d clients not served (%s)" % (n - served, n, fmt_counter(errors)))
        if bad_route:
            p.append("%d served client(s) took another route than %s (%s)"
                     % (bad_route, cell.expect, fmt_counter(routes)))
    else:
        other = n - served - unknown
        if other:
            p.append("%d client(s) neither served nor OUTCOME_UNKNOWN (%s)"
                     % (other, fmt_counter(errors)))


def fmt_counter(c):
    return ", ".join("%s x%d" % kv for kv in c.most_common(4)) or "-"


def finish(res, d, outdir, idx, t_cell):
    res["seconds"] = round(time.monotonic() - t_cell, 2)
    res["green"] = not res["problems"]
    res["evidence"] = {"backend": log_evidence(d, "backend"), "broker": log_evidence(d, "broker")}
    dest = os.path.join(outdir, "cell%02d-%s-%s-%s-%s" % (idx, res["scenario"], res["broker"],
                                                           res["backend"], res["client"]))
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(d, dest, ignore=shutil.ignore_patterns("*.sock"))
    shutil.rmtree(d, ignore_errors=True)
    res["logs"] = os.path.relpath(dest, ROOT) if dest.startswith(ROOT) else dest
    return res


# ---- output ------------------------------------------------------------------------

def short(res):
    r = res["routes"] if "routes" in res else {}
    mark = "\u2713" if res["green"] else "\u2715"
    s = "%s %d/%d" % (mark, res.get("served", 0), res["n"])
    parts = []
    if r.get("handoff"):
        parts.append("H%d" % r["handoff"])
    if r.get("reconnect"):
        parts.append("R%d" % r["reconnect"])
    if res.get("unknown"):
        parts.append("U%d" % res["unknown"])
    if res.get("double"):
        parts.append("D%d" % res["double"])
    leak = (res.get("leak_broker") or 0) > 0 or (res.get("leak_backend") or 0) > 0
    if leak:
        parts.append("L%+d/%+d" % (res["leak_broker"], res["leak_backend"]))
    return s + (" " + " ".join(parts) if parts else "")


def table(rows, header):
    w = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "+" + "+".join("-" * (n + 2) for n in w) + "+"
    out = [line, "| " + " | ".join(str(h).ljust(n) for h, n in zip(header, w)) + " |", line]
    for r in rows:
        out.append("| " + " | ".join(str(x).ljust(n) for x, n in zip(r, w)) + " |")
    out.append(line)
    return "\n".join(out)


def print_matrix(results):
    print()
    print("Legend: served/N, H handoff, R reconnect, U OUTCOME_UNKNOWN (allowed only where "
          "expect=at-most-once), D executed twice, L leaked descriptors broker/backend.")
    by_scen = collections.OrderedDict()
    for r in results:
        by_scen.setdefault(r["scenario"], []).append(r)
    for scen, rs in by_scen.items():
        simple = all(not r["note"] for r in rs)
        if simple:
            cols = []
            for r in rs:
                col = "%s broker / %s backend" % (r["broker"], r["backend"])
                if col not in cols:
                    cols.append(col)
            grid = collections.OrderedDict()
            for r in rs:
                grid.setdefault("%s client" % r["client"], {})[
                    "%s broker / %s backend" % (r["broker"], r["backend"])] = short(r)
            rows = [[cl] + [grid[cl].get(c, "") for c in cols] for cl in grid]
            print("\nscenario %s (expect: %s)" % (scen, rs[0]["expect"]))
            print(table(rows, ["client \\ broker / backend"] + cols))
        else:
            print("\nscenario %s" % scen)
            rows = [[r["broker"], r["backend"], r["client"], r["note"], r["expect"], short(r)]
                    for r in rs]
            print(table(rows, ["broker", "backend", "client", "what", "expect", "result"]))
    red = [r for r in results if not r["green"]]
    print()
    rows = [[i, r["cell"], short(r), "%.1f/%.1f" % (r.get("p50_ms", 0), r.get("p99_ms", 0)),
             r.get("ctl_open", "-"), r["seconds"]] for i, r in enumerate(results)]
    print(table(rows, ["#", "cell", "result", "p50/p99 ms", "ctl open", "s"]))
    for r in red:
        print("\nRED %s" % r["cell"])
        for prob in r["problems"]:
            print("  - %s" % prob)
        for who in ("broker", "backend"):
            if r["evidence"][who]:
                print("  %s log:" % who)
                for line in r["evidence"][who]:
                    print("    " + line)
        print("  logs: %s" % r["logs"])


def main():
    ap = argparse.ArgumentParser(
        description="Interop matrix: C reference and v1 test peers, every broker x backend x "
        "client combination, through the handoff route, the opt-out and refusal fallbacks, "
        "the original's token-without-endpoint, and the declared extensions. Exit 1 if any "
        "cell is red.")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "bin"),
                    help="where handoff-broker, handoff-backend, handoff-client are")
    ap.add_argument("--clients", type=int, default=200,
                    help="clients per handoff cell (default 200)")
    ap.add_argument("--small", type=int, default=None,
                    help="clients per fallback cell (default: --clients; --quick: 40)")
    ap.add_argument("--ext", type=int, default=None,
                    help="clients per extension cell (default: --clients)")
    ap.add_argument("--parallel", type=int, default=20, help="clients at a time (default 20)")
    ap.add_argument("--quick", action="store_true",
                    help="every broker x backend x client combination with --clients clients "
                    "for the handoff route (half of --small for cells with a Python broker or client), "
                    "fewer for the other scenarios")
    ap.add_argument("--only", metavar="REGEX", help="run the cells whose name matches")
    ap.add_argument("--settle-s", type=float, default=5.0,
                    help="how long descriptors may take to return to their baseline (default 5)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "interop"),
                    help="logs per cell and matrix.json (default build/interop)")
    ap.add_argument("--list", action="store_true", help="list the cells and exit")
    args = ap.parse_args()
    small = args.small if args.small is not None else (40 if args.quick else args.clients)
    ext = args.ext if args.ext is not None else (args.clients)
    cells = build_cells(args.clients, small, ext)
    if args.quick:
        # The Python broker and client cost a process start of ~50 ms CPU per
        # client: in the quick form their cells run half the fallback size.
        for c in cells:
            if "py" in (c.broker, c.client):
                c.n = min(c.n, max(small // 2, 10))
    if args.only:
        cells = [c for c in cells if re.search(args.only, c.name)]
    if args.list:
        for i, c in enumerate(cells):
            print("%2d  %-90s expect=%s n=%d  %s" % (i, c.name, c.expect, c.n, c.note))
        return 0
    for prog in ("handoff-broker", "handoff-backend", "handoff-client"):
        if not os.access(os.path.join(args.bin_dir, prog), os.X_OK):
            print("run_matrix: %s not found in %s (make bins)" % (prog, args.bin_dir),
                  file=sys.stderr)
            return 2
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    results = []
    for i, cell in enumerate(cells):
        r = run_cell(cell, i, args.bin_dir, args.parallel, args.out, args.settle_s)
        results.append(r)
        print("%-4s %2d %-95s %s  (%.1fs)" % ("ok" if r["green"] else "RED", i, cell.name,
                                             short(r), r["seconds"]), flush=True)
    print_matrix(results)
    with open(os.path.join(args.out, "matrix.json"), "w") as f:
        json.dump(results, f, indent=1)
    red = sum(not r["green"] for r in results)
    print("\ninterop matrix: %d cells, %d green, %d red, %.1f s (logs and matrix.json in %s)"
          % (len(results), len(results) - red, red, time.monotonic() - t0, args.out))
    return 1 if red else 0


if __name__ == "__main__":
    sys.exit(main())
