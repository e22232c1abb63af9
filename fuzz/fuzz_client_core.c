/* libFuzzer target: the sans-I/O client core (handoff/client.h,
 * ref/lib/client/client_core.c) driven by a fake shell that plays a broker
 * (and a backend behind it) from the input.
 *
 * Input: 3 prefix bytes, then the bytes the broker side sends on the
 * broker connection (a stream of frames: HelloReply, ready frame, service
 * bytes of a coalesced reply, garbage), mutated frame by frame by
 * proto_mutator.h (HO_PM_STREAM, HO_PM_PREFIX 3).
 *   byte 0: config — bit0 handoff, bit1 backend_ready, bit2 early_data,
 *           bit3 coalesced_reply, bit4 a request, bit5 nanopb codec
 *   byte 1: seed of the chunking (each read gets 1..a.len bytes)
 *   byte 2: shell faults — bit0 end of stream is a timeout (else EOF),
 *           bit1 the broker connect fails, bit2 the pipe connect fails,
 *           bit3 a write fails, bit4 a spurious report before each action
 *
 * Target functions: ho_client_core_new/next/connected/written/data/eof/
 * timeout/result/del.
 * Invariants (abort): every action is one of the five types with valid
 * fields (CONNECT: a path, the broker's then backend_pipe; WRITE: bytes,
 * len > 0; READ: len > 0, deadline not before now); a report out of place
 * is HO_ERR_STATE; the request is written at most once per connection, and
 * never again once it went on the broker connection in coalesced mode
 * (READY-31) or the outcome is unknown (READY-21); never both routes (a
 * handoff result never connected to backend_pipe, a reconnect result did);
 * HO_OK has a route and a request_sent that matches what was written on
 * the last connection; the core finishes within a bounded number of steps.
 * spec: READY-21 READY-31 READY-32 FALLBACK-4 CLIENT-8 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/client.h"
#include "handoff/error.h"

/* Every time value of this target goes through FZ_TIME(ms): the core's
 * clock unit (milliseconds, as every core's). */
#define FZ_TIME(ms) ((uint64_t)(ms))

#define HO_FUZZ_NAME "fuzz_client_core"
#define PREFIX 3
#define MAX_STEPS 20000

static const char k_req[] = "REQ-1f3a-unique";

static void fail(const char *what, const char *detail) {
  fprintf(stderr, HO_FUZZ_NAME ": %s: %s\n", what, detail);
  abort();
}

static uint32_t rng(uint32_t *s) {
  *s = *s * 1103515245u + 12345u;
  return *s >> 8;
}

static int count_req(const uint8_t *b, size_t n) {
  int k = 0;
  size_t m = sizeof k_req - 1;
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp(b + i, k_req, m) == 0) k++;
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < PREFIX) return 0;
  uint8_t cf = data[0], faults = data[2];
  uint32_t seed = data[1] + 1u;
  const uint8_t *s = data + PREFIX;
  size_t left = size - PREFIX;

  ho_client_config cfg;
  ho_client_config_init(&cfg);
  cfg.connect_path = "/broker";
  cfg.service_name = "echo";
  cfg.handoff = cf & 1;
  cfg.backend_ready = cf & 2;
  cfg.early_data = cf & 4;
  cfg.coalesced_reply = cf & 8;
  if ((cf & 16) || cfg.early_data) {
    cfg.request = (const uint8_t *)k_req;
    cfg.request_len = sizeof k_req - 1;
  }
  cfg.codec = (cf & 32) ? HO_CODEC_NANOPB : HO_CODEC_PROTOBUF_C;

  uint64_t now = FZ_TIME(1000);
  ho_client_core *c = NULL;
  int rc = ho_client_core_new(&cfg, now, &c);
  if (rc != HO_OK) {
    if (rc == HO_ERR_INVALID_ARGUMENT) return 0; /* e.g. coalesced without its prerequisites */
    fail("new", ho_strerror(rc));
  }

  int conns = 0;           /* CONNECT actions seen */
  int req_on[3] = {0};     /* request writes per connection (1: broker, 2: pipe) */
  int req_total = 0, broker_eof = 0, pipe_eof = 0, wrote_fault = 0;
  int done = 0;
  for (int step = 0; step < MAX_STEPS && !done; step++) {
    ho_client_action a;
    memset(&a, 0, sizeof a);
    int got = ho_client_core_next(c, &a);
    if (got != 1) fail("next", "no action while no report is outstanding");
    if ((faults & 16) && a.type != HO_CACT_DONE && a.type != HO_CACT_CLOSE) {
      /* a report that does not answer the action: refused, nothing changes */
      int r2 = a.type == HO_CACT_WRITE ? ho_client_core_connected(c, HO_OK, now)
                                       : ho_client_core_written(c, HO_OK, now);
      if (r2 != HO_ERR_STATE) fail("spurious report", ho_strerror(r2));
    }
    now += FZ_TIME(rng(&seed) % 3);
    switch (a.type) {
    case HO_CACT_CONNECT: {
      if (!a.path) fail("connect", "no path");
      conns++;
      if (conns > 2) fail("connect", "a third connection");
      if (conns == 1 && strcmp(a.path, "/broker") != 0) fail("connect", "first is not the broker");
      int crc = HO_OK;
      if (conns == 1 && (faults & 2)) crc = HO_ERR_CLOSED;
      if (conns == 2 && (faults & 4)) crc = HO_ERR_CLOSED;
      if (ho_client_core_connected(c, crc, now) != HO_OK) fail("connected", "refused");
      break;
    }
    case HO_CACT_WRITE: {
      if (!a.bytes || a.len == 0) fail("write", "empty");
      if (conns < 1) fail("write", "before any connection");
      int k = count_req(a.bytes, a.len);
      req_on[conns] += k;
      req_total += k;
      if (req_on[conns] > 1) fail("request", "written twice on one connection");
      int wrc = HO_OK;
      if ((faults & 8) && !wrote_fault && conns == 1 && rng(&seed) % 4 == 0) wrc = HO_ERR_IO, wrote_fault = 1;
      if (ho_client_core_written(c, wrc, now) != HO_OK) fail("written", "refused");
      break;
    }
    case HO_CACT_READ: {
      if (a.len == 0) fail("read", "len 0");
      if (a.deadline_ms < now - FZ_TIME(3)) fail("read", "deadline in the past");
      int r;
      if (conns == 1 && left > 0) {
        size_t n = 1 + rng(&seed) % (left < a.len ? left : a.len);
        r = ho_client_core_data(c, s, n, now);
        s += n, left -= n;
      } else {
        int *eofp = conns == 1 ? &broker_eof : &pipe_eof;
        if (*eofp) fail("read", "read again after the end was reported");
        *eofp = 1;
        if (faults & 1) {
          now = a.deadline_ms;
          r = ho_client_core_timeout(c, now);
        } else {
          r = ho_client_core_eof(c, HO_ERR_CLOSED, now);
        }
      }
      if (r != HO_OK) fail("read report", ho_strerror(r));
      break;
    }
    case HO_CACT_CLOSE:
      break;
    case HO_CACT_DONE:
      done = 1;
      break;
    default:
      fail("action", "unknown type");
    }
  }
  if (!done) fail("steps", "no DONE within the bound");

  ho_client_result res;
  memset(&res, 0, sizeof res);
  res.conn = HO_NO_HANDLE;
  rc = ho_client_core_result(c, &res);
  if (res.route == HO_ROUTE_HANDOFF && conns == 2) fail("route", "handoff after connecting to backend_pipe");
  if (res.route == HO_ROUTE_RECONNECT && conns != 2) fail("route", "reconnect without a second connection");
  if (rc == HO_OK && res.route == HO_ROUTE_NONE) fail("result", "HO_OK without a route");
  if (rc == HO_ERR_OUTCOME_UNKNOWN && req_on[2]) fail("request", "re-sent after an unknown outcome");
  if (req_on[1] && req_on[2]) {
    /* READY-21: a request on the broker connection goes again only when
     * nobody can have read it: a Negotiated without token (a), or a broker
     * that declared backend-ready mode (and early data after early data)
     * and no coalesced reply in effect (b, READY-31). */
    const ho_negotiated *n = &res.negotiated;
    uint64_t caps = n->server_capabilities;
    int early = cfg.early_data;
    int coalesced = early && cfg.coalesced_reply && cfg.handoff && cfg.backend_ready &&
                    (caps & HO_CAP_COALESCED_REPLY);
    int no_token = n->handle_passed_token_len != HO_TOKEN_BYTES;
    int safe = cfg.handoff && (caps & HO_CAP_HANDLE_PASSING) && cfg.backend_ready &&
               (caps & HO_CAP_BACKEND_READY) && (!early || (caps & HO_CAP_EARLY_DATA)) && !coalesced;
    if (!no_token && !safe) fail("request", "re-sent though the broker connection may have served it");
  }
  if (rc == HO_OK && cfg.request_len > 0 && res.request_sent != (req_on[conns] == 1) && !wrote_fault)
    fail("result", "request_sent does not match the writes on the last connection");
  if (res.pending_len > HO_CLIENT_PENDING_MAX) fail("result", "pending past its buffer");
  (void)req_total;
  ho_client_core_del(c);
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#include "fuzz_replay_main.h"
#else
#define HO_PM_MODE HO_PM_STREAM
#define HO_PM_PREFIX PREFIX
#include "proto_mutator.h"
#endif
