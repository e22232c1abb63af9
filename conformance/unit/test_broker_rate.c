/* Unit tests of the broker core's Hello rate per peer process (HELLO-14):
 * the limit, the window reset, the bounded table and its fail-safe, on the
 * injected clock, through the public sans-I/O API and the real codecs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "handoff/broker.h"
#include "handoff/msg.h"

#include "broker_test_util.h"

static ho_broker *mk_rate(uint32_t rate, uint32_t pids) {
  ho_broker_config cfg = {.service = "echo", .backend_pipe = "/run/echo/backend.sock",
                          .peer_policy = HO_PEER_ANY, .hello_rate = rate,
                          .hello_rate_pids = pids};
  ho_broker *b = NULL;
  cr_assert_eq(ho_broker_new(&cfg, 1 * MS, &b), HO_OK);
  acts x;
  drain(b, &x);
  return b;
}

/* One client of process `pid` sends a whole Hello at `now`; returns the
 * reply the core wrote, after the connection has been closed again. */
static ho_hello_reply hello_from(ho_broker *b, int pid, uint64_t now) {
  static acts x; /* large: keep it off the stack */
  uint8_t wire[512];
  size_t len = hello_frame(0, "echo", wire, sizeof wire);
  ho_peer_cred p = {.pid = pid, .uid = 1000, .gid = 1000};
  ho_broker_conn *c;
  cr_assert_eq(ho_broker_client_open(b, &dummy_client, &p, now, &c), HO_OK);
  size_t off = 0, want;
  while ((want = ho_broker_client_wants(b, c)) > 0 && off < len) {
    size_t n = want < len - off ? want : len - off;
    cr_assert_eq(ho_broker_client_data(b, c, wire + off, n, now), HO_OK);
    off += n;
  }
  cr_assert_eq(off, len);
  drain(b, &x);
  int w = find(&x, HO_BACT_WRITE, 0);
  cr_assert_geq(w, 0, "pid %d: a HelloReply is written", pid);
  ho_hello_reply r = reply_of(&x, w);
  cr_assert_eq(find(&x, HO_BACT_CLOSE, 0), -1, "closed only once the reply is written");
  cr_assert_eq(ho_broker_conn_flushed(b, c, now), HO_OK);
  drain(b, &x);
  cr_assert_geq(find(&x, HO_BACT_CLOSE, 0), 0, "closed after the reply");
  return r;
}

static void assert_rate_limited(const ho_hello_reply *r, uint64_t min_ms, uint64_t max_ms) {
  cr_assert_eq(r->which, HO_REPLY_REFUSED);
  cr_assert_eq(r->refused.code, HO_REFUSE_RATE_LIMITED);
  cr_assert_str_eq(r->refused.reason, "RATE_LIMITED");
  cr_assert_eq(r->refused.daemon_min_protocol, 1);
  cr_assert_eq(r->refused.daemon_max_protocol, 1);
  cr_assert(r->refused.retry_after_ms >= min_ms && r->refused.retry_after_ms <= max_ms,
            "retry_after_ms %llu not in [%llu, %llu]",
            (unsigned long long)r->refused.retry_after_ms, (unsigned long long)min_ms,
            (unsigned long long)max_ms);
}

/* spec: HELLO-14 HELLO-8 HELLO-3 — at most N Hellos per second per pid; the
 * excess is refused with ERROR_RATE_LIMITED and retry_after_ms; another
 * process is not affected. */
Test(broker_hello, rate_limit_refuses_the_excess) {
  ho_broker *b = mk_rate(3, 0);
  uint64_t t0 = 10 * 1000 * MS;
  for (int i = 0; i < 3; i++) {
    ho_hello_reply r = hello_from(b, 42, t0 + (uint64_t)i * 100 * MS);
    cr_assert_eq(r.which, HO_REPLY_NEGOTIATED, "Hello %d of the window", i + 1);
    cr_assert_eq(r.negotiated.handle_passed_token_len, 0);
  }
  ho_hello_reply r = hello_from(b, 42, t0 + 300 * MS);
  assert_rate_limited(&r, 700, 700); /* the window started at t0 */
  r = hello_from(b, 43, t0 + 300 * MS);
  cr_assert_eq(r.which, HO_REPLY_NEGOTIATED, "another pid has its own window");
  r = hello_from(b, 42, t0 + 400 * MS);
  assert_rate_limited(&r, 600, 600);
  ho_broker_stats st;
  ho_broker_get_stats(b, &st);
  cr_assert_eq(st.hellos_rate_limited, 2);
  cr_assert_eq(st.hellos_refused, 2);
  cr_assert_eq(st.negotiated, 4);
  cr_assert_eq(st.open_conns, 0);
  bt_del(b);
}

/* spec: HELLO-14 — the window is one second from the pid's first Hello;
 * when it ends the pid's budget is whole again. */
Test(broker_hello, rate_limit_window_reset) {
  ho_broker *b = mk_rate(2, 0);
  uint64_t t0 = 5 * 1000 * MS;
  cr_assert_eq(hello_from(b, 7, t0).which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(hello_from(b, 7, t0 + 1 * MS).which, HO_REPLY_NEGOTIATED);
  ho_hello_reply r = hello_from(b, 7, t0 + 999 * MS); /* 1 ms left */
  assert_rate_limited(&r, 1, 1);
  /* The window ends at t0 + 1 s exactly: a new one starts there. */
  for (int i = 0; i < 2; i++)
    cr_assert_eq(hello_from(b, 7, t0 + 1000 * MS).which, HO_REPLY_NEGOTIATED);
  r = hello_from(b, 7, t0 + 1500 * MS);
  assert_rate_limited(&r, 500, 500);
  /* A clock reading from the past revives nothing. */
  r = hello_from(b, 7, t0);
  assert_rate_limited(&r, 500, 500);
  cr_assert_eq(hello_from(b, 7, t0 + 2000 * MS).which, HO_REPLY_NEGOTIATED);
  bt_del(b);
}

/* spec: HELLO-14 — the table of pids is bounded; when every slot holds a
 * live window a new pid is refused (fail-safe, never unlimited) until the
 * oldest window ends, while tracked pids keep their own budget. */
Test(broker_hello, rate_limit_table_full_fails_safe) {
  ho_broker *b = mk_rate(4, 2);
  uint64_t t0 = 3 * 1000 * MS;
  cr_assert_eq(hello_from(b, 101, t0).which, HO_REPLY_NEGOTIATED);
  cr_assert_eq(hello_from(b, 102, t0 + 200 * MS).which, HO_REPLY_NEGOTIATED);
  ho_hello_reply r = hello_from(b, 103, t0 + 300 * MS);
  assert_rate_limited(&r, 700, 700); /* until pid 101's window ends */
  cr_assert_eq(hello_from(b, 102, t0 + 300 * MS).which, HO_REPLY_NEGOTIATED,
               "a tracked pid is not refused because the table is full");
  /* pid 101's window ends: its slot is free for pid 103. */
  cr_assert_eq(hello_from(b, 103, t0 + 1000 * MS).which, HO_REPLY_NEGOTIATED);
  r = hello_from(b, 104, t0 + 1000 * MS);
  assert_rate_limited(&r, 200, 200); /* now until pid 102's window ends */
  /* pid 101 lost its slot: it is a new pid now, and the table is full. */
  r = hello_from(b, 101, t0 + 1100 * MS);
  assert_rate_limited(&r, 100, 100);
  cr_assert_eq(hello_from(b, 101, t0 + 1200 * MS).which, HO_REPLY_NEGOTIATED);
  bt_del(b);
}

/* spec: HELLO-14 — the default is the original's 256 per second; the
 * limit can be switched off (the shell's --hello-rate 0). */
Test(broker_hello, rate_limit_default_and_unlimited) {
  ho_broker *b = mk_rate(0, 0);
  uint64_t t0 = 2 * 1000 * MS;
  for (int i = 0; i < (int)HO_BROKER_DEFAULT_HELLO_RATE; i++)
    cr_assert_eq(hello_from(b, 42, t0 + (uint64_t)i * MS).which, HO_REPLY_NEGOTIATED,
                 "Hello %d", i + 1);
  cr_assert_eq(HO_BROKER_DEFAULT_HELLO_RATE, 256);
  ho_hello_reply r = hello_from(b, 42, t0 + 256 * MS);
  assert_rate_limited(&r, 744, 744);
  bt_del(b);

  b = mk_rate(HO_BROKER_HELLO_RATE_UNLIMITED, 1);
  for (int i = 0; i < 1000; i++)
    cr_assert_eq(hello_from(b, 42 + (i & 3), t0).which, HO_REPLY_NEGOTIATED, "Hello %d", i + 1);
  bt_del(b);
}
