/* handoff-conform — /proc and sock_diag (see procfs.h). */
#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

static pid_t pgrp_of(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* pid (comm) state ppid pgrp ... — comm may hold spaces and ')'. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return -1;
  char state;
  long ppid, pgrp;
  if (sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) return -1;
  if (state == 'Z') return -1; /* a zombie holds nothing */
  return (pid_t)pgrp;
}

int cf_proc_group(pid_t pgid, pid_t *pids, int max) {
  if (pgid <= 0) return 0;
  DIR *d = opendir("/proc");
  if (d == NULL) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    pid_t pid = (pid_t)atol(e->d_name);
    if (pgrp_of(pid) == pgid) pids[n++] = pid;
  }
  closedir(d);
  return n;
}

/* Visit every descriptor of pid; stop when fn returns true. */
static bool each_fd(pid_t pid, bool (*fn)(void *u, int fd, const struct stat *st), void *u,
                    int *count) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
  DIR *d = opendir(path);
  if (d == NULL) return false;
  struct dirent *e;
  bool hit = false;
  while (!hit && (e = readdir(d)) != NULL) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (count != NULL) ++*count;
    if (fn == NULL) continue;
    char fp[384];
    snprintf(fp, sizeof fp, "%s/%s", path, e->d_name);
    struct stat st;
    if (stat(fp, &st) != 0) continue; /* closed meanwhile */
    hit = fn(u, atoi(e->d_name), &st);
  }
  closedir(d);
  return hit;
}

typedef struct want {
  dev_t dev;
  ino_t ino;
  int fd;
} want;

static bool match(void *u, int fd, const struct stat *st) {
  want *w = u;
  if (st->st_ino != w->ino || st->st_dev != w->dev) return false;
  w->fd = fd;
  return true;
}

bool cf_proc_holds(pid_t pgid, dev_t dev, ino_t ino, pid_t *pid, int *fd) {
  pid_t pids[CF_MAX_PROCS];
  int n = cf_proc_group(pgid, pids, CF_MAX_PROCS);
  for (int i = 0; i < n; i++) {
    want w = {dev, ino, -1};
    if (each_fd(pids[i], match, &w, NULL)) {
      if (pid != NULL) *pid = pids[i];
      if (fd != NULL) *fd = w.fd;
      return true;
    }
  }
  return false;
}

int cf_proc_fd_count(pid_t pgid) {
  pid_t pids[CF_MAX_PROCS];
  int n = cf_proc_group(pgid, pids, CF_MAX_PROCS);
  if (n == 0) return -1;
  int count = 0;
  for (int i = 0; i < n; i++) each_fd(pids[i], NULL, NULL, &count);
  return count;
}

long cf_proc_rss_kb(pid_t pgid) {
  pid_t pids[CF_MAX_PROCS];
  int n = cf_proc_group(pgid, pids, CF_MAX_PROCS);
  long total = n > 0 ? 0 : -1;
  for (int i = 0; i < n; i++) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pids[i]);
    FILE *f = fopen(path, "re");
    long kb = -1;
    while (f != NULL && kb < 0 && fgets(line, sizeof line, f) != NULL)
      if (sscanf(line, "VmRSS: %ld", &kb) != 1) kb = -1;
    if (f != NULL) fclose(f);
    if (kb > 0) total += kb;
  }
  return total;
}

ino_t cf_sock_peer_ino(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return 0;
  struct {
    struct nlmsghdr h;
    struct unix_diag_req r;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  req.r.udiag_ino = (unsigned)st.st_ino;
  req.r.udiag_show = UDIAG_SHOW_PEER;
  req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
  struct timeval tv = {1, 0};
  (void)setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ino_t peer = 0;
  union {
    struct nlmsghdr h;
    char buf[8192];
  } u;
  if (send(nl, &req, sizeof req, 0) == (ssize_t)sizeof req) {
    ssize_t n = recv(nl, u.buf, sizeof u.buf, 0);
    struct nlmsghdr *h = &u.h;
    if (n > 0 && NLMSG_OK(h, (unsigned)n) && h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      struct unix_diag_msg *m = NLMSG_DATA(h);
      struct rtattr *a = (struct rtattr *)(m + 1);
      int len = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *m);
      for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == UNIX_DIAG_PEER) {
          uint32_t v;
          memcpy(&v, RTA_DATA(a), sizeof v);
          peer = (ino_t)v;
        }
    }
  }
  close(nl);
  return peer;
}

static bool mark_used(void *u, int fd, const struct stat *st) {
  (void)st;
  unsigned char *used = u;
  if (fd >= 0 && fd < 65536) used[fd] = 1;
  return false;
}

int cf_proc_lowest_free_fd(pid_t pid) {
  unsigned char *used = calloc(65536, 1);
  if (used == NULL) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
  DIR *d = opendir(path);
  int lowest = -1;
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (isdigit((unsigned char)e->d_name[0])) {
        struct stat st = {0};
        mark_used(used, atoi(e->d_name), &st);
      }
    closedir(d);
    for (int i = 0; i < 65536; i++)
      if (!used[i]) {
        lowest = i;
        break;
      }
  }
  free(used);
  return lowest;
}

int cf_nofile_squeeze(pid_t pgid, dev_t dev, ino_t ino, pid_t *who, struct rlimit *saved, int max) {
  pid_t pids[CF_MAX_PROCS];
  int n = cf_proc_group(pgid, pids, CF_MAX_PROCS), done = 0;
  for (int i = 0; i < n && done < max; i++) {
    want w = {dev, ino, -1};
    if (!each_fd(pids[i], match, &w, NULL)) continue;
    struct rlimit old;
    int low = -1;
    if (prlimit(pids[i], RLIMIT_NOFILE, NULL, &old) == 0) low = cf_proc_lowest_free_fd(pids[i]);
    struct rlimit lim = old;
    if (low >= 0 && (rlim_t)low < lim.rlim_cur) lim.rlim_cur = (rlim_t)low;
    if (low < 0 || prlimit(pids[i], RLIMIT_NOFILE, &lim, NULL) != 0) {
      int e = low < 0 ? ESRCH : errno;
      cf_nofile_restore(who, saved, done);
      errno = e;
      return -1;
    }
    who[done] = pids[i];
    saved[done] = old;
    done++;
  }
  return done;
}

void cf_nofile_restore(const pid_t *who, const struct rlimit *saved, int n) {
  for (int i = 0; i < n; i++) (void)prlimit(who[i], RLIMIT_NOFILE, &saved[i], NULL);
}
