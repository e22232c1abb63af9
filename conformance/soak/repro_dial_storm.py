#!/usr/bin/python3
"""repro_dial_storm — the defect the soak found in the reference broker
(seed 1103678691, 200 s: 45 359 control connections for 6 439 handoffs),
reduced to one deterministic case.

A backend that answers its ACKs late (here --fault late-ack:900; in life a
backend stalled for a second under load) while backend-ready clients keep
coming: the one control connection that declared BACKEND_CAP_BACKEND_READY
fills up to its in-flight cap (128), the next backend-ready attempt is
queued, the broker dials a control connection for it, cannot use it (no
declaration on it yet, READY-36), retires it at once as idle ("another is
up"), dials again ... synchronously, inside one run of its action loop,
until the attempt leaves the queue (PENDING_QUEUE_TTL). Every Hello waits
meanwhile (BROKER-3), and the backend's control slots fill with the
connections it is handed (too-many-control-connections).

    /usr/bin/python3 conformance/soak/repro_dial_storm.py BIN_DIR [SECONDS]

Exit 0 when the broker dialled a bounded number of control connections and
the backend rejected none; 1 otherwise (the numbers on one line).
spec: XFER-37 BROKER-3 READY-36
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    bins = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
    d = tempfile.mkdtemp(prefix="ho-storm-")
    os.chmod(d, 0o700)
    ep, pipe, lst = (os.path.join(d, n) for n in ("h.sock", "b.sock", "l.sock"))
    procs = []
    try:
        be_log = open(os.path.join(d, "backend.log"), "wb")
        procs.append(subprocess.Popen([os.path.join(bins, "handoff-backend"), "--handoff-endpoint",
                                       ep, "--backend-pipe", pipe, "--ready-mode", "backend",
                                       "--fault", "late-ack:900", "--log-level", "warn"],
                                      stderr=be_log))
        while not (os.path.exists(ep) and os.path.exists(pipe)):
            time.sleep(0.01)
        br_log = os.path.join(d, "broker.log")
        br = subprocess.Popen([os.path.join(bins, "handoff-broker"), "--listen", lst,
                               "--handoff-endpoint", ep, "--backend-pipe", pipe, "--hello-rate",
                               "0", "--log-level", "warn"], stderr=open(br_log, "wb"))
        procs.append(br)
        while not os.path.exists(lst):
            time.sleep(0.01)
        load = subprocess.Popen([sys.executable, os.path.join(HERE, "load.py"), "--broker", lst,
                                 "--bin-dir", bins, "--seed", "1", "--out",
                                 os.path.join(d, "clients.jsonl"), "--rate", "250",
                                 "--concurrency", "200", "--c-share", "0", "--abort-share", "0",
                                 "--mix", "0,1,0,0"], stdout=subprocess.DEVNULL)
        procs.append(load)
        time.sleep(seconds)
        load.send_signal(signal.SIGTERM)
        load.wait(60)
        br.send_signal(signal.SIGTERM)
        br.wait(10)
        text = open(br_log, errors="replace").read()
        c = dict((m.group(1), int(m.group(2))) for m in
                 re.finditer(r"^([a-z_]+) (\d+)$", text.split("counters (exit):")[-1], re.M))
        rejected = open(os.path.join(d, "backend.log"), errors="replace").read().count(
            "too-many-control-connections")
        ok = c.get("control_connects", 0) <= c.get("handoffs_attempted", 0) + 32 and rejected == 0
        print("repro_dial_storm: %s — control_connects %d for %d handoffs attempted, backend "
              "rejected %d control connections" % ("PASS" if ok else "FAIL",
                                                   c.get("control_connects", 0),
                                                   c.get("handoffs_attempted", 0), rejected))
        return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
