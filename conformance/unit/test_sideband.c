/* Unit tests: the sans-I/O half of the Unix receiver (ref/lib/net/xfer_judge.c)
 * over synthetic msghdrs with fake descriptor numbers — ho_xfer_judge()
 * (which descriptors to keep and to close, the XFER-28 status of one read)
 * and ho_sideband_apply() (the 16 bytes of one sideband over several
 * reads) — and the Windows handle checks without Win32 calls
 * (ref/lib/core/win_handle.c). No descriptor is opened: the functions must
 * only copy the numbers, which these tests check by listing them.
 * spec: XFER-3 XFER-9 XFER-28 XFER-29 ERR-31 ERR-32 ERR-33 ERR-34 ERR-45 XFER-32 XFER-38 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>

#include "core/win_handle.h"
#include "handoff/error.h"
#include "net/xfer_internal.h"

/* u last: clang folds CMSG_SPACE() to a constant only as an extension, and
 * then a field of that size must end the struct (make coverage builds with clang). */
typedef struct ctlbuf {
  size_t off;
  struct msghdr m;
  union {
    struct cmsghdr align;
    unsigned char b[HO_XFER_CTL_MAX];
  } u;
} ctlbuf;

static void cb_init(ctlbuf *c) { memset(c, 0, sizeof *c); }

/* Append one control message with `n` ints (fds or other payload). */
static void cb_add(ctlbuf *c, int level, int type, const int *v, size_t n) {
  struct cmsghdr h;
  memset(&h, 0, sizeof h);
  h.cmsg_level = level;
  h.cmsg_type = type;
  h.cmsg_len = CMSG_LEN(sizeof(int) * n);
  cr_assert_leq(c->off + CMSG_SPACE(sizeof(int) * n), sizeof c->u.b);
  memcpy(c->u.b + c->off, &h, sizeof h);
  memcpy(c->u.b + c->off + CMSG_LEN(0), v, sizeof(int) * n);
  c->off += CMSG_SPACE(sizeof(int) * n);
}

static struct msghdr *cb_msg(ctlbuf *c, int flags) {
  c->m.msg_control = c->u.b;
  c->m.msg_controllen = c->off;
  c->m.msg_flags = flags;
  return &c->m;
}

static int stream_ok(void *ctx, int fd) {
  int *calls = ctx;
  (*calls)++;
  return fd == 1001 || fd == 1002 ? HO_OK : HO_ERR_BAD_DESCRIPTOR;
}

static const size_t CAP8 = CMSG_SPACE(sizeof(int) * 8);

/* spec: XFER-3 XFER-28 — one SCM_RIGHTS descriptor of a connected stream:
 * kept, nothing to close. */
Test(sideband, judge_one_stream_descriptor_kept) {
  ctlbuf c;
  cb_init(&c);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001}, 1);
  ho_xfer_verdict v;
  int calls = 0;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CAP8, 0, stream_ok, &calls, &v), HO_OK);
  cr_assert_eq(v.status, HO_OK);
  cr_assert_eq(v.keep, 1001);
  cr_assert_eq(v.nclose, 0);
  cr_assert_eq(calls, 1, "the stream check is asked once");
}

/* spec: XFER-28 ERR-32 — two descriptors, in one message or two: both to
 * close, none kept, the stream check never asked. */
Test(sideband, judge_two_descriptors_all_closed) {
  for (int split = 0; split <= 1; split++) {
    ctlbuf c;
    cb_init(&c);
    if (split) {
      cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001}, 1);
      cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1002}, 1);
    } else {
      cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001, 1002}, 2);
    }
    ho_xfer_verdict v;
    int calls = 0;
    cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CAP8, 0, stream_ok, &calls, &v), HO_OK);
    cr_assert_eq(v.status, HO_ERR_EXTRA_DESCRIPTORS);
    cr_assert_eq(v.keep, -1);
    cr_assert_eq(v.nclose, 2);
    cr_assert_eq(v.close[0], 1001);
    cr_assert_eq(v.close[1], 1002);
    cr_assert_eq(calls, 0);
  }
}

/* spec: XFER-28 ERR-33 — a descriptor that is not a connected stream: to
 * close; with HO_XFER_NO_STREAM_CHECK it is kept unasked. */
Test(sideband, judge_bad_descriptor_closed_unless_unchecked) {
  ctlbuf c;
  cb_init(&c);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){7}, 1);
  ho_xfer_verdict v;
  int calls = 0;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 4, CAP8, 0, stream_ok, &calls, &v), HO_OK);
  cr_assert_eq(v.status, HO_ERR_BAD_DESCRIPTOR);
  cr_assert_eq(v.keep, -1);
  cr_assert(v.nclose == 1 && v.close[0] == 7);
  calls = 0;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 4, CAP8, HO_XFER_NO_STREAM_CHECK, stream_ok, &calls, &v),
               HO_OK);
  cr_assert_eq(v.status, HO_OK);
  cr_assert_eq(v.keep, 7);
  cr_assert_eq(calls, 0);
}

/* spec: XFER-28 ERR-45 ERR-32 — MSG_CTRUNC: FD_EXHAUSTED with room left,
 * EXTRA_DESCRIPTORS with the buffer full; what arrived is closed. */
Test(sideband, judge_ctrunc_room_left_or_full) {
  ctlbuf c;
  cb_init(&c);
  ho_xfer_verdict v;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, MSG_CTRUNC), 16, CAP8, 0, stream_ok, &(int){0}, &v), HO_OK);
  cr_assert_eq(v.status, HO_ERR_FD_EXHAUSTED);
  cr_assert_eq(v.nclose, 0);
  size_t cap1 = CMSG_SPACE(sizeof(int)); /* room for 2 on x86-64 */
  size_t room = (cap1 - CMSG_LEN(0)) / sizeof(int);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001, 1002}, room);
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, MSG_CTRUNC), 16, cap1, 0, stream_ok, &(int){0}, &v), HO_OK);
  cr_assert_eq(v.status, HO_ERR_EXTRA_DESCRIPTORS);
  cr_assert_eq(v.nclose, room);
  cr_assert_eq(v.keep, -1);
}

/* spec: XFER-3 — other control messages carry no descriptor; a cmsg_len
 * past the delivered data or a huge one ends the walk without a read out
 * of bounds; what was collected before still counts. */
Test(sideband, judge_other_messages_and_lying_lengths) {
  ctlbuf c;
  cb_init(&c);
  cb_add(&c, SOL_SOCKET, SCM_CREDENTIALS, (int[]){1, 2, 3}, 3);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001}, 1);
  ho_xfer_verdict v;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CAP8 * 2, 0, stream_ok, &(int){0}, &v), HO_OK);
  cr_assert_eq(v.keep, 1001);
  cr_assert_eq(v.nclose, 0);
  /* The second header claims more than was delivered. */
  struct cmsghdr h;
  size_t second = CMSG_SPACE(sizeof(int) * 3);
  memcpy(&h, c.u.b + second, sizeof h);
  h.cmsg_len = (size_t)-8;
  memcpy(c.u.b + second, &h, sizeof h);
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CAP8 * 2, 0, stream_ok, &(int){0}, &v), HO_OK);
  cr_assert_eq(v.status, HO_OK);
  cr_assert_eq(v.keep, -1);
  cr_assert_eq(v.nclose, 0);
}

/* spec: XFER-9 — EOF: HO_ERR_CLOSED, every descriptor to close. */
Test(sideband, judge_eof_closes_everything) {
  ctlbuf c;
  cb_init(&c);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001}, 1);
  ho_xfer_verdict v;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 0, CAP8, 0, stream_ok, &(int){0}, &v), HO_ERR_CLOSED);
  cr_assert_eq(v.keep, -1);
  cr_assert(v.nclose == 1 && v.close[0] == 1001);
}

/* More control data than the buffer offered (no kernel delivers that) or a
 * buffer past the bound: refused, nothing collected. */
Test(sideband, judge_impossible_inputs_refused) {
  ctlbuf c;
  cb_init(&c);
  cb_add(&c, SOL_SOCKET, SCM_RIGHTS, (int[]){1001, 1002, 1003}, 3);
  ho_xfer_verdict v;
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CMSG_SPACE(sizeof(int)), 0, NULL, NULL, &v),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(v.nclose, 0);
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, HO_XFER_CTL_MAX + 1, 0, NULL, NULL, &v),
               HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_judge(NULL, 16, CAP8, 0, NULL, NULL, &v), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_xfer_judge(cb_msg(&c, 0), 16, CAP8, 0, NULL, NULL, NULL), HO_ERR_INVALID_ARGUMENT);
}

static ho_xfer_rx rx_of(size_t len, int conn, int status) {
  ho_xfer_rx rx = {.len = len, .conn = conn, .conn_status = status};
  return rx;
}

/* spec: XFER-29 XFER-28 — the sideband in two reads, the descriptor with
 * the first: WOULD_BLOCK, then HO_OK holding it. */
Test(sideband, apply_two_reads_one_descriptor) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  int cl[2];
  size_t n = 9;
  ho_xfer_rx rx = rx_of(5, 1001, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(n, 0);
  rx = rx_of(11, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_OK);
  cr_assert_eq(n, 0);
  cr_assert_eq(sb.conn, 1001);
  cr_assert_eq(sb.conn_status, HO_OK);
}

/* spec: XFER-29 XFER-28 ERR-32 — a descriptor with each of two reads: the
 * second is to close at once, the first when the 16 bytes are in. */
Test(sideband, apply_descriptor_per_read_is_extra) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  int cl[2];
  size_t n;
  ho_xfer_rx rx = rx_of(8, 1001, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
  rx = rx_of(8, 1002, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_OK);
  cr_assert_eq(n, 2);
  cr_assert(cl[0] == 1002 && cl[1] == 1001);
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  cr_assert_eq(sb.conn_status, HO_ERR_EXTRA_DESCRIPTORS);
}

/* spec: XFER-28 ERR-31 ERR-45 ERR-33 — the order over the reads. */
Test(sideband, apply_status_order) {
  static const struct {
    int s1, s2, want;
  } cases[] = {
      {HO_OK, HO_OK, HO_ERR_NO_DESCRIPTOR},
      {HO_ERR_FD_EXHAUSTED, HO_ERR_BAD_DESCRIPTOR, HO_ERR_FD_EXHAUSTED},
      {HO_ERR_BAD_DESCRIPTOR, HO_OK, HO_ERR_BAD_DESCRIPTOR},
      {HO_ERR_EXTRA_DESCRIPTORS, HO_ERR_FD_EXHAUSTED, HO_ERR_EXTRA_DESCRIPTORS},
      {HO_ERR_BAD_DESCRIPTOR, HO_ERR_BAD_DESCRIPTOR, HO_ERR_EXTRA_DESCRIPTORS},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ho_sideband sb;
    ho_sideband_init(&sb);
    int cl[2];
    size_t n;
    ho_xfer_rx rx = rx_of(8, HO_NO_HANDLE, cases[i].s1);
    cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
    rx = rx_of(8, HO_NO_HANDLE, cases[i].s2);
    cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_OK);
    cr_assert_eq(sb.conn_status, cases[i].want, "case %zu: %s", i, ho_errname(sb.conn_status));
    cr_assert_eq(n, 0);
  }
}

/* spec: XFER-9 ERR-34 — EOF after 1..15 bytes: TRUNCATED, the held
 * descriptor to close; before the first byte: CLOSED. */
Test(sideband, apply_eof_truncated_or_closed) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  int cl[2];
  size_t n;
  ho_xfer_rx rx = rx_of(0, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_ERR_CLOSED, &rx, cl, &n), HO_ERR_CLOSED);
  rx = rx_of(3, 1001, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
  rx = rx_of(0, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_ERR_WOULD_BLOCK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
  cr_assert_eq(n, 0, "WOULD_BLOCK closes nothing");
  cr_assert_eq(ho_sideband_apply(&sb, HO_ERR_CLOSED, &rx, cl, &n), HO_ERR_TRUNCATED);
  cr_assert(n == 1 && cl[0] == 1001);
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
}

/* Found by fuzz_sideband (conformance/regression/fuzz_sideband/): after an
 * error closed the held descriptor, reading on must not end HO_OK without
 * one. spec: XFER-28 */
Test(sideband, apply_error_then_completion_is_not_ok) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  int cl[2];
  size_t n;
  ho_xfer_rx rx = rx_of(5, 1001, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_WOULD_BLOCK);
  rx = rx_of(0, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_ERR_IO, &rx, cl, &n), HO_ERR_IO);
  cr_assert(n == 1 && cl[0] == 1001);
  rx = rx_of(11, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_OK);
  cr_assert_eq(sb.conn, HO_NO_HANDLE);
  cr_assert_eq(sb.conn_status, HO_ERR_BAD_DESCRIPTOR);
}

/* A read no kernel makes (0 bytes, or past the 16th): refused, its
 * descriptor to close, the sideband unchanged. spec: XFER-29 */
Test(sideband, apply_impossible_read_refused) {
  ho_sideband sb;
  ho_sideband_init(&sb);
  int cl[2];
  size_t n;
  ho_xfer_rx rx = rx_of(17, 1001, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert(n == 1 && cl[0] == 1001);
  cr_assert_eq(sb.have, 0);
  rx = rx_of(0, HO_NO_HANDLE, HO_OK);
  cr_assert_eq(ho_sideband_apply(&sb, HO_OK, &rx, cl, &n), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(n, 0);
  cr_assert_eq(ho_sideband_apply(NULL, HO_OK, &rx, cl, &n), HO_ERR_INVALID_ARGUMENT);
}

/* ---- Windows handle values (core/win_handle.c) ------------------------------ */

typedef struct fake_os {
  uint32_t type_pipe, info_ok, flags, pid_ok, pid;
  int asked[4];
} fake_os;

static int fake_ask(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer) {
  (void)value;
  fake_os *o = ctx;
  o->asked[q]++;
  switch (q) {
  case HO_WIN_ASK_FILE_TYPE: *answer = o->type_pipe; return 0;
  case HO_WIN_ASK_PIPE_INFO: *answer = o->flags; return o->info_ok ? 0 : -1;
  case HO_WIN_ASK_SERVER_PID: *answer = o->pid; return o->pid_ok ? 0 : -1;
  default: return -1;
  }
}

/* spec: XFER-32 XFER-38 — values judged before any question. */
Test(sideband, win_values_refused_without_a_question) {
  fake_os o = {1, 1, HO_WIN_PIPE_SERVER_END, 1, 77, {0}};
  ho_win_question f;
  cr_assert_eq(ho_win_handle_judge(0, 77, fake_ask, &o, &f), HO_ERR_NO_DESCRIPTOR);
  static const uint64_t bad[] = {(uint64_t)-1, (uint64_t)-12, 0x100000000ull, 0x105, 0x106, 0x107};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(ho_win_handle_judge(bad[i], 77, fake_ask, &o, &f), HO_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(f, HO_WIN_ASK_NONE);
  }
  cr_assert_eq(o.asked[1] + o.asked[2] + o.asked[3], 0);
}

/* spec: XFER-38 — the questions in order, each failing one names itself;
 * no broker pid: the server pid is not asked. */
Test(sideband, win_questions_in_order) {
  ho_win_question f;
  fake_os ok = {1, 1, HO_WIN_PIPE_SERVER_END, 1, 77, {0}};
  cr_assert_eq(ho_win_handle_judge(0x104, 77, fake_ask, &ok, &f), HO_OK);
  cr_assert(ok.asked[1] == 1 && ok.asked[2] == 1 && ok.asked[3] == 1);
  fake_os nopid = ok;
  memset(nopid.asked, 0, sizeof nopid.asked);
  cr_assert_eq(ho_win_handle_judge(0x104, 0, fake_ask, &nopid, &f), HO_OK);
  cr_assert_eq(nopid.asked[3], 0);
  struct {
    fake_os o;
    ho_win_question want;
  } cases[] = {
      {{0, 1, HO_WIN_PIPE_SERVER_END, 1, 77, {0}}, HO_WIN_ASK_FILE_TYPE},
      {{1, 0, HO_WIN_PIPE_SERVER_END, 1, 77, {0}}, HO_WIN_ASK_PIPE_INFO},
      {{1, 1, 0, 1, 77, {0}}, HO_WIN_ASK_PIPE_INFO},
      {{1, 1, HO_WIN_PIPE_SERVER_END, 0, 77, {0}}, HO_WIN_ASK_SERVER_PID},
      {{1, 1, HO_WIN_PIPE_SERVER_END, 1, 78, {0}}, HO_WIN_ASK_SERVER_PID},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(ho_win_handle_judge(0x104, 77, fake_ask, &cases[i].o, &f), HO_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(f, cases[i].want, "case %zu", i);
    for (int q = (int)cases[i].want + 1; q <= 3; q++)
      cr_assert_eq(cases[i].o.asked[q], 0, "case %zu: nothing asked after the failure", i);
  }
}
