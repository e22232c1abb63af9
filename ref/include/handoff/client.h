/* handoff — client side: connect to a broker, negotiate, and end up on a
 * connection to the service, handed off or reconnected.
 *
 *   ho_client_config cfg;
 *   ho_client_config_init(&cfg);
 *   cfg.connect_path = "/run/broker.sock"; cfg.service_name = "echo";
 *   cfg.handoff = true;                       // opt in (CAP_HANDLE_PASSING)
 *   ho_client_result r;
 *   if (ho_client_connect(&cfg, &r) == HO_OK) { use r.conn; close it }
 *
 * Fallback is never an error (spec: FALLBACK-4 FALLBACK-24): every way a
 * handoff can fail ends on a new connection to Negotiated.backend_pipe,
 * with the reason in r.fallback_reason. Only a Refused reply, a broker that
 * cannot be reached or answers garbage before Negotiated, or an unreachable
 * backend_pipe are errors (FALLBACK-15) — and, once a request was written
 * on the broker connection, an outcome nobody can tell (OUTCOME_UNKNOWN):
 * such a request is never sent twice (spec: READY-21).
 *
 * Two layers: a sans-I/O client core (ho_client_core_*: events in, actions
 * out, time injected), and ho_client_connect(), its blocking shell with
 * deadlines (poll on Unix, ref/lib/client/client_shell.c; overlapped
 * named-pipe I/O on Windows, ref/lib/net/win/win_client.c, where paths are
 * bare pipe names); no threads, no signals.
 *
 * Time: every time input is a millisecond reading of one monotonic clock
 * (ho_client_now_ms(); the *_ms timeouts of the config, the now_ms of the
 * core's calls, the deadline_ms of its actions). The timings of the result
 * (*_us) are measurements in microseconds, from the optional measure_us
 * clock (ho_client_connect() sets ho_client_now_us()).
 */
#ifndef HANDOFF_CLIENT_H
#define HANDOFF_CLIENT_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/msg.h"
#include "handoff/transport.h"
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HO_CLIENT_DEFAULT_READY_TIMEOUT_MS 2000u /* READY_TIMEOUT */
#define HO_CLIENT_MIN_BACKEND_READY_WAIT_MS 2000u /* READY-14 floor */
#define HO_CLIENT_DEFAULT_IO_TIMEOUT_MS 30000u   /* Hello round trip */
#define HO_CLIENT_PENDING_MAX 4096u /* service bytes read with the reply (READY-32) */

typedef struct ho_client_config {
  const char *connect_path;  /* broker client endpoint (required) */
  const char *service_name;  /* [a-z0-9-]{1,64} (required) */
  bool handoff;              /* set CAP_HANDLE_PASSING: accept a handoff */
  bool backend_ready;        /* also set CAP_BACKEND_READY */
  bool early_data;           /* send `request` right after the Hello and set
                                CAP_EARLY_DATA: the caller's statement that
                                this broker endpoint supports early data
                                (an operator's flag, or a remembered
                                CAP_EARLY_DATA; spec: READY-20) */
  bool coalesced_reply;      /* with handoff, backend_ready and early_data:
                                also set CAP_COALESCED_REPLY, so that the
                                backend may write Negotiated, ready and the
                                first response in one write (spec: READY-25
                                to READY-32); the request then reaches its
                                service at most once, and an end without any
                                reply is OUTCOME_UNKNOWN (READY-31) */
  const uint8_t *request;    /* first request bytes (may be NULL/0): sent as
                                early as the negotiated mode allows, and
                                re-sent after a fallback */
  size_t request_len;
  uint32_t ready_timeout_ms; /* ready wait; 0 → 2000. In backend-ready mode
                                never less than 2000 (READY-14) */
  uint32_t io_timeout_ms;    /* connect→Negotiated; 0 → 30000 */
  ho_codec codec;            /* default HO_CODEC_PROTOBUF_C */
  uint32_t peer_pid;         /* Hello.peer_pid; 0: ho_client_connect() puts
                                the process id, the core leaves it 0 */
  ho_peer_policy server_policy; /* who may serve the broker endpoint and
                                backend_pipe (spec: CLIENT-9); default
                                HO_PEER_SAME_UID_OR_ROOT */
  uid_t server_uid;          /* for HO_PEER_UID */
  /* Measurement clock, monotonic microseconds, read only for the timings
   * of the result (*_us). NULL: ho_client_connect() uses ho_client_now_us();
   * a core driven without it measures with its millisecond inputs. */
  uint64_t (*measure_us)(void *measure_user);
  void *measure_user;
} ho_client_config;

HO_API void ho_client_config_init(ho_client_config *cfg);

typedef enum ho_client_route {
  HO_ROUTE_NONE = 0,
  HO_ROUTE_HANDOFF = 1,  /* the broker connection is now served by the backend */
  HO_ROUTE_RECONNECT = 2 /* a new connection to backend_pipe */
} ho_client_route;

/* Why a client fell back (r.fallback_reason): HO_OK for a handoff, else one
 * of these or the error that failed the ready frame (HO_ERR_CLOSED,
 * HO_ERR_TRUNCATED, HO_ERR_TIMEOUT, HO_ERR_TOKEN_MISMATCH,
 * HO_ERR_ACK_REFUSED, envelope/message codes...). */
#define HO_CLIENT_NOT_REQUESTED 1 /* the client did not ask for a handoff */
#define HO_CLIENT_NOT_OFFERED 2   /* Negotiated without token / capability */

/* Name of a fallback reason: "none", "NOT_REQUESTED", "NOT_OFFERED" or the
 * error name. Never NULL. The broker's names for the same situations
 * differ (it knows why; the client only sees what arrives): the broker's
 * CLIENT_UNSUPPORTED is the client's NOT_REQUESTED, and what the client
 * sees as CLOSED may be the broker's BACKEND_REFUSED or BACKEND_ACK_TIMEOUT. */
HO_API const char *ho_client_reason_name(int reason);

typedef struct ho_client_result {
  ho_client_route route;
  int fallback_reason;   /* HO_OK or as above */
  ho_handle conn;        /* the service connection, the caller's to close */
  bool request_sent;     /* cfg->request was written on conn already */
  bool backend_ready;    /* the handoff used backend-ready mode */
  bool coalesced;        /* ... and the backend wrote the whole reply (rc2) */
  /* Service bytes that arrived behind the ready frame in the same read
   * (coalesced mode, READY-32): the first bytes of the response, to be
   * consumed before reading conn. */
  size_t pending_len;
  uint8_t pending[HO_CLIENT_PENDING_MAX];
  ho_negotiated negotiated;
  ho_refused refused;    /* filled when ho_client_connect() returns
                            HO_ERR_REFUSED (code and reason, CLIENT-3) */
  /* Measurements: microseconds since the start of ho_client_connect(). */
  uint64_t negotiated_us; /* Negotiated fully read */
  uint64_t ready_us;      /* ready read (0 if none) */
  uint64_t connected_us;  /* service connection established (handoff: = ready) */
  uint64_t start_us;      /* ho_client_now_us() at the start (the timings' origin) */
  ho_diag diag;           /* on a connect or peer failure: what, where, why */
} ho_client_result;

/* Connect, negotiate, and end on a service connection.
 * Returns HO_OK with *out filled (route, conn, ...), or:
 *   HO_ERR_OUTCOME_UNKNOWN   the request was written on the broker
 *                            connection and what happened to it cannot be
 *                            known (out->route is HO_ROUTE_HANDOFF; the
 *                            request is NOT re-sent: spec READY-21);
 *   HO_ERR_INVALID_ARGUMENT  bad config;
 *   HO_ERR_REFUSED           the broker sent Refused (out->refused holds its
 *                            code and reason; spec: CLIENT-3);
 *   HO_ERR_PROTOCOL_UNSUPPORTED  Negotiated with negotiated_protocol != 1;
 *   HO_ERR_MALFORMED         HelloReply without result, or an empty
 *                            backend_pipe (spec: CLIENT-2 CLIENT-4);
 *   HO_ERR_CLOSED/TIMEOUT/IO/PERMISSION/FD_EXHAUSTED  the broker or
 *                            backend_pipe could not be reached or the broker
 *                            failed before Negotiated;
 *   framing/envelope/message codes  malformed reply before Negotiated.
 * On error no descriptor is left open and out->conn is HO_NO_HANDLE;
 * out->route says how far it got (HO_ROUTE_HANDOFF when a valid ready frame
 * had arrived, spec: CLIENT-8). */
HO_API int ho_client_connect(const ho_client_config *cfg, ho_client_result *out);

/* ---- sans-I/O client core --------------------------------------------- *
 * The protocol decisions of ho_client_connect(), without I/O: the caller
 * (a shell) takes actions with ho_client_core_next() and reports their
 * outcome; every action concerns the one current connection. Times are
 * monotonic milliseconds (as every core) chosen by the shell. The conformance runner, the
 * fuzz target and ho_client_connect() all drive this core. */

typedef struct ho_client_core ho_client_core;

typedef enum ho_client_act_type {
  HO_CACT_CONNECT = 1, /* connect to `path` (the broker, then backend_pipe);
                          report with ho_client_core_connected() */
  HO_CACT_WRITE = 2,   /* write bytes[0..len) completely by `deadline_ms`;
                          report with ho_client_core_written() */
  HO_CACT_READ = 3,    /* read at most `len` bytes (never more: the core
                          reads exactly one frame at a time, except in
                          coalesced mode where `len` leaves room for what
                          follows, READY-32) by
                          `deadline_ms`; report ho_client_core_data() for
                          bytes, ho_client_core_eof() for EOF/errors,
                          ho_client_core_timeout() when the deadline passed
                          and one last non-blocking read found nothing */
  HO_CACT_CLOSE = 4,   /* close the current connection (no report) */
  HO_CACT_DONE = 5     /* finished: ho_client_core_result() */
} ho_client_act_type;

typedef struct ho_client_action {
  ho_client_act_type type;
  const char *path;     /* CONNECT */
  const uint8_t *bytes; /* WRITE; valid until the next call into the core */
  size_t len;           /* WRITE: bytes; READ: most bytes to read */
  uint64_t deadline_ms; /* WRITE, READ */
} ho_client_action;

/* Create a core for one connection attempt at time `now_ms`. Codes:
 * HO_ERR_INVALID_ARGUMENT (as ho_client_connect), HO_ERR_NOMEM, or an
 * encoder code (Hello); *out untouched on failure. `cfg` and its request
 * bytes must outlive the core. */
HO_API int ho_client_core_new(const ho_client_config *cfg, uint64_t now_ms, ho_client_core **out);
HO_API void ho_client_core_del(ho_client_core *c);

/* The next action: 1 and *out filled, 0 when none (waiting for a report). */
HO_API int ho_client_core_next(ho_client_core *c, ho_client_action *out);

/* Reports (rc: HO_OK or the error the shell saw). Each returns HO_OK or
 * HO_ERR_STATE (no such action outstanding; nothing changes) or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_client_core_connected(ho_client_core *c, int rc, uint64_t now_ms);
HO_API int ho_client_core_written(ho_client_core *c, int rc, uint64_t now_ms);
HO_API int ho_client_core_data(ho_client_core *c, const uint8_t *data, size_t len, uint64_t now_ms);
HO_API int ho_client_core_eof(ho_client_core *c, int rc, uint64_t now_ms);
HO_API int ho_client_core_timeout(ho_client_core *c, uint64_t now_ms);

/* After HO_CACT_DONE: the result code (as ho_client_connect() returns it)
 * and *out (route, reason, negotiated, refused, request_sent, timings in
 * microseconds since the core's start; out->conn and out->start_us are left
 * to the shell, which knows the descriptor: it is the current connection
 * when the code is HO_OK). Returns HO_ERR_STATE before DONE. */
HO_API int ho_client_core_result(const ho_client_core *c, ho_client_result *out);

/* ---- memory across processes (spec: CLIENT-7 READY-20) ----------------- *
 * The server_capabilities of the last Negotiated from each broker endpoint,
 * in a file (text, mode 0600, replaced atomically), so that a client that
 * is a fresh process knows whether the endpoint takes early data
 * (CAP_EARLY_DATA) and coalesced replies. At most HO_CLIENT_CACHE_ENTRIES
 * endpoints, the most recent kept. */
#define HO_CLIENT_CACHE_ENTRIES 64

/* *found tells whether `endpoint` has an entry; *caps is then set. A file
 * that does not exist has no entries. Codes: HO_OK, HO_ERR_INVALID_ARGUMENT
 * (NULL, an empty endpoint, one longer than 4095 bytes or with a newline),
 * the OS error reading the file (HO_ERR_PERMISSION, HO_ERR_IO). */
HO_API int ho_client_cache_lookup(const char *file, const char *endpoint, uint64_t *caps, bool *found);

/* Remember `caps` for `endpoint` (the newest entry; a Negotiated without
 * CAP_EARLY_DATA is stored like any other, which forgets early data,
 * CLIENT-7). Nothing is written when the newest entry already says so.
 * Codes: HO_OK, HO_ERR_INVALID_ARGUMENT, the OS error of the write or the
 * rename (the old file is then left as it was). */
HO_API int ho_client_cache_store(const char *file, const char *endpoint, uint64_t caps);

/* The clock of every time input: monotonic milliseconds (CLOCK_MONOTONIC;
 * QueryPerformanceCounter on Windows). */
HO_API uint64_t ho_client_now_ms(void);
/* The same clock in microseconds, for measurements only (the *_us timings). */
HO_API uint64_t ho_client_now_us(void);

/* Blocking helpers with a deadline (ms from now; <0 = none), for services.
 * ho_client_write_all: HO_OK, HO_ERR_CLOSED, HO_ERR_TIMEOUT, HO_ERR_IO.
 * ho_client_read_exact: HO_OK, HO_ERR_CLOSED (EOF before n bytes; *got set),
 * HO_ERR_TIMEOUT, HO_ERR_IO. */
HO_API int ho_client_write_all(ho_handle fd, const void *buf, size_t n, int timeout_ms);
HO_API int ho_client_read_exact(ho_handle fd, void *buf, size_t n, int timeout_ms, size_t *got);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_CLIENT_H */
