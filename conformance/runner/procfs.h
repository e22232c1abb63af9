/* handoff-conform — what the SUT's process tree holds, seen from outside:
 * /proc/PID/fd (Linux; other systems would use their own equivalents, e.g.
 * libproc on macOS) and the peer of a Unix socket through sock_diag
 * (NETLINK_SOCK_DIAG, UNIX_DIAG_PEER). The SUT's process tree is its
 * process group: every process whose pgrp is the SUT's pgid. */
#ifndef CF_PROCFS_H
#define CF_PROCFS_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define CF_MAX_PROCS 64

/* Processes of group `pgid` (at most max). Returns how many. */
int cf_proc_group(pid_t pgid, pid_t *pids, int max);

/* Does a process of group `pgid` hold an open file with this identity?
 * On true, *pid and *fd say where (may be NULL). */
bool cf_proc_holds(pid_t pgid, dev_t dev, ino_t ino, pid_t *pid, int *fd);

/* Descriptors open in the whole group, -1 if /proc cannot be read. */
int cf_proc_fd_count(pid_t pgid);

/* Resident memory (VmRSS, KiB) of the whole group, -1 if unknown. */
long cf_proc_rss_kb(pid_t pgid);

/* Inode of the peer of connected Unix socket `fd` (sock_diag), 0 if the
 * kernel does not tell. The peer lives on the same device as the socket. */
ino_t cf_sock_peer_ino(int fd);

/* The lowest descriptor number not in use in `pid`, -1 on error. */
int cf_proc_lowest_free_fd(pid_t pid);

/* Lower RLIMIT_NOFILE of every process in `pgid` that holds (dev, ino) so
 * it cannot install one more descriptor; saved limits go to `saved`/`who`.
 * Returns how many processes were squeezed (0: none holds it), -1 with
 * errno on a prlimit error. */
int cf_nofile_squeeze(pid_t pgid, dev_t dev, ino_t ino, pid_t *who, struct rlimit *saved, int max);
void cf_nofile_restore(const pid_t *who, const struct rlimit *saved, int n);

#endif
