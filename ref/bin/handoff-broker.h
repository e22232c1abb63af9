/* handoff-broker internals shared by handoff-broker.c (flags, main) and
 * handoff-broker-loop.c (the epoll shell around the broker core). */
#ifndef HANDOFF_BROKER_BIN_H
#define HANDOFF_BROKER_BIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "handoff/broker.h"
#include "handoff/transport.h"

/* ---- connections ----------------------------------------------------------- */

typedef struct chunk {
  struct chunk *next;
  uint8_t *data;
  size_t len, off;
  int pass_fd; /* SCM_RIGHTS: our dup of the client descriptor, or -1 */
  uint64_t corr; /* SEND_FD and offer chunks: the attempt's correlation id */
} chunk;

typedef enum { K_LISTEN = 1, K_TIMER, K_SIGNAL, K_CLIENT, K_CONTROL } kind;

typedef struct conn {
  kind kind;
  int fd;
  ho_broker_conn *h;
  uint32_t ev;       /* events registered/armed (0: none) */
  bool registered;   /* clients: in the epoll set (armed or not) */
  bool closed;       /* CLOSE taken: memory freed after this loop turn */
  bool errored;      /* EOF/error reported to the core */
  chunk *qhead, *qtail;
  struct conn *next_free;
  struct conn *cnext, *cprev; /* control connections (G.ctls) */
} conn;

typedef struct broker_app {
  const char *listen, *endpoint, *backend_pipe, *service;
  ho_broker_config cfg;
  int ep, tfd, sfd;
  ho_listener lst;
  conn lconn, tconn, sconn, nomem;
  ho_broker *b;
  conn *graveyard;
  ho_peer_policy backend_policy; /* who may serve the handoff endpoint (SEC-10) */
  uid_t backend_uid;
  long open_fds, max_fds, peak_fds;
  int spare_fd;              /* reserve descriptor (spec: BROKER-12) */
  uint8_t fd_pressure_reply[128]; /* Refused{ERROR_FD_PRESSURE}, encoded once */
  size_t fd_pressure_len;
  uint64_t fd_pressure_refusals;
  bool stop;
  conn *ctls; /* the open control connections (ACKs read late, READY-33) */
} broker_app;

extern broker_app G;
extern const char *const level_names[4];

uint64_t now_ms(void);
uint64_t mono_us(void *u);
uint64_t unix_ms(void *u);
int pooled_random(void *ctx, uint8_t *out, size_t len);
void pooled_random_wipe(void);
void log_line(void *u, int level, const char *line);
void slog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void set_interest(conn *c, uint32_t ev);
void run_actions(void);
void read_late_acks(void);
void dispatch(conn *c, uint32_t ev);
void print_stats(const char *when);

#endif
