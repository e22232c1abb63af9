"""procfs — what a process holds, seen from outside: its descriptors by kind
(/proc/PID/fd), its RSS (/proc/PID/status), and for each Unix socket its
state and whether its peer is still alive (the kernel's sock_diag over
netlink, the interface `ss -x` uses; standard library only).

A descriptor leak shows as a descriptor that no live connection explains:
a socket whose peer has closed and that stays open, an unconnected socket,
or more non-socket descriptors than the process started with.
"""
import os
import socket
import struct

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2
UDIAG_SHOW_NAME, UDIAG_SHOW_PEER = 0x1, 0x4
UNIX_DIAG_NAME, UNIX_DIAG_PEER = 0, 2
TCP_LISTEN, TCP_ESTABLISHED = 10, 1


def unix_sockets():
    """{inode: (state, peer_inode or None, name)} for every Unix socket of
    the host (one netlink dump). peer_inode 0 means the peer has closed."""
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        req = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0,
                          UDIAG_SHOW_NAME | UDIAG_SHOW_PEER, 0xFFFFFFFF, 0xFFFFFFFF)
        hdr = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                          NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        nl.sendto(hdr + req, (0, 0))
        out = {}
        while True:
            data = nl.recv(1 << 20)
            off = 0
            while off + 16 <= len(data):
                length, mtype, _, _, _ = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    return out
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    raise OSError("sock_diag dump failed")
                body = data[off + 16:off + length]
                _, _, state, _, ino = struct.unpack_from("=BBBBI", body, 0)
                peer, name = None, ""
                a = 16  # struct unix_diag_msg
                while a + 4 <= len(body):
                    alen, atype = struct.unpack_from("=HH", body, a)
                    if alen < 4:
                        break
                    val = body[a + 4:a + alen]
                    if atype == UNIX_DIAG_PEER and len(val) >= 4:
                        peer = struct.unpack_from("=I", val)[0]
                    elif atype == UNIX_DIAG_NAME:
                        name = val.rstrip(b"\0").decode("utf-8", "replace")
                    a += (alen + 3) & ~3
                out[ino] = (state, peer, name)
                off += (length + 3) & ~3
    finally:
        nl.close()


def fd_targets(pid):
    """{fd: readlink target} of a live process; {} if it has gone."""
    out = {}
    base = "/proc/%d/fd" % pid
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for n in names:
        try:
            out[int(n)] = os.readlink(os.path.join(base, n))
        except OSError:
            pass
    return out


def socket_inodes(pid):
    """The socket inodes a process holds."""
    out = set()
    for t in fd_targets(pid).values():
        if t.startswith("socket:["):
            out.add(int(t[8:-1]))
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def is_stopped(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except OSError:
        return False


class Snapshot:
    """One look at a process: its descriptors classified. `peers` maps a
    socket inode to a label ('broker', 'backend', 'client') of the process
    holding the other end, for the connected sockets whose peer is alive."""

    def __init__(self, pid, t, owners, socks=None):
        self.pid, self.t = pid, t
        self.targets = fd_targets(pid)
        self.rss_kb = rss_kb(pid)
        socks = unix_sockets() if socks is None else socks
        self.total = len(self.targets)
        self.other = []        # non-socket descriptors (targets)
        self.vanished = 0      # sockets closed between the fd listing and the dump
        self.listening = 0
        self.by_peer = {}      # peer label -> count
        self.dead_peer = set()  # inodes of sockets whose peer has closed
        self.unconnected = set()
        for fd, tgt in self.targets.items():
            if not tgt.startswith("socket:["):
                self.other.append(tgt)
                continue
            ino = int(tgt[8:-1])
            st = socks.get(ino)
            if st is None:  # closed meanwhile (the programs hold Unix sockets only)
                self.vanished += 1
                continue
            state, peer, _ = st
            if state == TCP_LISTEN:
                self.listening += 1
            elif peer is None:
                self.unconnected.add(ino)
            elif peer == 0 or peer not in socks:
                self.dead_peer.add(ino)
            else:
                label = owners.get(peer, "client")
                self.by_peer[label] = self.by_peer.get(label, 0) + 1

    def kinds(self):
        """Non-socket descriptors by kind: 'anon_inode:[eventpoll]', files by
        basename, pipes as 'pipe'."""
        out = {}
        for t in self.other:
            k = "pipe" if t.startswith("pipe:") else t if t.startswith(("anon_inode", "socket")) \
                else "file:" + os.path.basename(t)
            out[k] = out.get(k, 0) + 1
        return out

    def brief(self):
        peers = ",".join("%s=%d" % kv for kv in sorted(self.by_peer.items()))
        return "fds=%d (other=%d listen=%d %s dead_peer=%d unconnected=%d) rss=%d KiB" % (
            self.total, len(self.other), self.listening, peers or "conns=0",
            len(self.dead_peer), len(self.unconnected), self.rss_kb)


def owner_map(labelled_pids):
    """{socket inode: label} for the sockets of the given {pid: label}."""
    out = {}
    for pid, label in labelled_pids.items():
        for ino in socket_inodes(pid):
            out[ino] = label
    return out
