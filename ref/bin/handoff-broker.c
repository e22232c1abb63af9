/* handoff-broker — the reference broker: flags, set-up and shutdown. The
 * event loop is handoff-broker-loop.c, a thin epoll shell around the
 * sans-I/O broker core (handoff/broker.h). */
#include <errno.h>
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

#include "broker_flags.h"
#include "handoff-broker.h"
#include "handoff/msg.h"

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  broker_flags fl;
  int st = broker_flags_parse(&fl, argc, argv); /* flags and --help: broker_flags.c */
  if (st >= 0) return st;
  G.listen = fl.listen;
  G.endpoint = fl.endpoint;
  G.backend_pipe = fl.backend_pipe;
  G.service = fl.service;
  G.cfg = fl.cfg;
  G.backend_policy = fl.backend_policy;
  G.backend_uid = fl.backend_uid;
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
    if (rc == HO_ERR_INVALID_ARGUMENT) /* what ho_broker_new checks that the flag parser does not */
      fprintf(stderr, "handoff-broker: configuration refused (%s): --service must match [a-z0-9-]{1,64}, "
                      "--backend-pipe must be 1..256 bytes of UTF-8 (it is sent in every Negotiated)\n",
              ho_strerror(rc));
    else
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
