#!/usr/bin/python3
"""flood — the soak's side process that floods the broker with idle
connections (connect, never send a Hello), renewing them: it keeps up to
--hold open, opens --rate new ones per second and closes the oldest beyond
--hold; connections the broker sheds (EOF) are replaced. It runs until
SIGTERM and prints one line "flood opened=N shed=N refused=N".
spec: BROKER-10 BROKER-11 SEC-7 (the attack those rules bound)

    flood.py --target PATH [--hold N] [--rate N]
"""
import argparse
import collections
import os
import select
import signal
import socket
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--hold", type=int, default=800)
    ap.add_argument("--rate", type=float, default=1500.0)
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    held = collections.OrderedDict()  # fd -> socket, oldest first
    ep = select.epoll()
    opened = shed = refused = 0
    gap = 1.0 / a.rate
    next_at = time.monotonic()
    while not stop:
        now = time.monotonic()
        while next_at <= now and not stop:
            next_at += gap
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(a.target)
            except OSError:
                refused += 1
                s.close()
                continue
            opened += 1
            held[s.fileno()] = s
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
            while len(held) > a.hold:
                fd, old = held.popitem(last=False)
                ep.unregister(fd)
                old.close()
        next_at = max(next_at, time.monotonic() - 0.2)
        for fd, _ in ep.poll(max(0.0, min(0.05, next_at - time.monotonic()))):
            s = held.pop(fd, None)  # the broker closed it (BROKER-10/11): gone
            if s is not None:
                shed += 1
                ep.unregister(fd)
                s.close()
    for s in held.values():
        s.close()
    print("flood opened=%d shed=%d refused=%d" % (opened, shed, refused), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
