/* Unit tests: client library (ref/lib/client/client_*.c) against a scripted
 * broker and backend_pipe in a child process, over real Unix sockets.
 * Fallback is silent (route=reconnect, HO_OK); only Refused and an
 * unreachable backend_pipe are errors. */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "handoff/client.h"
#include "handoff/frame.h"
#include "xfer_fixtures.h"

enum scenario {
  SC_NO_TOKEN,
  SC_LEGACY_OK,
  SC_EOF,
  SC_WRONG_TOKEN,
  SC_READY_REFUSED,
  SC_MALFORMED_READY,
  SC_SILENT,
  SC_BR_OK,
  SC_EARLY_OK,
  SC_EARLY_LEGACY,
  SC_REFUSED_HELLO,
  SC_BAD_PROTOCOL,
  SC_EMPTY_PIPE,
  SC_REPLY_WRONG_KIND,
  SC_TOKEN_NO_BIT,
  SC_BR_SLOW_READY,
  SC_EARLY_RESET,
  SC_BAD_TOKEN_LEN,
  SC_EARLY_LEGACY_CLOSE,
  SC_BR_GARBAGE
};

typedef struct fx_net {
  char dir[64], broker[96], pipe[96];
  ho_listener lb, lp;
  pid_t child;
} fx_net;

#define CHILD_CHECK(c)                                                                         \
  do {                                                                                         \
    if (!(c)) {                                                                                \
      fprintf(stderr, "child check failed line %d: %s\n", __LINE__, #c);                      \
      _exit(10);                                                                               \
    }                                                                                          \
  } while (0)

static const uint8_t k_token[HO_TOKEN_BYTES] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

static int child_accept(ho_listener *l) {
  struct pollfd p = {.fd = (int)l->fd, .events = POLLIN};
  CHILD_CHECK(poll(&p, 1, 5000) == 1);
  ho_handle h;
  CHILD_CHECK(ho_listener_accept(l, &h) == HO_OK);
  int fl = fcntl((int)h, F_GETFL);
  fcntl((int)h, F_SETFL, fl & ~O_NONBLOCK);
  return (int)h;
}

static void child_write_frame(int fd, ho_frame_type t, const ho_any_msg *m) {
  uint8_t buf[2048];
  size_t n = 0;
  CHILD_CHECK(ho_frame_encode(HO_CODEC_PROTOBUF_C, t, m, buf, sizeof buf, &n) == HO_OK);
  CHILD_CHECK(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static int nothing_pending(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, ms) == 0;
}

static void child_echo(int fd) {
  char buf[64];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  CHILD_CHECK(n > 0);
  CHILD_CHECK(send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n);
}

static void child_ready(int fd, const uint8_t *tok, bool accepted) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  memcpy(m.ack.token, tok, HO_TOKEN_BYTES);
  m.ack.accepted = accepted;
  m.ack.correlation_id = 1234; /* the client must not care */
  child_write_frame(fd, HO_FT_READY, &m);
}

static void run_child(fx_net *n, enum scenario sc) {
  int c = child_accept(&n->lb);
  uint8_t hdr[5], body[4096];
  CHILD_CHECK(recv(c, hdr, 5, MSG_WAITALL) == 5);
  uint32_t len = (uint32_t)hdr[1] | (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3] << 16;
  CHILD_CHECK(len < sizeof body && recv(c, body, len, MSG_WAITALL) == (ssize_t)len);
  ho_any_msg hm;
  CHILD_CHECK(ho_frame_decode_body(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, body, len, NULL, &hm) == HO_OK);
  uint64_t caps = hm.hello.client_capabilities;
  CHILD_CHECK(strcmp(hm.hello.service_name, "echo") == 0);
  /* spec: CAP-2 — only assigned bits. */
  CHILD_CHECK((caps & ~(HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY | HO_CAP_EARLY_DATA)) == 0);
  if (sc == SC_BAD_TOKEN_LEN) {
    /* Hand-built: Negotiated{negotiated_protocol 1, backend_pipe "p",
     * handle_passed_token of 5 bytes} in a RESPONSE on 0x0000. */
    static const uint8_t neg[] = {0x08, 0x01, 0x1a, 0x01, 'p', 0x3a, 0x05, 1, 2, 3, 4, 5};
    uint8_t reply[64], env[96], wire[128];
    size_t rl = 0, el = 0;
    reply[rl++] = 0x0a;
    reply[rl++] = (uint8_t)sizeof neg;
    memcpy(reply + rl, neg, sizeof neg);
    rl += sizeof neg;
    env[el++] = 0x08, env[el++] = 0x01; /* envelope_version 1 */
    env[el++] = 0x10, env[el++] = 0x01; /* kind RESPONSE */
    env[el++] = 0x22, env[el++] = (uint8_t)rl;
    memcpy(env + el, reply, rl);
    el += rl;
    CHILD_CHECK(ho_frame_write_header(wire, el) == HO_OK);
    memcpy(wire + 5, env, el);
    CHILD_CHECK(send(c, wire, el + 5, MSG_NOSIGNAL) == (ssize_t)(el + 5));
    char x;
    struct pollfd p = {.fd = c, .events = POLLIN};
    CHILD_CHECK(poll(&p, 1, 5000) == 1 && recv(c, &x, 1, 0) == 0);
    close(c);
    _exit(0);
  }
  bool early = sc == SC_EARLY_OK || sc == SC_EARLY_LEGACY || sc == SC_EARLY_RESET ||
               sc == SC_EARLY_LEGACY_CLOSE;
  if (early) {
    CHILD_CHECK(caps & HO_CAP_EARLY_DATA);
    char req[4];
    CHILD_CHECK(recv(c, req, 4, MSG_WAITALL | MSG_PEEK) == 4); /* right behind the Hello */
    CHILD_CHECK(memcmp(req, "ping", 4) == 0);
  } else {
    CHILD_CHECK(!(caps & HO_CAP_EARLY_DATA));
  }
  ho_any_msg r;
  memset(&r, 0, sizeof r);
  if (sc == SC_REFUSED_HELLO) {
    r.hello_reply.which = HO_REPLY_REFUSED;
    strcpy(r.hello_reply.refused.reason, "no");
    r.hello_reply.refused.code = HO_REFUSE_SERVICE_UNKNOWN;
    child_write_frame(c, HO_FT_HELLO_REPLY, &r);
    close(c);
    _exit(0);
  }
  if (sc == SC_REPLY_WRONG_KIND) { /* a ready frame where the HelloReply belongs */
    child_ready(c, k_token, true);
    close(c);
    _exit(0);
  }
  r.hello_reply.which = HO_REPLY_NEGOTIATED;
  ho_negotiated *ng = &r.hello_reply.negotiated;
  ng->negotiated_protocol = sc == SC_BAD_PROTOCOL ? 2 : 1;
  if (sc != SC_EMPTY_PIPE) strcpy(ng->backend_pipe, n->pipe);
  /* An unassigned bit the client must ignore (spec: CAP-1). A broker of
   * the original knows no extension: no CAP_EARLY_DATA. */
  bool v1 = sc == SC_EARLY_LEGACY || sc == SC_EARLY_LEGACY_CLOSE;
  ng->server_capabilities = (v1 ? 0 : HO_CAP_EARLY_DATA) | (UINT64_C(1) << 40);
  if (sc != SC_NO_TOKEN) {
    CHILD_CHECK(caps & HO_CAP_HANDLE_PASSING);
    memcpy(ng->handle_passed_token, k_token, HO_TOKEN_BYTES);
    ng->handle_passed_token_len = HO_TOKEN_BYTES;
    if (sc != SC_TOKEN_NO_BIT) ng->server_capabilities |= HO_CAP_HANDLE_PASSING;
    if (sc == SC_BR_OK || sc == SC_EARLY_OK || sc == SC_BR_SLOW_READY || sc == SC_EARLY_RESET ||
        sc == SC_BR_GARBAGE)
      ng->server_capabilities |= HO_CAP_BACKEND_READY;
  }
  child_write_frame(c, HO_FT_HELLO_REPLY, &r);
  if (sc == SC_BAD_PROTOCOL || sc == SC_EMPTY_PIPE) {
    char x;
    struct pollfd p = {.fd = c, .events = POLLIN};
    CHILD_CHECK(poll(&p, 1, 5000) == 1 && recv(c, &x, 1, 0) == 0); /* client gives up */
    close(c);
    _exit(0);
  }
  bool fallback = true;
  switch (sc) {
  case SC_LEGACY_OK:
    /* spec: READY-37 — the legacy client sends nothing before ready. */
    CHILD_CHECK(nothing_pending(c, 100));
    child_ready(c, k_token, true);
    child_echo(c);
    fallback = false;
    break;
  case SC_BR_OK: {
    /* spec: READY-13 — the request comes before any ready frame. */
    char req[4];
    CHILD_CHECK(recv(c, req, 4, MSG_WAITALL | MSG_PEEK) == 4);
    child_ready(c, k_token, true);
    child_echo(c);
    fallback = false;
    break;
  }
  case SC_EARLY_OK:
    child_ready(c, k_token, true);
    child_echo(c);
    fallback = false;
    break;
  case SC_BR_SLOW_READY: {
    char req[4];
    CHILD_CHECK(recv(c, req, 4, MSG_WAITALL | MSG_PEEK) == 4);
    usleep(800 * 1000); /* later than the configured 200 ms, within 2000 */
    child_ready(c, k_token, true);
    child_echo(c);
    fallback = false;
    break;
  }
  case SC_EARLY_RESET:
    /* Closing with the early request unread: Linux reports ECONNRESET to
     * the client after Negotiated (spec: CLIENT-5). */
    break;
  case SC_EARLY_LEGACY:
    /* A broker of the original hands the connection off in legacy mode
     * with the early request in its queue: ready, then the backend serves
     * the request on this connection (spec: READY-21). */
    child_ready(c, k_token, true);
    child_echo(c);
    fallback = false;
    break;
  case SC_EARLY_LEGACY_CLOSE:
  case SC_BR_GARBAGE: {
    /* The request may have been executed (a legacy handoff of the
     * original; bytes that are no ready frame): the client must not send
     * it again — nobody may connect to backend_pipe. */
    char req[4];
    CHILD_CHECK(recv(c, req, 4, MSG_WAITALL) == 4);
    if (sc == SC_BR_GARBAGE) CHILD_CHECK(send(c, "pong", 4, MSG_NOSIGNAL) == 4);
    close(c);
    struct pollfd pp = {.fd = (int)n->lp.fd, .events = POLLIN};
    CHILD_CHECK(poll(&pp, 1, 500) == 0);
    _exit(0);
  }
  case SC_WRONG_TOKEN: {
    uint8_t other[HO_TOKEN_BYTES];
    memcpy(other, k_token, 16);
    other[3] ^= 1;
    child_ready(c, other, true);
    break;
  }
  case SC_READY_REFUSED: child_ready(c, k_token, false); break;
  case SC_MALFORMED_READY: {
    static const uint8_t junk[] = {1, 2, 0, 0, 0, 0xff, 0xff};
    CHILD_CHECK(send(c, junk, sizeof junk, MSG_NOSIGNAL) == sizeof junk);
    break;
  }
  case SC_SILENT: {
    /* Hold the connection open and say nothing until the client leaves. */
    char x;
    struct pollfd p = {.fd = c, .events = POLLIN};
    CHILD_CHECK(poll(&p, 1, 5000) == 1);
    CHILD_CHECK(recv(c, &x, 1, 0) == 0);
    break;
  }
  default: break;
  }
  if (!fallback) {
    close(c);
    _exit(0);
  }
  close(c);
  int p = child_accept(&n->lp); /* the client reconnects to backend_pipe */
  child_echo(p);
  close(p);
  _exit(0);
}

static void net_up(fx_net *n, enum scenario sc) {
  snprintf(n->dir, sizeof n->dir, "/tmp/ho-client-XXXXXX");
  cr_assert_not_null(mkdtemp(n->dir));
  snprintf(n->broker, sizeof n->broker, "%s/broker.sock", n->dir);
  snprintf(n->pipe, sizeof n->pipe, "%s/pipe.sock", n->dir);
  cr_assert_eq(ho_listener_open(&n->lb, n->broker, 4), HO_OK);
  cr_assert_eq(ho_listener_open(&n->lp, n->pipe, 4), HO_OK);
  fflush(NULL);
  n->child = fork();
  cr_assert_geq(n->child, 0);
  if (n->child == 0) run_child(n, sc);
}

static void net_down(fx_net *n) {
  int st = 0;
  cr_assert_eq(waitpid(n->child, &st, 0), n->child);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "scripted broker failed (status %d)", st);
  ho_listener_close(&n->lb);
  ho_listener_close(&n->lp);
  rmdir(n->dir);
}

/* Run `sc`; expect `route` and `reason`; check the echo. */
static void run(enum scenario sc, bool backend_ready, bool early, ho_client_route route,
                int reason) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, sc);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  cfg.backend_ready = backend_ready;
  cfg.early_data = early;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  cfg.ready_timeout_ms = 200;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_OK);
  cr_assert_eq(r.route, route, "route %d", r.route);
  cr_assert_eq(r.fallback_reason, reason, "reason %s", ho_client_reason_name(r.fallback_reason));
  cr_assert(r.request_sent);
  char echo[4];
  size_t got;
  cr_assert_eq(ho_client_read_exact(r.conn, echo, 4, 5000, &got), HO_OK);
  cr_assert_arr_eq(echo, "ping", 4);
  cr_assert_gt(r.connected_us, 0);
  close((int)r.conn);
  net_down(&n);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: FALLBACK-4 CAP-1 HELLO-1 */
Test(client, no_token_reconnects) { run(SC_NO_TOKEN, false, false, HO_ROUTE_RECONNECT, HO_CLIENT_NOT_OFFERED); }
/* spec: ERR-23 CAP-9 — a token without CAP_HANDLE_PASSING is not an offer. */
Test(client, token_without_bit_reconnects) {
  run(SC_TOKEN_NO_BIT, false, false, HO_ROUTE_RECONNECT, HO_CLIENT_NOT_OFFERED);
}
/* spec: READY-4 READY-37 CLIENT-1 CLIENT-6 CAP-8 — the legacy client writes
 * nothing before ready (the scripted broker checks), then talks on the same
 * connection. */
Test(client, legacy_handoff_waits_for_ready) { run(SC_LEGACY_OK, false, false, HO_ROUTE_HANDOFF, HO_OK); }
/* spec: FALLBACK-24 ERR-65 */
Test(client, eof_before_ready_reconnects) { run(SC_EOF, false, false, HO_ROUTE_RECONNECT, HO_ERR_CLOSED); }
/* spec: READY-4 ERR-66 — correlation_id is not checked, the token is. */
Test(client, wrong_token_reconnects) { run(SC_WRONG_TOKEN, false, false, HO_ROUTE_RECONNECT, HO_ERR_TOKEN_MISMATCH); }
/* spec: ERR-66 */
Test(client, refused_ready_reconnects) { run(SC_READY_REFUSED, false, false, HO_ROUTE_RECONNECT, HO_ERR_ACK_REFUSED); }
/* spec: READY-14 — backend-ready: at least 2000 ms even if 200 were asked. */
Test(client, backend_ready_waits_at_least_two_seconds) {
  run(SC_BR_SLOW_READY, true, false, HO_ROUTE_HANDOFF, HO_OK);
}
/* spec: CLIENT-5 ERR-67 READY-21 — early data under a broker that declared
 * both extensions; a reset with no byte after Negotiated is EOF: fall back,
 * resend. */
Test(client, reset_before_ready_reconnects) {
  run(SC_EARLY_RESET, true, true, HO_ROUTE_RECONNECT, HO_ERR_CLOSED);
}

/* spec: CLIENT-2 CLIENT-4 ERR-20 ERR-21 — a bad HelloReply is an error
 * (there is no backend_pipe to fall back to). */
static void reply_error(enum scenario sc, int expected) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, sc);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  ho_client_result r;
  int rc = ho_client_connect(&cfg, &r);
  cr_assert_eq(rc, expected, "got %s", ho_errname(rc));
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  net_down(&n);
  cr_assert_eq(fx_count_fds(), before);
}
Test(client, negotiated_protocol_2_is_an_error) { reply_error(SC_BAD_PROTOCOL, HO_ERR_PROTOCOL_UNSUPPORTED); }
Test(client, empty_backend_pipe_is_an_error) { reply_error(SC_EMPTY_PIPE, HO_ERR_MALFORMED); }
Test(client, wrong_kind_reply_is_an_error) { reply_error(SC_REPLY_WRONG_KIND, HO_ERR_WRONG_KIND); }
/* spec: ERR-22 — a token that is neither 0 nor 16 bytes is a failure. */
Test(client, bad_token_length_is_an_error) { reply_error(SC_BAD_TOKEN_LEN, HO_ERR_TOKEN_LENGTH); }
/* spec: ERR-66 */
Test(client, malformed_ready_reconnects) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, SC_MALFORMED_READY);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_OK);
  cr_assert_eq(r.route, HO_ROUTE_RECONNECT);
  /* spec: READY-4 ERR-66 — a frame whose envelope does not decode (ff ff:
   * a varint that never ends) is MALFORMED, and nothing else */
  cr_assert_eq(r.fallback_reason, HO_ERR_MALFORMED, "%s", ho_client_reason_name(r.fallback_reason));
  char echo[4];
  cr_assert_eq(ho_client_read_exact(r.conn, echo, 4, 5000, NULL), HO_OK);
  close((int)r.conn);
  net_down(&n);
  cr_assert_eq(fx_count_fds(), before);
}
/* spec: READY-37 ERR-66 — bounded wait (200 ms here, legacy mode). */
Test(client, silent_broker_times_out) { run(SC_SILENT, false, false, HO_ROUTE_RECONNECT, HO_ERR_TIMEOUT); }
/* spec: READY-13 — backend-ready: request right after Negotiated. */
Test(client, backend_ready_sends_request_before_ready) { run(SC_BR_OK, true, false, HO_ROUTE_HANDOFF, HO_OK); }
/* spec: READY-20 — early data travels right behind the Hello. */
Test(client, early_data_handoff) { run(SC_EARLY_OK, true, true, HO_ROUTE_HANDOFF, HO_OK); }
/* spec: READY-21 ERR-68 — early data answered by a broker that does not
 * know the extension (token, no CAP_EARLY_DATA): a legacy handoff; with a
 * valid ready the request is served on the adopted connection, once. */
Test(client, early_data_to_v1_broker_is_served_once) {
  run(SC_EARLY_LEGACY, true, true, HO_ROUTE_HANDOFF, HO_OK);
}

/* The request is on the broker connection and its fate is unknown: the
 * client reports OUTCOME_UNKNOWN on the route taken and never re-sends it
 * (the scripted broker checks that nobody connects to backend_pipe). */
static void outcome_unknown(enum scenario sc, bool early) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, sc);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  cfg.backend_ready = true;
  cfg.early_data = early;
  cfg.request = (const uint8_t *)"ping";
  cfg.request_len = 4;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_OUTCOME_UNKNOWN);
  cr_assert_eq(r.route, HO_ROUTE_HANDOFF, "spec: CLIENT-8 — the route taken");
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  cr_assert(r.request_sent);
  net_down(&n);
  cr_assert_eq(fx_count_fds(), before);
}
/* spec: READY-21 ERR-68 — a v1 broker closes without ready after early data
 * (differences.md D-5). */
Test(client, regression_issue_8_early_data_never_sent_twice) {
  outcome_unknown(SC_EARLY_LEGACY_CLOSE, true);
}
/* spec: READY-21 ERR-68 ACK-16 — backend-ready, but service bytes arrive instead of
 * ready (a backend without the mode served the request). */
Test(client, bytes_instead_of_ready_are_outcome_unknown) {
  outcome_unknown(SC_BR_GARBAGE, false);
}

/* spec: CLIENT-3 — Refused is an error, not a fallback. */
Test(client, refused_hello_is_an_error) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, SC_REFUSED_HELLO);
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_REFUSED);
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  cr_assert_eq(r.refused.code, HO_REFUSE_SERVICE_UNKNOWN, "spec: CLIENT-3");
  cr_assert_str_eq(r.refused.reason, "no");
  net_down(&n);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: FALLBACK-15 — an unreachable backend_pipe is an error. */
Test(client, unreachable_backend_pipe_is_an_error) {
  int before = fx_count_fds();
  fx_net n;
  net_up(&n, SC_NO_TOKEN);
  ho_listener_close(&n.lp); /* nobody listens on backend_pipe now */
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = n.broker;
  cfg.service_name = "echo";
  cfg.handoff = true;
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_CLOSED);
  cr_assert_eq(r.conn, HO_NO_HANDLE);
  kill(n.child, SIGKILL);
  int st;
  waitpid(n.child, &st, 0);
  ho_listener_close(&n.lb);
  rmdir(n.dir);
  cr_assert_eq(fx_count_fds(), before);
}

Test(client, unreachable_broker_is_an_error) {
  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = "/tmp/ho-no-such-dir/broker.sock";
  cfg.service_name = "echo";
  ho_client_result r;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_CLOSED);
  cfg.service_name = NULL;
  cr_assert_eq(ho_client_connect(&cfg, &r), HO_ERR_INVALID_ARGUMENT);
}
