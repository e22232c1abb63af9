/* handoff-broker — the reference broker: flags, set-up and shutdown. The
 * event loop is handoff-broker-loop.c, a thin epoll shell around the
 * sans-I/O broker core (handoff/broker.h). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "handoff-broker.h"
#include "handoff/msg.h"

/* ---- main -------------------------------------------------------------------------- */

static void usage(FILE *f) {
  fprintf(f,
      "usage: handoff-broker --listen PATH --handoff-endpoint PATH --backend-pipe PATH\n"
      "                      [--service NAME] [--ack-timeout-ms N] [--token-ttl-ms N]\n"
      "                      [--max-pending N] [--backend-ready] [--backend-multi-offer]\n"
      "                      [--backend-coalesced] [--max-controls N]\n"
      "                      [--max-hello-waiting N] [--hello-timeout-ms N]\n"
      "                      [--peer-uid any|same|UID] [--backend-uid any|same|UID]\n"
      "                      [--hello-rate N] [--failure-window-ms N]\n"
      "                      [--log-level error|warn|info|debug]\n"
      "\n"
      "Accept clients on a Unix socket, negotiate (Hello -> Negotiated/Refused) and hand\n"
      "each opted-in client connection to the backend with SCM_RIGHTS; on any failure\n"
      "the client falls back to --backend-pipe.\n"
      "\n"
      "  --listen PATH            client endpoint (Unix socket; parent dir created 0700)\n"
      "  --handoff-endpoint PATH  the backend's handoff endpoint (control connection);\n"
      "                           without it no handoff is attempted\n"
      "  --backend-pipe PATH      the backend's own endpoint, sent in every Negotiated\n"
      "  --service NAME           the service served, [a-z0-9-]{1,64} (default: echo)\n"
      "  --ack-timeout-ms N       ACK deadline after the offer (default 1500; a legacy\n"
      "                           attempt never waits past 1500 ms after Negotiated)\n"
      "  --token-ttl-ms N         token lifetime (default and at most 30000)\n"
      "  --max-pending N          cap on pending tokens (default 1024)\n"
      "  --backend-ready          accepted for old scripts, no effect: since spec\n"
      "                           1.0.0-rc2 backend-ready mode is used only once the\n"
      "                           backend declares it in an ACK on the control connection\n"
      "                           (READY-36); an operator's statement could be wrong\n"
      "  --backend-coalesced      the backend is known to implement coalesced reply (spec\n"
      "                           1.0.0-rc2): clients that ask for it get Negotiated, ready\n"
      "                           and their first response in one write from the backend\n"
      "                           from the first offer on (otherwise once an ACK declares\n"
      "                           BACKEND_CAP_COALESCED_REPLY); an ACK that proves it wrong\n"
      "                           switches the statement off (READY-25, READY-30)\n"
      "  --backend-multi-offer    the backend is known to keep control connections: pipeline\n"
      "                           offers from the start (otherwise one offer per connection\n"
      "                           until an ACK declares BACKEND_CAP_MULTI_OFFER)\n"
      "  --max-controls N         control connections open at once (default 16)\n"
      "  --max-hello-waiting N    clients still sending their Hello (default 4096); when\n"
      "                           full the oldest is closed, above half of it a Hello\n"
      "                           is due within 1 s\n"
      "  --hello-timeout-ms N     wait for a complete Hello (default 30000)\n"
      "  --peer-uid any|same|UID  which local users may connect as clients (default: same)\n"
      "  --backend-uid any|same|UID\n"
      "                           which user must serve the handoff endpoint before a\n"
      "                           client's descriptor and token go there (default: same;\n"
      "                           independent of --peer-uid)\n"
      "  --hello-rate N           Hellos per second per client process (OS pid); more are\n"
      "                           refused with ERROR_RATE_LIMITED and retry_after_ms\n"
      "                           (default 256; 0 = unlimited)\n"
      "  --failure-window-ms N    window of the failed-attempt limit (FALLBACK-7): after 8\n"
      "                           failed handoffs to the backend within it, clients go to\n"
      "                           --backend-pipe without an attempt until it ends\n"
      "                           (default 30000)\n"
      "  --log-level LEVEL        error, warn, info (default) or debug; one line per event\n"
      "  --help                   this text\n"
      "\n"
      "Signals: SIGUSR1 prints the counters; SIGTERM/SIGINT shut down cleanly (sockets\n"
      "unlinked, descriptors closed, tokens revoked) and print them.\n");
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"listen", 1, 0, 'l'},        {"handoff-endpoint", 1, 0, 'e'},
      {"backend-pipe", 1, 0, 'p'},  {"service", 1, 0, 's'},
      {"ack-timeout-ms", 1, 0, 'a'}, {"token-ttl-ms", 1, 0, 't'},
      {"max-pending", 1, 0, 'm'},   {"backend-ready", 0, 0, 'r'},
      {"peer-uid", 1, 0, 'u'},      {"log-level", 1, 0, 'v'},
      {"hello-rate", 1, 0, 'R'},    {"help", 0, 0, 'h'},
      {"backend-multi-offer", 0, 0, 'M'}, {"max-controls", 1, 0, 'C'},
      {"backend-coalesced", 0, 0, 'Q'},
      {"backend-uid", 1, 0, 'B'},
      {"max-hello-waiting", 1, 0, 'W'}, {"hello-timeout-ms", 1, 0, 'H'},
      {"failure-window-ms", 1, 0, 'F'},
      {0, 0, 0, 0}};
  G.service = "echo";
  G.cfg.log_level = HO_BROKER_LOG_INFO;
  G.cfg.peer_policy = HO_PEER_SAME_UID;
  G.backend_policy = HO_PEER_SAME_UID; /* spec: SEC-10 */
  int o;
  uint64_t v;
  while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (o) {
    case 'l': G.listen = optarg; break;
    case 'e': G.endpoint = optarg; break;
    case 'p': G.backend_pipe = optarg; break;
    case 's': G.service = optarg; break;
    case 'a':
    case 't':
    case 'm':
      if (parse_u64(optarg, &v) || v == 0 || v > 86400000u) {
        fprintf(stderr, "handoff-broker: bad number for --%s: %s\n",
                o == 'a' ? "ack-timeout-ms" : o == 't' ? "token-ttl-ms" : "max-pending", optarg);
        return 2;
      }
      if (o == 't' && v > 30000) {
        fprintf(stderr, "handoff-broker: --token-ttl-ms is at most 30000 (TOKEN_TTL_MAX), got %s\n",
                optarg);
        return 2;
      }
      if (o == 'a') G.cfg.ack_timeout_ms = v;
      if (o == 't') G.cfg.token_ttl_ms = v;
      if (o == 'm') G.cfg.max_pending = (uint32_t)v;
      break;
    case 'Q': G.cfg.backend_coalesced = true; break; /* spec: READY-25 */
    case 'r': /* spec: READY-36 — a statement is not a declaration */
      fprintf(stderr, "handoff-broker: --backend-ready has no effect since spec 1.0.0-rc2: "
                      "backend-ready mode is used once the backend declares it (READY-36)\n");
      break;
    case 'M': G.cfg.backend_multi_offer = true; break;
    case 'W':
    case 'H':
    case 'F':
      if (parse_u64(optarg, &v) || v == 0 || v > 86400000u) {
        fprintf(stderr, "handoff-broker: --%s must be 1..86400000, got %s\n",
                o == 'W' ? "max-hello-waiting" : o == 'H' ? "hello-timeout-ms" : "failure-window-ms",
                optarg);
        return 2;
      }
      if (o == 'W') G.cfg.max_hello_waiting = (uint32_t)v;
      else if (o == 'H') G.cfg.hello_timeout_ms = v;
      else G.cfg.failure_window_ms = v; /* spec: FALLBACK-7 */
      break;
    case 'C':
      if (parse_u64(optarg, &v) || v == 0 || v > 4096) {
        fprintf(stderr, "handoff-broker: --max-controls must be 1..4096, got %s\n", optarg);
        return 2;
      }
      G.cfg.max_controls = (uint32_t)v;
      break;
    case 'R': /* spec: HELLO-14 */
      if (parse_u64(optarg, &v) || v >= HO_BROKER_HELLO_RATE_UNLIMITED) {
        fprintf(stderr, "handoff-broker: bad number for --hello-rate: %s\n", optarg);
        return 2;
      }
      G.cfg.hello_rate = v == 0 ? HO_BROKER_HELLO_RATE_UNLIMITED : (uint32_t)v;
      break;
    case 'B':
      if (ho_peer_policy_parse(optarg, &G.backend_policy, &G.backend_uid) != HO_OK) {
        fprintf(stderr, "handoff-broker: --backend-uid must be any, same or a uid, got '%s'\n",
                optarg);
        return 2;
      }
      break;
    case 'u': {
      ho_peer_policy pol;
      uid_t uid = 0;
      if (ho_peer_policy_parse(optarg, &pol, &uid) != HO_OK) {
        fprintf(stderr, "handoff-broker: bad --peer-uid: %s\n", optarg);
        return 2;
      }
      G.cfg.peer_policy = pol;
      G.cfg.peer_uid = (uint32_t)uid;
      break;
    }
    case 'v': {
      int lv = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp(optarg, level_names[i]) == 0) lv = i;
      if (lv < 0) {
        fprintf(stderr, "handoff-broker: bad --log-level: %s\n", optarg);
        return 2;
      }
      G.cfg.log_level = lv;
      break;
    }
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc || G.listen == NULL || G.backend_pipe == NULL) {
    usage(stderr);
    return 2;
  }
  G.cfg.service = G.service;
  G.cfg.backend_pipe = G.backend_pipe;
  G.cfg.handoff_endpoint = G.endpoint != NULL;
  G.cfg.self_uid = (uint32_t)geteuid();
  G.cfg.log = log_line;
  G.cfg.unix_ms = unix_ms;
  G.cfg.measure_us = mono_us;
  G.cfg.random = pooled_random;
  G.cfg.endpoint_name = G.endpoint;

  struct rlimit rl;
  G.max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                  ? (long)rl.rlim_cur : 1024;
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);

  ho_diag d;
  int rc = ho_listener_open_diag(&G.lst, G.listen, 512, 0, &d);
  if (rc != HO_OK) {
    fprintf(stderr, "handoff-broker: cannot listen: %s (%s)\n", d.msg, ho_errname(rc));
    return 1;
  }
  {
    /* spec: BROKER-12 HELLO-8 — the answer at the descriptor limit, built once. */
    ho_any_msg m;
    memset(&m, 0, sizeof m);
    m.hello_reply.which = HO_REPLY_REFUSED;
    m.hello_reply.refused.code = HO_REFUSE_FD_PRESSURE;
    m.hello_reply.refused.daemon_min_protocol = HO_PROTOCOL_VERSION;
    m.hello_reply.refused.daemon_max_protocol = HO_PROTOCOL_VERSION;
    strcpy(m.hello_reply.refused.reason, "FD_EXHAUSTED");
    (void)ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, G.fd_pressure_reply,
                          sizeof G.fd_pressure_reply, &G.fd_pressure_len);
  }
  G.ep = epoll_create1(EPOLL_CLOEXEC);
  G.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  G.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  G.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (G.ep < 0 || G.tfd < 0 || G.sfd < 0) {
    perror("handoff-broker: epoll/timerfd/signalfd");
    ho_listener_close(&G.lst);
    return 1;
  }
  G.lconn = (conn){.kind = K_LISTEN, .fd = (int)G.lst.fd};
  G.tconn = (conn){.kind = K_TIMER, .fd = G.tfd};
  G.sconn = (conn){.kind = K_SIGNAL, .fd = G.sfd};
  set_interest(&G.lconn, EPOLLIN);
  set_interest(&G.tconn, EPOLLIN);
  set_interest(&G.sconn, EPOLLIN);

  rc = ho_broker_new(&G.cfg, now_ms(), &G.b);
  if (rc != HO_OK) {
    fprintf(stderr, "handoff-broker: %s\n", ho_strerror(rc));
    ho_listener_close(&G.lst);
    return 1;
  }
  char rate[24];
  if (G.cfg.hello_rate == HO_BROKER_HELLO_RATE_UNLIMITED)
    snprintf(rate, sizeof rate, "unlimited");
  else
    snprintf(rate, sizeof rate, "%u/s",
             (unsigned)(G.cfg.hello_rate ? G.cfg.hello_rate : HO_BROKER_DEFAULT_HELLO_RATE));
  slog(HO_BROKER_LOG_INFO, "listening on %s service=%s endpoint=%s backend_pipe=%s hello_rate=%s",
       G.listen, G.service, G.endpoint ? G.endpoint : "(none)", G.backend_pipe, rate);
  run_actions();

  struct epoll_event evs[64];
  while (!G.stop) {
    int n = epoll_wait(G.ep, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    read_late_acks(); /* spec: READY-33 — before the timer judges deadlines */
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->closed) continue;
      dispatch(c, evs[i].events);
    }
    read_late_acks(); /* the turn's offers may have changed what to watch */
    while (G.graveyard) {
      conn *c = G.graveyard;
      G.graveyard = c->next_free;
      free(c);
    }
    /* Give memory back after a burst (issue #11): once the connections of a
     * burst have closed, the allocator returns its free pages. */
    if (G.open_fds > G.peak_fds) G.peak_fds = G.open_fds;
    if (G.peak_fds >= 256 && G.open_fds < 16) {
      malloc_trim(0);
      G.peak_fds = G.open_fds;
    }
  }

  slog(HO_BROKER_LOG_INFO, "shutting down");
  ho_broker_shutdown(G.b, now_ms());
  run_actions();
  while (G.graveyard) {
    conn *c = G.graveyard;
    G.graveyard = c->next_free;
    free(c);
  }
  print_stats("exit");
  ho_broker_del(G.b);
  pooled_random_wipe();
  ho_listener_close(&G.lst);
  close(G.ep);
  close(G.tfd);
  close(G.sfd);
  if (G.spare_fd >= 0) close(G.spare_fd);
  return 0;
}
