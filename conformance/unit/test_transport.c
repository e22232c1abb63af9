/* Unit tests: Unix SCM_RIGHTS transport, listener, peer credentials
 * (ref/lib/net/). Real sockets, real descriptor passing; every test checks
 * that the process has exactly as many descriptors open at its end as at
 * its start. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "net/xfer_internal.h"
#include "xfer_fixtures.h"

/* spec: XFER-3 XFER-29 BACKEND-8 — one sendmsg: 16 token bytes + exactly one
 * descriptor; received with MSG_CMSG_CLOEXEC; it is the same connection
 * (bytes flow through it). */
Test(transport, send_recv_round_trip) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 1);
  uint64_t hv = 77;
  cr_assert_eq(ho_xfer_send(ctl[0], conn[0], tok, &hv), HO_OK);
  cr_assert_eq(hv, 0, "Unix offers carry handle_value 0");
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK);
  cr_assert_eq(sb.have, HO_TOKEN_BYTES);
  cr_assert_arr_eq(sb.token, tok, HO_TOKEN_BYTES);
  cr_assert_eq(sb.conn_status, HO_OK);
  cr_assert_geq(sb.conn, 0);
  cr_assert(fcntl((int)sb.conn, F_GETFD) & FD_CLOEXEC, "MSG_CMSG_CLOEXEC was used");
  cr_assert_eq(write((int)sb.conn, "hi", 2), 2);
  char got[2];
  cr_assert_eq(read(conn[1], got, 2), 2);
  cr_assert_arr_eq(got, "hi", 2);
  ho_sideband_clear(&sb);
  fx_end(&t);
}

/* spec: XFER-29 — a sideband split across reads: the descriptor comes with
 * the first byte and is kept until the 16th arrives. */
Test(transport, sideband_short_reads_accumulate) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 2);
  cr_assert_eq(fx_send_fds(ctl[0], tok, 5, &conn[0], 1), 5);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(sb.have, 5);
  cr_assert_geq(sb.conn, 0);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_WOULD_BLOCK); /* nothing more yet */
  cr_assert_eq(send(ctl[0], tok + 5, 11, 0), 11);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK);
  cr_assert_arr_eq(sb.token, tok, HO_TOKEN_BYTES);
  cr_assert_eq(sb.conn_status, HO_OK);
  ho_sideband_clear(&sb);
  fx_end(&t);
}

/* spec: XFER-29 — reading the sideband never consumes the offer behind it. */
Test(transport, sideband_never_reads_past_16_bytes) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 3);
  cr_assert_eq(ho_xfer_send(ctl[0], conn[0], tok, NULL), HO_OK);
  cr_assert_eq(send(ctl[0], "OFFER", 5, 0), 5);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK);
  char rest[8];
  cr_assert_eq(recv(ctl[1], rest, sizeof rest, MSG_DONTWAIT), 5);
  cr_assert_arr_eq(rest, "OFFER", 5);
  ho_sideband_clear(&sb);
  fx_end(&t);
}

/* Receive 16 bytes sent with `fds`, expect `status`, nothing leaked. */
static void expect_refused(const int *fds, size_t nfds, int status) {
  fx_fds t;
  int ctl[2];
  fx_begin(&t);
  fx_pair(&t, SOCK_STREAM, ctl);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 4);
  int before = fx_count_fds();
  cr_assert_eq(fx_send_fds(ctl[0], tok, HO_TOKEN_BYTES, fds, nfds), HO_TOKEN_BYTES);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK, "the bytes still count");
  cr_assert_eq(sb.conn_status, status, "got %s", ho_errname(sb.conn_status));
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  cr_assert_arr_eq(sb.token, tok, HO_TOKEN_BYTES);
  cr_assert_eq(fx_count_fds(), before, "every received descriptor was closed");
  fx_end(&t);
}

/* spec: XFER-28 ERR-31 */
Test(transport, missing_descriptor) {
  fx_fds t;
  fx_begin(&t);
  expect_refused(NULL, 0, HO_ERR_NO_DESCRIPTOR);
  fx_end(&t);
}

/* spec: XFER-28 ERR-32 */
Test(transport, two_descriptors_both_closed) {
  fx_fds t;
  int a[2], b[2];
  fx_ctl_conn(&t, a, b);
  int fds[2] = {a[0], b[0]};
  expect_refused(fds, 2, HO_ERR_EXTRA_DESCRIPTORS);
  fx_end(&t);
}

/* spec: XFER-28 ERR-33 — not a connected SOCK_STREAM socket. */
Test(transport, pipe_descriptor_refused) {
  fx_fds t;
  int p[2];
  fx_begin(&t);
  cr_assert_eq(pipe(p), 0);
  fx_track(&t, p[0]), fx_track(&t, p[1]);
  expect_refused(&p[0], 1, HO_ERR_BAD_DESCRIPTOR);
  fx_end(&t);
}

Test(transport, datagram_descriptor_refused) {
  fx_fds t;
  int d[2];
  fx_begin(&t);
  fx_pair(&t, SOCK_DGRAM, d);
  expect_refused(&d[0], 1, HO_ERR_BAD_DESCRIPTOR);
  fx_end(&t);
}

Test(transport, listening_socket_refused) {
  fx_fds t;
  fx_begin(&t);
  int l = fx_track(&t, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sa_family_t fam = AF_UNIX;
  cr_assert_eq(bind(l, (struct sockaddr *)&fam, sizeof fam), 0); /* autobind */
  cr_assert_eq(listen(l, 1), 0);
  expect_refused(&l, 1, HO_ERR_BAD_DESCRIPTOR);
  fx_end(&t);
}

Test(transport, unconnected_stream_socket_refused) {
  fx_fds t;
  fx_begin(&t);
  int s = fx_track(&t, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  expect_refused(&s, 1, HO_ERR_BAD_DESCRIPTOR);
  fx_end(&t);
}

/* spec: XFER-28 XFER-29 ERR-32 — MSG_CTRUNC with a control buffer full of
 * descriptors means more were sent than fit: EXTRA_DESCRIPTORS, whatever
 * the receiver's room (2 here, 8 in ho_xfer_recv), so 16 descriptors get
 * one name from every receiver; bytes kept, nothing leaked. */
Test(transport, ctrunc_full_buffer_is_extra_descriptors) {
  for (size_t room = 2; room <= HO_XFER_CMSG_FDS; room += HO_XFER_CMSG_FDS - 2) {
    fx_fds t;
    int ctl[2], conn[16];
    fx_begin(&t);
    fx_pair(&t, SOCK_STREAM, ctl);
    for (int i = 0; i < 16; i += 2) fx_pair(&t, SOCK_STREAM, conn + i);
    uint8_t tok[HO_TOKEN_BYTES];
    fx_token(tok, 5);
    cr_assert_eq(fx_send_fds(ctl[0], tok, sizeof tok, conn, 16), (ssize_t)sizeof tok);
    int mid = fx_count_fds();
    uint8_t buf[HO_TOKEN_BYTES];
    ho_xfer_rx rx;
    cr_assert_eq(ho_xfer_recv_cap(ctl[1], buf, sizeof buf, &rx, 0, room), HO_OK);
    cr_assert_eq(rx.conn_status, HO_ERR_EXTRA_DESCRIPTORS, "room %zu: got %s", room,
                 ho_errname(rx.conn_status));
    cr_assert_eq(rx.conn, HO_NO_HANDLE);
    cr_assert_eq(rx.len, HO_TOKEN_BYTES);
    cr_assert_eq(fx_count_fds(), mid);
    fx_end(&t);
  }
}

/* spec: XFER-28 — the classification alone, over synthetic control data:
 * the function a fuzzer drives (no system call). */
Test(transport, classify_synthetic_msghdr) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * 4)];
  } u;
  struct msghdr m;
  int fds[8];
  size_t n;
  for (int k = 0; k <= 3; k++) {
    memset(&u, 0, sizeof u);
    memset(&m, 0, sizeof m);
    m.msg_control = u.buf;
    m.msg_controllen = k ? CMSG_SPACE(sizeof(int) * (size_t)k) : 0;
    if (k) {
      struct cmsghdr *c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
      for (int i = 0; i < k; i++) memcpy(CMSG_DATA(c) + i * sizeof(int), &(int){100 + i}, sizeof(int));
    }
    int rc = ho_xfer_classify(&m, CMSG_SPACE(sizeof(int) * 4), fds, 8, &n);
    cr_assert_eq(n, (size_t)k);
    cr_assert_eq(rc, k > 1 ? HO_ERR_EXTRA_DESCRIPTORS : HO_OK);
    m.msg_flags = MSG_CTRUNC; /* room for 4 was offered */
    rc = ho_xfer_classify(&m, CMSG_SPACE(sizeof(int) * 4), fds, 8, &n);
    cr_assert_eq(rc, k > 1 ? HO_ERR_EXTRA_DESCRIPTORS : HO_ERR_FD_EXHAUSTED, "k=%d", k);
  }
  /* A control message of another type carries no descriptor. */
  memset(&u, 0, sizeof u);
  memset(&m, 0, sizeof m);
  m.msg_control = u.buf;
  m.msg_controllen = CMSG_SPACE(sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  cr_assert_eq(ho_xfer_classify(&m, sizeof u.buf, fds, 8, &n), HO_OK);
  cr_assert_eq(n, 0);
  /* A cmsg_len running past the delivered control data is not trusted. */
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * 64);
  cr_assert_eq(ho_xfer_classify(&m, sizeof u.buf, fds, 8, &n), HO_OK);
  cr_assert_eq(n, 0);
}

/* spec: XFER-28 ERR-45 — at RLIMIT_NOFILE Linux delivers the bytes and
 * drops the descriptor with MSG_CTRUNC although the buffer had room: that is
 * FD_EXHAUSTED (descriptor exhaustion, not a truncated message), nothing leaks. */
Test(transport, fd_exhausted_at_rlimit_nofile) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 6);
  cr_assert_eq(ho_xfer_send(ctl[0], conn[0], tok, NULL), HO_OK);
  fx_close(&t, conn[0]); /* the in-flight copy keeps the socket alive */
  int before = fx_count_fds();
  /* Fill the table up to the limit so no descriptor can be installed. */
  struct rlimit rl;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  int highest = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fx_fd_is_open(fd)) highest = fd;
  struct rlimit low = {.rlim_cur = (rlim_t)highest + 1, .rlim_max = rl.rlim_max};
  int fillers[1024], nf = 0;
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (;;) {
    int f = dup(0);
    if (f < 0) break;
    fillers[nf++] = f;
  }
  uint8_t buf[HO_TOKEN_BYTES];
  ho_xfer_rx rx;
  int rc = ho_xfer_recv(ctl[1], buf, sizeof buf, &rx, 0);
  for (int i = 0; i < nf; i++) close(fillers[i]);
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  cr_assert_eq(rc, HO_OK);
  cr_assert_eq(rx.len, HO_TOKEN_BYTES);
  cr_assert_eq(rx.conn_status, HO_ERR_FD_EXHAUSTED, "got %s", ho_errname(rx.conn_status));
  cr_assert_eq(rx.conn, HO_NO_HANDLE);
  cr_assert_eq(fx_count_fds(), before);
  char c;
  cr_assert_eq(recv(conn[1], &c, 1, MSG_DONTWAIT), 0, "dropped in-flight copy was released");
  fx_end(&t);
}

/* spec: XFER-29 — a descriptor that arrives with a later read of the
 * sideband still counts for this handoff. */
Test(transport, descriptor_on_later_read_counts) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 7);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(send(ctl[0], tok, 4, 0), 4);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(fx_send_fds(ctl[0], tok + 4, 12, &conn[0], 1), 12);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK);
  cr_assert_eq(sb.conn_status, HO_OK);
  cr_assert_geq(sb.conn, 0);
  ho_sideband_clear(&sb);
  fx_end(&t);
}

/* spec: XFER-29 XFER-28 — one descriptor on each of two reads is two. */
Test(transport, descriptors_on_two_reads_are_extra) {
  fx_fds t;
  int ctl[2], a[2], b[2];
  fx_ctl_conn(&t, ctl, a);
  fx_pair(&t, SOCK_STREAM, b);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 17);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(fx_send_fds(ctl[0], tok, 6, &a[0], 1), 6);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_WOULD_BLOCK);
  int mid = fx_count_fds();
  cr_assert_eq(fx_send_fds(ctl[0], tok + 6, 10, &b[0], 1), 10);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_OK);
  cr_assert_eq(sb.conn_status, HO_ERR_EXTRA_DESCRIPTORS);
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  cr_assert_eq(fx_count_fds(), mid - 1, "the first descriptor was closed too");
  fx_end(&t);
}

/* spec: XFER-9 ERR-34 — EOF in the middle of a sideband closes what was
 * received. */
Test(transport, eof_mid_sideband_closes_descriptor) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 8);
  cr_assert_eq(fx_send_fds(ctl[0], tok, 3, &conn[0], 1), 3);
  fx_close(&t, ctl[0]);
  ho_sideband sb;
  ho_sideband_init(&sb);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_WOULD_BLOCK);
  cr_assert_geq(sb.conn, 0);
  cr_assert_eq(ho_sideband_recv(ctl[1], &sb), HO_ERR_TRUNCATED); /* spec: XFER-9 */
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  fx_end(&t);
}

/* spec: XFER-6 ERR-3 — send errors map to named codes; a gone peer does
 * not kill the process (MSG_NOSIGNAL). */
Test(transport, send_to_closed_peer_is_closed) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  fx_close(&t, ctl[1]);
  uint8_t tok[HO_TOKEN_BYTES] = {0};
  cr_assert_eq(ho_xfer_send(ctl[0], conn[0], tok, NULL), HO_ERR_CLOSED);
  fx_end(&t);
}

Test(transport, send_when_full_would_block) {
  fx_fds t;
  int ctl[2], conn[2];
  fx_ctl_conn(&t, ctl, conn);
  cr_assert_eq(fcntl(ctl[0], F_SETFL, O_NONBLOCK), 0);
  char junk[4096] = {0};
  while (send(ctl[0], junk, sizeof junk, MSG_DONTWAIT) > 0) {
  }
  uint8_t tok[HO_TOKEN_BYTES] = {0};
  int rc = ho_xfer_send(ctl[0], conn[0], tok, NULL);
  cr_assert(rc == HO_ERR_WOULD_BLOCK || rc == HO_ERR_PARTIAL_SEND, "got %s", ho_errname(rc));
  fx_end(&t);
}

Test(transport, errno_mapping) {
  cr_assert_eq(ho_err_from_errno(EAGAIN), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(ho_err_from_errno(ENOBUFS), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(ho_err_from_errno(EPIPE), HO_ERR_CLOSED);
  cr_assert_eq(ho_err_from_errno(ECONNRESET), HO_ERR_CLOSED);
  cr_assert_eq(ho_err_from_errno(ECONNREFUSED), HO_ERR_CLOSED);
  cr_assert_eq(ho_err_from_errno(ENOTCONN), HO_ERR_CLOSED);
  cr_assert_eq(ho_err_from_errno(EACCES), HO_ERR_PERMISSION);
  cr_assert_eq(ho_err_from_errno(EPERM), HO_ERR_PERMISSION);
  cr_assert_eq(ho_err_from_errno(ETOOMANYREFS), HO_ERR_FD_EXHAUSTED);
  cr_assert_eq(ho_err_from_errno(EMFILE), HO_ERR_FD_EXHAUSTED);
  cr_assert_eq(ho_err_from_errno(EIO), HO_ERR_IO);
}

Test(transport, bad_arguments) {
  uint8_t tok[HO_TOKEN_BYTES] = {0}, buf[4];
  ho_xfer_rx rx;
  cr_assert_eq(ho_xfer_send(-1, 0, tok, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_send(0, 0, NULL, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_recv(-1, buf, 4, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(rx.conn, HO_NO_HANDLE);
  cr_assert_eq(ho_xfer_recv(0, buf, 0, &rx, 0), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_check_stream(-1), HO_ERR_BAD_DESCRIPTOR);
}

/* spec: SEC-1 SEC-4 — peer credentials and policies. */
Test(transport, peer_credentials_policy) {
  fx_fds t;
  int sv[2];
  fx_begin(&t);
  fx_pair(&t, SOCK_STREAM, sv);
  ho_peer_cred pc;
  cr_assert_eq(ho_peer_cred_get(sv[0], &pc), HO_OK);
  cr_assert_eq(pc.uid, geteuid());
  cr_assert_eq(pc.pid, getpid());
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_SAME_UID, 0, NULL), HO_OK);
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_ANY, 0, NULL), HO_OK);
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_UID, geteuid(), NULL), HO_OK);
  cr_assert_eq(ho_peer_check(sv[0], HO_PEER_UID, geteuid() + 1, NULL), HO_ERR_PEER_REJECTED);
  ho_peer_policy p;
  uid_t u = 0;
  cr_assert_eq(ho_peer_policy_parse("any", &p, &u), HO_OK);
  cr_assert_eq(p, HO_PEER_ANY);
  cr_assert_eq(ho_peer_policy_parse("same", &p, &u), HO_OK);
  cr_assert_eq(p, HO_PEER_SAME_UID);
  cr_assert_eq(ho_peer_policy_parse("1234", &p, &u), HO_OK);
  cr_assert_eq(p, HO_PEER_UID);
  cr_assert_eq(u, 1234);
  cr_assert_eq(ho_peer_policy_parse("12x", &p, &u), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("-1", &p, &u), HO_ERR_INVALID_ARGUMENT);
  int p2[2];
  cr_assert_eq(pipe(p2), 0);
  fx_track(&t, p2[0]), fx_track(&t, p2[1]);
  cr_assert_eq(ho_peer_cred_get(p2[0], &pc), HO_ERR_PEER_CREDENTIALS);
  fx_end(&t);
}

static void temp_dir(char *out, size_t cap) {
  snprintf(out, cap, "/tmp/ho-test-XXXXXX");
  cr_assert_not_null(mkdtemp(out));
}

/* spec: SEC-2 — directories 0700, socket 0600, atomic appearance, unlink
 * on close, stale socket replaced, live socket and non-socket refused. */
Test(transport, listener_lifecycle) {
  fx_fds t;
  fx_begin(&t);
  char dir[64], path[128];
  temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/a/b/h.sock", dir);
  ho_listener l;
  cr_assert_eq(ho_listener_open(&l, path, 4), HO_OK);
  struct stat st;
  char sub[128];
  snprintf(sub, sizeof sub, "%s/a", dir);
  cr_assert_eq(stat(sub, &st), 0);
  cr_assert_eq(st.st_mode & 0777, 0700);
  cr_assert_eq(stat(path, &st), 0);
  cr_assert(S_ISSOCK(st.st_mode));
  cr_assert_eq(st.st_mode & 0777, 0600);
  ho_handle c, a;
  cr_assert_eq(ho_listener_accept(&l, &a), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(ho_unix_connect(path, 0, &c), HO_OK);
  cr_assert_eq(ho_listener_accept(&l, &a), HO_OK);
  close((int)c), close((int)a);
  ho_listener l2;
  cr_assert_eq(ho_listener_open(&l2, path, 4), HO_ERR_STATE, "live socket is not replaced");
  cr_assert_eq(ho_listener_accept(&l, &a), HO_OK); /* the liveness probe */
  close((int)a);
  ho_listener_close(&l);
  cr_assert_neq(stat(path, &st), 0, "socket unlinked on close");
  ho_listener_close(&l); /* twice is fine */
  cr_assert_eq(ho_unix_connect(path, 0, &c), HO_ERR_CLOSED);
  /* A stale socket file (nobody accepts) is replaced. */
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  cr_assert_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
  close(s);
  cr_assert_eq(ho_listener_open(&l, path, 4), HO_OK);
  ho_listener_close(&l);
  /* A regular file is never removed. */
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fclose(f);
  cr_assert_eq(ho_listener_open(&l, path, 4), HO_ERR_STATE);
  cr_assert_eq(stat(path, &st), 0);
  unlink(path);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
  fx_end(&t);
}

/* spec: SEC-9 SEC-2 — no endpoint in a directory another user owns, or that
 * others can write without the sticky bit; the error names the directory,
 * its owner and its mode. A root-owned sticky directory (like /tmp) is fine. */
Test(transport, regression_issue_11_foreign_socket_directory_refused) {
  fx_fds t;
  fx_begin(&t);
  char dir[] = "/tmp/ho-sec9-XXXXXX", path[96];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ep.sock", dir);
  ho_listener l;
  ho_diag d;
  cr_assert_eq(chmod(dir, 0777), 0); /* others may write, no sticky bit */
  cr_assert_eq(ho_listener_open_diag(&l, path, 4, 0, &d), HO_ERR_PERMISSION);
  cr_assert_not_null(strstr(d.msg, dir), "%s", d.msg);
  cr_assert_not_null(strstr(d.msg, "0777"), "%s", d.msg);
  cr_assert_eq(chmod(dir, 01777), 0); /* sticky: others cannot replace our socket */
  cr_assert_eq(ho_listener_open_diag(&l, path, 4, 0, &d), HO_OK, "%s", d.msg);
  ho_listener_close(&l);
  cr_assert_eq(chmod(dir, 0700), 0);
  if (geteuid() == 0) { /* another user's directory */
    cr_assert_eq(chown(dir, 65534, 65534), 0);
    cr_assert_eq(ho_listener_open_diag(&l, path, 4, 0, &d), HO_ERR_PERMISSION);
    cr_assert_not_null(strstr(d.msg, "uid 65534"), "%s", d.msg);
    cr_assert_eq(chown(dir, 0, 0), 0);
  }
  /* a live endpoint is not replaced, unless taken over */
  cr_assert_eq(ho_listener_open_diag(&l, path, 4, 0, &d), HO_OK);
  ho_listener l2;
  cr_assert_eq(ho_listener_open_diag(&l2, path, 4, 0, &d), HO_ERR_STATE);
  cr_assert_not_null(strstr(d.msg, "another process accepts on it"), "%s", d.msg);
  cr_assert_eq(ho_listener_open_diag(&l2, path, 4, HO_LISTEN_TAKEOVER, &d), HO_OK, "%s", d.msg);
  ho_handle c;
  cr_assert_eq(ho_unix_connect(path, 0, &c), HO_OK);
  ho_handle acc;
  cr_assert_eq(ho_listener_accept(&l2, &acc), HO_OK, "after the takeover, the new one answers");
  close((int)acc), close((int)c);
  ho_listener_close(&l); /* the old one leaves the successor's socket alone */
  struct stat st;
  cr_assert_eq(stat(path, &st), 0);
  ho_listener_close(&l2);
  /* a missing socket is named with its OS error */
  cr_assert_eq(ho_unix_connect_diag(path, 0, &c, &d), HO_ERR_CLOSED);
  cr_assert_not_null(strstr(d.msg, "ENOENT"), "%s", d.msg);
  cr_assert_not_null(strstr(d.msg, path), "%s", d.msg);
  rmdir(dir);
  fx_end(&t);
}

/* spec: SEC-1 SEC-4 SEC-10 CLIENT-9 — one decision for every peer policy: ANY
 * accepts unreadable credentials, the others need them. */
Test(transport, peer_policy_one_decision) {
  ho_peer_cred me = {.pid = 1, .uid = 1000}, root = {.pid = 1, .uid = 0}, other = {.pid = 1, .uid = 7};
  cr_assert(ho_peer_allowed(HO_PEER_ANY, 0, 1000, NULL));
  cr_assert_not(ho_peer_allowed(HO_PEER_SAME_UID, 0, 1000, NULL));
  cr_assert(ho_peer_allowed(HO_PEER_SAME_UID, 0, 1000, &me));
  cr_assert_not(ho_peer_allowed(HO_PEER_SAME_UID, 0, 1000, &root));
  cr_assert(ho_peer_allowed(HO_PEER_SAME_UID_OR_ROOT, 0, 1000, &root));
  cr_assert_not(ho_peer_allowed(HO_PEER_SAME_UID_OR_ROOT, 0, 1000, &other));
  cr_assert(ho_peer_allowed(HO_PEER_UID, 7, 1000, &other));
  cr_assert_not(ho_peer_allowed(HO_PEER_UID, 7, 1000, NULL));
  ho_peer_policy pol;
  uid_t u = 0;
  cr_assert_eq(ho_peer_policy_parse("same-or-root", &pol, &u), HO_OK);
  cr_assert_eq(pol, HO_PEER_SAME_UID_OR_ROOT);
}
