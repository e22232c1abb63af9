/* Shared helpers of the transport, backend and client unit tests: real
 * sockets, real descriptor passing, descriptor counting. */
#ifndef HANDOFF_TEST_XFER_FIXTURES_H
#define HANDOFF_TEST_XFER_FIXTURES_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "handoff/msg.h"
#include "handoff/transport.h"

/* Open descriptors of this process (entries of /proc/self/fd, minus the
 * one opendir itself uses). */
static inline int fx_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

static inline void fx_socketpair(int type, int sv[2]) {
  cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

static inline int fx_fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* A fresh private directory from the mkdtemp template `tmpl` (ending in
 * XXXXXX) in dir[cap]; fx_rm_rf removes it and all it holds. */
static inline void fx_mkdtemp(char *dir, size_t cap, const char *tmpl) {
  cr_assert_lt(strlen(tmpl), cap);
  strcpy(dir, tmpl);
  cr_assert_not_null(mkdtemp(dir));
}

static inline void fx_rm_rf(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  (void)system(cmd);
}

/* The directory holds nothing (no socket, no temporary name, no file). */
static inline bool fx_dir_is_empty(const char *dir) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
  return system(cmd) == 0;
}

/* The descriptors one test opens and the count the process had before
 * them: fx_end closes those still open and checks that nothing else was
 * left behind. The fixture of every transport test. */
#define FX_MAX_FDS 40
typedef struct fx_fds {
  int before, n;
  int fd[FX_MAX_FDS];
} fx_fds;

static inline void fx_begin(fx_fds *t) {
  t->before = fx_count_fds();
  t->n = 0;
}

static inline int fx_track(fx_fds *t, int fd) {
  cr_assert_geq(fd, 0);
  cr_assert_lt(t->n, FX_MAX_FDS);
  t->fd[t->n++] = fd;
  return fd;
}

/* A socketpair of `type` whose two ends fx_end closes. */
static inline void fx_pair(fx_fds *t, int type, int sv[2]) {
  fx_socketpair(type, sv);
  fx_track(t, sv[0]);
  fx_track(t, sv[1]);
}

/* The usual start: a control pair and a client-connection pair. */
static inline void fx_ctl_conn(fx_fds *t, int ctl[2], int conn[2]) {
  fx_begin(t);
  fx_pair(t, SOCK_STREAM, ctl);
  fx_pair(t, SOCK_STREAM, conn);
}

/* Close one tracked descriptor before the end of the test. */
static inline void fx_close(fx_fds *t, int fd) {
  for (int i = 0; i < t->n; i++)
    if (t->fd[i] == fd) {
      t->fd[i] = t->fd[--t->n];
      cr_assert_eq(close(fd), 0);
      return;
    }
  cr_assert_fail("descriptor %d is not tracked", fd);
}

static inline void fx_end(fx_fds *t) {
  while (t->n > 0) {
    int fd = t->fd[--t->n];
    cr_assert_eq(close(fd), 0, "descriptor %d", fd);
  }
  cr_assert_eq(fx_count_fds(), t->before, "every descriptor the test opened is closed");
}

/* A process that may not bind at `path` (its directory passes the SEC-9
 * check): ho_listener_open_diag is HO_ERR_PERMISSION with EACCES from
 * "bind". Returns 0, or 1/2 (child exit codes) naming what differed. */
static inline int fx_bind_is_denied(const char *path) {
  ho_listener l;
  ho_diag d;
  if (ho_listener_open_diag(&l, path, 1, 0, &d) != HO_ERR_PERMISSION) return 1;
  if (d.os_errno != EACCES || strstr(d.msg, "bind") == NULL) return 2;
  return 0;
}

/* Send `len` data bytes with `nfds` (at most 16) descriptors in one sendmsg. */
static inline ssize_t fx_send_fds(int sock, const void *data, size_t len, const int *fds,
                                  size_t nfds) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 16)];
  } u;
  memset(&u, 0, sizeof u);
  if (nfds > 16) return -1;
  struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    msg.msg_control = u.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static inline void fx_token(uint8_t t[HO_TOKEN_BYTES], uint8_t seed) {
  for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) t[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

/* A complete offer frame. */
static inline size_t fx_offer_frame(uint8_t *out, size_t cap, const uint8_t token[HO_TOKEN_BYTES],
                                    uint64_t corr, uint64_t flags) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.offer.token, token, HO_TOKEN_BYTES);
  strcpy(m.offer.service_name, "echo");
  m.offer.correlation_id = corr;
  m.offer.offer_flags = flags;
  size_t len = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_OFFER, &m, out, cap, &len), HO_OK);
  return len;
}

/* Read exactly one frame from a blocking socket into buf; returns its size. */
static inline size_t fx_read_frame(int fd, uint8_t *buf, size_t cap) {
  size_t have = 0, need = HO_FRAME_HEADER_BYTES;
  while (have < need) {
    ssize_t n = recv(fd, buf + have, need - have, 0);
    cr_assert_gt(n, 0, "EOF/error while reading a frame (have %zu of %zu)", have, need);
    have += (size_t)n;
    if (have == HO_FRAME_HEADER_BYTES) {
      uint32_t body = (uint32_t)buf[1] | (uint32_t)buf[2] << 8 | (uint32_t)buf[3] << 16 |
                      (uint32_t)buf[4] << 24;
      need = HO_FRAME_HEADER_BYTES + body;
      cr_assert_leq(need, cap);
    }
  }
  return have;
}

#endif
