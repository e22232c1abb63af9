/* handoff-conform — cases: what arrives with the sideband (XFER-28,
 * XFER-29): no descriptor, several, too many, one the kernel cannot
 * install, and every wrong kind of descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cases.h"
#include "procfs.h"
#include "sut.h"

static int no_descriptor(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, -1) != 0) return -1;
  int rc = cf_run_refuse(ctx, &h, "NO_DESCRIPTOR");
  cf_ho_free(ctx, &h);
  return rc;
}

/* h plus a second connected stream socket in the same SCM_RIGHTS. */
static int two_in_one(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  cf_conn extra = CF_CONN0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0 || cf_conn_open(ctx, &extra, CF_CONN_PAIR) != 0) return -1;
  h.fds[h.nfds++] = extra.s;
  int rc = cf_run_refuse(ctx, &h, "EXTRA_DESCRIPTORS");
  cf_conn_close(ctx, &extra);
  cf_ho_free(ctx, &h);
  return rc;
}

static int two_across_reads(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  cf_conn extra = CF_CONN0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0 || cf_conn_open(ctx, &extra, CF_CONN_PAIR) != 0) return -1;
  cf_ho_probe(ctx, &h);
  if (cf_conn_write(ctx, &h.conn, h.queued, h.queued_len) != 0) return cf_error(ctx, "client write");
  h.queued_written = true;
  h.fds[h.nfds++] = extra.s; /* both count for this handoff: released checks */
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) {
    /* 8 bytes with the first descriptor, 8 with the second. */
    cf_hold(ctx, h.conn.s, "ERR-1", "descriptor #1 of corr=%llu", (unsigned long long)h.offer.corr);
    cf_hold(ctx, extra.s, "ERR-1", "descriptor #2 of corr=%llu", (unsigned long long)h.offer.corr);
    h.sent = true;
    rc = cf_ctl_sendmsg(ctx, &c, h.sideband, 8, &h.conn.s, 1);
    cf_sleep_ms(5);
    if (rc == 0) rc = cf_ctl_sendmsg(ctx, &c, h.sideband + 8, 8, &extra.s, 1);
  }
  if (rc == 0) rc = cf_ho_send_offer(ctx, &c, &h, 0);
  if (rc == 0) rc = cf_expect_refuse(ctx, &c, &h, "EXTRA_DESCRIPTORS");
  cf_ctl_close(ctx, &c);
  cf_conn_close(ctx, &extra);
  cf_ho_free(ctx, &h);
  return rc;
}

static int many(cf_ctx *ctx) {
  /* 200 copies of the connection: more than any control buffer holds, so
   * the receiver sees MSG_CTRUNC with its buffer full of descriptors. */
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  for (int i = 1; i < 200; i++) h.fds[h.nfds++] = h.conn.s;
  int rc = cf_run_refuse(ctx, &h, "EXTRA_DESCRIPTORS");
  cf_ho_free(ctx, &h);
  return rc;
}

/* spec: XFER-28 ERR-45 — MSG_CTRUNC with room left in the control buffer:
 * the kernel could not install the descriptor. The runner lowers the
 * RLIMIT_NOFILE of the SUT process that holds the control connection to
 * its lowest free descriptor number (prlimit), sends, and restores it. */
static int fd_exhausted(cf_ctx *ctx) {
  /* A first handoff: a runtime's lazy initialisation is done. */
  if (cf_probe_handoff(ctx, "XFER-1") != 0) return -1;
  cf_ctl c = CF_CTL0;
  if (cf_ctl_open(ctx, &c) != 0) return -1;
  struct stat st;
  fstat(c.fd, &st);
  ino_t peer = 0;
  uint64_t end = cf_now_ms() + 1000;
  pid_t who[8];
  struct rlimit saved[8];
  int n = 0;
  while (cf_now_ms() < end) {
    peer = cf_sock_peer_ino(c.fd);
    if (peer != 0 && cf_proc_holds(ctx->sut->pgid, st.st_dev, peer, NULL, NULL)) break;
    cf_sleep_ms(5);
  }
  if (peer == 0) {
    cf_ctl_close(ctx, &c);
    return cf_skip(ctx, "the kernel does not report the peer of a Unix socket (sock_diag), or the "
                        "SUT did not accept the control connection within 1 s");
  }
  cf_ho h = CF_HO0;
  int rc = cf_ho_new(ctx, &h, CF_CONN_PAIR);
  if (rc == 0) cf_ho_probe(ctx, &h);
  if (rc == 0 && cf_conn_write(ctx, &h.conn, h.queued, h.queued_len) != 0) rc = cf_error(ctx, "client write");
  h.queued_written = true;
  if (rc == 0) {
    n = cf_nofile_squeeze(ctx->sut->pgid, st.st_dev, peer, who, saved, 8);
    if (n <= 0) {
      int e = errno;
      cf_ctl_close(ctx, &c);
      cf_ho_free(ctx, &h);
      return cf_skip(ctx, "cannot lower the SUT's RLIMIT_NOFILE (prlimit: %s)", n < 0 ? strerror(e) : "no holder");
    }
    for (int i = 0; i < n; i++)
      cf_trace_note(ctx, "pid %ld: RLIMIT_NOFILE soft limit lowered to its lowest free descriptor "
                    "(was %llu)", (long)who[i], (unsigned long long)saved[i].rlim_cur);
    rc = cf_ho_send(ctx, &c, &h);
  }
  cf_ho *hs[1] = {&h};
  if (rc == 0) rc = cf_read_acks(ctx, &c, hs, 1, CF_ACK_WAIT_MS);
  cf_nofile_restore(who, saved, n);
  cf_trace_note(ctx, "RLIMIT_NOFILE restored");
  if (rc == 0) rc = cf_verify_refused(ctx, &h, "FD_EXHAUSTED");
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &h);
  return rc;
}

/* A descriptor of the wrong kind, alone in the sideband. */
static int wrong_kind(cf_ctx *ctx, int fd, const char *what) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, -1) != 0) return -1;
  h.fds[0] = fd;
  h.nfds = 1;
  cf_trace_note(ctx, "the sideband carries %s", what);
  int rc = cf_run_refuse(ctx, &h, "BAD_DESCRIPTOR");
  cf_ho_free(ctx, &h);
  return rc;
}

static int bad_pipe(cf_ctx *ctx) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return cf_error(ctx, "pipe: %s", strerror(errno));
  int rc = wrong_kind(ctx, p[0], "the read end of a pipe");
  close(p[0]);
  close(p[1]);
  return rc;
}

static int bad_file(cf_ctx *ctx) {
  char path[200];
  snprintf(path, sizeof path, "%s/regular-file", ctx->dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return cf_error(ctx, "open: %s", strerror(errno));
  (void)!write(fd, "not a socket\n", 13);
  int rc = wrong_kind(ctx, fd, "a regular file");
  close(fd);
  return rc;
}

static int bad_listening(cf_ctx *ctx) {
  char path[108];
  snprintf(path, sizeof path, "%.90s/listening.sock", ctx->dir);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0)
    return cf_error(ctx, "listening socket: %s", strerror(errno));
  int rc = wrong_kind(ctx, fd, "a listening stream socket");
  close(fd);
  unlink(path);
  return rc;
}

static int bad_socketpair(cf_ctx *ctx, int type, const char *what) {
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) return cf_error(ctx, "socketpair: %s", strerror(errno));
  int rc = wrong_kind(ctx, sv[1], what);
  close(sv[0]);
  close(sv[1]);
  return rc;
}

static int bad_datagram(cf_ctx *ctx) { return bad_socketpair(ctx, SOCK_DGRAM, "a connected datagram socket"); }
static int bad_seqpacket(cf_ctx *ctx) {
  return bad_socketpair(ctx, SOCK_SEQPACKET, "a connected SOCK_SEQPACKET socket");
}

static int bad_unconnected(cf_ctx *ctx) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return cf_error(ctx, "socket: %s", strerror(errno));
  int rc = wrong_kind(ctx, fd, "an unconnected stream socket");
  close(fd);
  return rc;
}

static const cf_case cases[] = {
    {.id = "backend.descriptor.none",
     .spec = "spec: XFER-28 ERR-31 XFER-18",
     .does = "a sideband without SCM_RIGHTS, then a valid offer",
     .expect = "refused with NO_DESCRIPTOR; the client falls back to backend_pipe",
     .run = no_descriptor},
    {.id = "backend.descriptor.two",
     .spec = "spec: XFER-28 XFER-29 ERR-32",
     .does = "two connected stream sockets in the sideband's one SCM_RIGHTS message",
     .expect = "refused with EXTRA_DESCRIPTORS; both descriptors closed before the ACK",
     .run = two_in_one},
    {.id = "backend.descriptor.two-across-reads",
     .spec = "spec: XFER-28 XFER-29 ERR-32",
     .does = "the sideband in two sendmsg calls of 8 bytes, each with a descriptor",
     .expect = "both count for the handoff: refused with EXTRA_DESCRIPTORS, both closed",
     .run = two_across_reads},
    {.id = "backend.descriptor.many",
     .spec = "spec: XFER-28 ERR-32",
     .does = "200 descriptors in one SCM_RIGHTS (MSG_CTRUNC with the control buffer full)",
     .expect = "refused with EXTRA_DESCRIPTORS (not CTRUNC: rc1 order); nothing leaks",
     .run = many},
    {.id = "backend.descriptor.fd-exhausted",
     .spec = "spec: XFER-28 ERR-45",
     .does = "lowers the SUT's RLIMIT_NOFILE so the kernel cannot install the descriptor "
             "(MSG_CTRUNC, room left), then a handoff",
     .expect = "refused with FD_EXHAUSTED; once the limit is back the SUT serves again",
     .run = fd_exhausted},
    {.id = "backend.descriptor.pipe",
     .spec = "spec: XFER-28 ERR-33",
     .does = "the read end of a pipe as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR, the pipe closed before the ACK",
     .run = bad_pipe},
    {.id = "backend.descriptor.regular-file",
     .spec = "spec: XFER-28 ERR-33",
     .does = "a regular file as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR",
     .run = bad_file},
    {.id = "backend.descriptor.listening-socket",
     .spec = "spec: XFER-28 ERR-33",
     .does = "a listening Unix stream socket as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR (it is not connected)",
     .run = bad_listening},
    {.id = "backend.descriptor.datagram-socket",
     .spec = "spec: XFER-28 ERR-33",
     .does = "a connected datagram socket as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR (SO_TYPE is not SOCK_STREAM)",
     .run = bad_datagram},
    {.id = "backend.descriptor.seqpacket-socket",
     .spec = "spec: XFER-28 ERR-33",
     .does = "a connected SOCK_SEQPACKET socket as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR (connected, but not SOCK_STREAM)",
     .run = bad_seqpacket},
    {.id = "backend.descriptor.unconnected-socket",
     .spec = "spec: XFER-28 ERR-33",
     .does = "an unconnected stream socket as the descriptor",
     .expect = "refused with BAD_DESCRIPTOR (getpeername fails)",
     .run = bad_unconnected},
};
CF_TABLE(cf_cases_descriptor, cases);
