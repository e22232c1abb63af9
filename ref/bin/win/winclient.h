/* handoff — the reference client's protocol on Windows pipes (a prototype
 * until the sans-I/O client core exists; same steps as ref/lib/client/):
 * Hello, HelloReply, the ready frame when a handoff was offered, and the
 * silent fallback to backend_pipe (spec: CLIENT-1 FALLBACK-4 FALLBACK-24
 * READY-4). Legacy mode only (no early data, no backend-ready). */
#ifndef HANDOFF_WINCLIENT_H
#define HANDOFF_WINCLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "handoff/msg.h"
#include "handoff/winpipe.h"

typedef struct wc_config {
  const char *connect;   /* broker client endpoint (bare name) */
  const char *service;
  bool handoff;          /* CAP_HANDLE_PASSING */
  uint32_t ready_timeout_ms; /* 0: 2000 */
} wc_config;

typedef struct wc_result {
  int route;             /* 1 handoff, 2 reconnect */
  int fallback_reason;   /* HO_OK or HO_CLIENT_NOT_* / error code as on Linux */
  ho_handle conn;        /* the service connection */
  uint64_t corr;         /* the ready frame's correlation id (handoff) */
  uint64_t us_negotiated, us_ready, us_connected;
  uint64_t start_ns;
  ho_refused refused;
} wc_result;

/* HO_OK (route, conn set) or an error (nothing left open). */
int wc_connect(const wc_config *cfg, wc_result *r);
const char *wc_reason_name(int reason);

#endif
