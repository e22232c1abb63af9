/* handoff — the broker's protocol core, sans-I/O.
 *
 * The core owns every protocol decision of a broker: peer policy, reading
 * exactly the Hello frame (never a byte more), negotiation, token issue
 * through the token core (handoff/token.h), choosing legacy or
 * backend-ready mode, offering a client connection to the backend over a
 * reused control connection, matching ACKs by correlation id, deadlines,
 * and the fallback on every failure. It performs no I/O and reads no
 * clock: the caller (a "shell", e.g. ref/bin/handoff-broker.c) feeds it
 * events with the current monotonic time and executes the actions it
 * emits, in order.
 *
 * Connections. Every connection the core knows is a `ho_broker_conn`
 * handle. Client connections are opened by the shell
 * (ho_broker_client_open); control connections are requested by the core
 * (action OPEN_CONTROL) and the shell attaches its own pointer with
 * ho_broker_conn_set_user(). Every handle ends with exactly one CLOSE
 * action; after the shell has taken that action the handle is gone and
 * the shell must not pass it again. The shell never closes a descriptor on
 * its own: it reports EOF/errors (ho_broker_conn_error) and waits for CLOSE.
 *
 * Actions are taken with ho_broker_next_action() until it returns 0; the
 * bytes of an action stay valid until the next call into the core. The
 * shell executes them in order; for one connection, WRITE and SEND_FD
 * bytes go out in the order emitted (a per-connection output queue), and
 * when a connection's queue becomes empty the shell reports it with
 * ho_broker_conn_flushed().
 *
 * Time: every time input is a millisecond reading of one monotonic clock
 * (the `now_ms` of every call, the *_ms durations of the config, the
 * SET_TIMER deadline_ms it emits), chosen by the shell. The latency
 * histogram (stats latency_us) is a measurement, in microseconds, taken
 * from the optional measure_us clock (ms resolution without it).
 *
 * Threads: one ho_broker with all its ho_broker_conn is used by one
 * thread at a time; separate brokers may run in separate threads. The core
 * creates no descriptors (the shell does: every one close-on-exec, see
 * handoff/transport.h). fork: use a broker in one process only — its pending
 * tokens are copied into the child, and two processes acting on one token
 * could offer it twice (handoff/version.h).
 */
#ifndef HANDOFF_BROKER_H
#define HANDOFF_BROKER_H

#include "handoff/version.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/reasons.h"
#include "handoff/transport.h" /* ho_peer_policy, ho_peer_cred */
#include "handoff/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ho_broker ho_broker;
typedef struct ho_broker_conn ho_broker_conn;

enum { HO_BROKER_LOG_ERROR = 0, HO_BROKER_LOG_WARN = 1, HO_BROKER_LOG_INFO = 2,
       HO_BROKER_LOG_DEBUG = 3 };

typedef void (*ho_broker_log_fn)(void *log_user, int level, const char *line);

#define HO_BROKER_DEFAULT_HELLO_RATE 256u        /* per second per pid, as the original */
#define HO_BROKER_HELLO_RATE_UNLIMITED UINT32_MAX
#define HO_BROKER_DEFAULT_HELLO_RATE_PIDS 4096u

typedef struct ho_broker_config {
  const char *service;      /* required: the one service name served */
  const char *backend_pipe; /* required: Negotiated.backend_pipe */
  bool handoff_endpoint;    /* a backend handoff endpoint is configured */
  bool backend_coalesced;   /* the operator states that the backend implements
                               coalesced reply (an rc2 backend): coalesced
                               mode from the first offer; voided by an ACK
                               that proves it wrong (spec: READY-25 READY-30).
                               Otherwise learnt from ACKs on each connection */
  bool backend_multi_offer; /* pre-declared HO_BACKEND_CAP_MULTI_OFFER: offers
                               may be pipelined on a control connection
                               before its first ACK (spec: XFER-37) */
  uint32_t max_controls;    /* control connections open or dialling at
                               once; 0: 16 (one offer each to a backend
                               that does not keep them, XFER-37) */
  uint64_t ack_timeout_ms;  /* 0: 1.5 s; legacy attempts never wait past
                               1.5 s after Negotiated (spec: ACK-17) */
  uint64_t token_ttl_ms;    /* 0: 30 s; larger values are clamped to 30 s
                               (TOKEN_TTL_MAX, spec: TOKEN-16) */
  uint64_t hello_timeout_ms; /* 0: 30 s */
  uint64_t failure_window_ms; /* FAILURE_WINDOW of the failed-attempt rate
                                 limit (spec: FALLBACK-7); 0: 30 s */
  uint64_t queue_ttl_ms;    /* PENDING_QUEUE_TTL: a queued attempt not
                               started by then falls back as QUEUE_TIMEOUT
                               (spec: FALLBACK-12); 0: 100 ms */
  uint32_t max_pending;     /* pending tokens; 0: 1024 */
  uint32_t max_hello_waiting; /* clients still sending their Hello; 0: 4096.
                                 When full, the one that has waited longest
                                 is closed (spec: BROKER-10); above half of
                                 it the Hello deadline is at most 1 s
                                 (BROKER-11) */
  /* Hellos per second per peer process, keyed by the OS-reported pid
   * (spec: HELLO-14); the excess is refused with ERROR_RATE_LIMITED and a
   * retry_after_ms. 0: HO_BROKER_DEFAULT_HELLO_RATE;
   * HO_BROKER_HELLO_RATE_UNLIMITED: no limit. */
  uint32_t hello_rate;
  /* Peer pids tracked at once; 0: HO_BROKER_DEFAULT_HELLO_RATE_PIDS. When
   * every one has a live window, Hellos of other pids are refused until the
   * oldest window ends (fail-safe). */
  uint32_t hello_rate_pids;
  ho_peer_policy peer_policy; /* HO_PEER_SAME_UID is the usual choice */
  uint32_t self_uid;        /* the broker's uid (for HO_PEER_SAME_UID) */
  uint32_t peer_uid;        /* for HO_PEER_UID */
  const char *endpoint_name; /* backend name in logs (default "backend"); must
                                outlive the core */
  /* Wall clock, Unix epoch milliseconds (CLOCK_REALTIME), read only to set
   * the ready deadline of backend-ready offers (spec: READY-10). NULL: no
   * backend-ready offer is made (legacy mode only). */
  uint64_t (*unix_ms)(void *clock_user);
  /* Optional measurement clock, monotonic microseconds, read only for the
   * latency histogram (stats latency_us) when a handoff completes and when
   * a client is opened. NULL: latencies from the now_ms inputs. */
  uint64_t (*measure_us)(void *clock_user);
  void *clock_user;
  /* Token randomness, passed to the token store (NULL: ho_random_os). It
   * must be the OS CSPRNG or bytes read from it (spec: TOKEN-1). */
  int (*random)(void *random_ctx, uint8_t *buf, size_t len);
  void *random_ctx;
  int log_level;            /* HO_BROKER_LOG_*; lines above it are not built */
  ho_broker_log_fn log;     /* may be NULL */
  void *log_user;
  /* The transport duplicates the client handle into the backend instead of
   * passing a descriptor with a sideband (Windows, spec/handoff-sequence.md
   * §3): each offer starts with a DUPLICATE action, and its frame, naming
   * the duplicate in handle_value, is built and written once the shell has
   * reported it (ho_broker_handle_duplicated). A duplicate whose offer was
   * not completely written is closed in the backend (CLOSE_IN_TARGET,
   * XFER-33); stages and duplicate fates are counted (XFER-41). Default
   * false: SEND_FD, the Unix layout. */
  bool duplicate_handles;
} ho_broker_config;

/* Fill *cfg with the defaults: every field 0/NULL/false (each 0 above
 * means its documented default: 1.5 s ACK timeout, 30 s token TTL and
 * Hello timeout, 30 s failure window, 1024 pending tokens, 4096 waiting
 * Hellos, 16 control connections, HO_BROKER_DEFAULT_HELLO_RATE per pid,
 * no handoff endpoint, no log, ho_random_os, the Unix SEND_FD layout),
 * except peer_policy = HO_PEER_SAME_UID. The caller still sets service,
 * backend_pipe and self_uid (the core reads no uid). Does nothing when
 * cfg is NULL; it cannot fail. */
HO_API void ho_broker_config_init(ho_broker_config *cfg);

typedef enum ho_broker_action_type {
  HO_BACT_NONE = 0,
  /* Append `bytes` to `conn`'s output queue. */
  HO_BACT_WRITE = 1,
  /* Append one sendmsg to control connection `conn` whose data is `bytes`
   * (the 16 sideband token bytes) and whose SCM_RIGHTS carries the
   * descriptor of client connection `peer` (spec: XFER-3). */
  HO_BACT_SEND_FD = 2,
  /* Open a control connection to the backend's handoff endpoint for the
   * new handle `conn`; report ho_broker_control_connected() or
   * ho_broker_conn_error(). */
  HO_BACT_OPEN_CONTROL = 3,
  /* Close `conn`'s descriptor (after shutdown(SHUT_RDWR) of the socket when
   * `shutdown` is set) and forget the handle. */
  HO_BACT_CLOSE = 4,
  /* (Re)arm the one timer to fire at `deadline_ms` (0 = disarm); then call
   * ho_broker_timer(). */
  HO_BACT_SET_TIMER = 5,
  /* duplicate_handles: duplicate client connection `peer` into the process
   * at the other end of control connection `conn` (spec: XFER-30 XFER-31)
   * and report ho_broker_handle_duplicated() before the next call into the
   * core; the offer WRITE follows the report. */
  HO_BACT_DUPLICATE = 6,
  /* duplicate_handles: close the duplicate `handle_value` inside the
   * process at the other end of control connection `conn` — the offer that
   * names it (`correlation_id`) was not completely written (spec: XFER-33;
   * nothing of that offer may be written any more) — and report
   * ho_broker_closed_in_target(). */
  HO_BACT_CLOSE_IN_TARGET = 7
} ho_broker_action_type;

typedef struct ho_broker_action {
  ho_broker_action_type type;
  ho_broker_conn *conn; /* WRITE, SEND_FD, OPEN_CONTROL, CLOSE */
  void *user;           /* conn's user pointer (NULL for a fresh control) */
  ho_broker_conn *peer; /* SEND_FD: the client connection to pass */
  void *peer_user;      /* SEND_FD: its user pointer */
  const uint8_t *bytes; /* WRITE, SEND_FD */
  size_t len;
  uint64_t correlation_id; /* SEND_FD and the offer WRITE that follows it */
  bool shutdown;        /* CLOSE */
  uint64_t deadline_ms; /* SET_TIMER */
  uint64_t handle_value; /* CLOSE_IN_TARGET; the offer WRITE of a duplicate */
} ho_broker_action;

/* Why a client was not handed off (counters, logs). Each attempt or
 * non-attempt ends with exactly one reason, or with success. One list:
 * X(name, detail text, the spec's fallback reason — a NAME of
 * HO_FALLBACK_REASON_LIST (handoff/reasons.h), which also says whether the
 * end counts as a failure of the backend (spec: FALLBACK-25)). Several
 * details may share one spec reason; the first row of a spec reason is the
 * one a Hello-time decision (ho_fallback_decide) maps to. Values are stable:
 * new rows go at the end. */
#define HO_BROKER_REASON_LIST(X)                                                              \
  X(CLIENT_UNSUPPORTED, "client_unsupported", CLIENT_UNSUPPORTED) /* no CAP_HANDLE_PASSING */ \
  X(NO_ENDPOINT, "no_endpoint", NO_ENDPOINT)                      /* no handoff endpoint */   \
  X(EARLY_DATA_LEGACY, "early_data_needs_backend_ready", EARLY_DATA_UNSUPPORTED)              \
  X(RATE_LIMITED, "rate_limited", RATE_LIMITED)                   /* failed-attempt window */ \
  X(QUEUE_FULL, "pending_queue_full", QUEUE_FULL)                                             \
  X(FD_PRESSURE, "fd_pressure", FD_PRESSURE)                                                  \
  X(TOKEN_UNAVAILABLE, "token_unavailable", TOKEN_UNAVAILABLE)    /* pending cap, collisions */ \
  X(QUEUE_EXPIRED, "pending_expired", QUEUE_TIMEOUT)              /* no control conn in time */ \
  X(PERMISSION, "permission_denied", PERMISSION_DENIED)           /* endpoint/transfer refused */ \
  X(TRANSFER_FD_EXHAUSTED, "fd_exhausted", FD_PRESSURE)           /* our EMFILE/ETOOMANYREFS */ \
  X(BACKEND_UNAVAILABLE, "backend_unavailable", BACKEND_ACK_TIMEOUT) /* connect failed */     \
  X(CONTROL_CLOSED, "control_closed", BACKEND_ACK_TIMEOUT)        /* EOF/error before ACK */  \
  X(ACK_TIMEOUT, "ack_timeout", BACKEND_ACK_TIMEOUT)                                          \
  X(ACK_LATE, "ack_late", BACKEND_ACK_TIMEOUT)                                                \
  X(ACK_REFUSED, "ack_refused", BACKEND_REFUSED)                                              \
  X(ACK_MALFORMED, "ack_malformed", BACKEND_ACK_TIMEOUT)                                      \
  X(ACK_TOKEN_MISMATCH, "ack_token_mismatch", BACKEND_ACK_TIMEOUT)                            \
  X(ACK_CORRELATION, "ack_correlation_mismatch", BACKEND_ACK_TIMEOUT)                         \
  X(READY_VIOLATION, "backend_ready_violation", BACKEND_READY_VIOLATION) /* ACK-16 */         \
  X(DRAINING, "backend_draining", BACKEND_DRAINING)               /* BROKER-9 */              \
  X(CLIENT_GONE, "client_gone", CLIENT_GONE)                                                  \
  X(SHUTDOWN, "shutdown", SHUTDOWN)                                                           \
  X(SERVICE_POLICY_DISABLED, "service_policy_disabled", SERVICE_POLICY_DISABLED)              \
  X(ADOPTED_BACKEND, "adopted_backend", ADOPTED_BACKEND)

typedef enum ho_broker_reason {
#define HO_BROKER_REASON_ENUM_(name, text, fallback) HO_BROKER_REASON_##name,
  HO_BROKER_REASON_LIST(HO_BROKER_REASON_ENUM_)
#undef HO_BROKER_REASON_ENUM_
  HO_BROKER_REASON_COUNT
} ho_broker_reason;

/* "client_unsupported", ...; "unknown" for other values. */
HO_API const char *ho_broker_reason_name(int reason);

/* Does an attempt that ends with `reason` count as a failure of its
 * backend for the rate limit (spec: FALLBACK-25)? The spec reason's
 * `counts` column of HO_FALLBACK_REASON_LIST. */
HO_API bool ho_broker_reason_counts(int reason);

/* The spec's fallback reason name of a broker reason (spec/fallback.md:
 * "BACKEND_ACK_TIMEOUT", "BACKEND_REFUSED", ...; FALLBACK-17 mapping);
 * "CLIENT_GONE"/"SHUTDOWN" for the two ends that are no fallback;
 * "UNKNOWN" for other values. */
HO_API const char *ho_broker_reason_spec_name(int reason);

/* The spec reason of a broker reason: a HO_FALLBACK_* value of
 * handoff/reasons.h (handoff/fallback.h names the enum), or -1 for an
 * unknown value. */
HO_API int ho_broker_reason_fallback(int reason);

/* Stages of a handoff by duplication (duplicate_handles), the original's
 * orchestration: where an attempt ended. */
typedef enum ho_broker_stage {
  HO_BROKER_STAGE_NONE = 0,       /* it did not: completed */
  HO_BROKER_STAGE_DUPLICATE = 1,  /* DuplicateHandle into the backend */
  HO_BROKER_STAGE_DELIVER = 2,    /* writing the offer that names it */
  HO_BROKER_STAGE_AWAIT_ACK = 3,  /* offer written, no ACK */
  HO_BROKER_STAGE_ACKNOWLEDGE = 4, /* an ACK came: refused, mismatched, late */
  HO_BROKER_STAGE_COUNT
} ho_broker_stage;

/* What became of a duplicate (spec: XFER-41). */
typedef enum ho_broker_dup_fate {
  HO_BROKER_DUP_NONE = 0,          /* never made */
  HO_BROKER_DUP_CLOSED_IN_TARGET,  /* offer not completely written: closed (XFER-33) */
  HO_BROKER_DUP_TARGET_GONE,       /* ... the backend had exited (its table went with it) */
  HO_BROKER_DUP_BACKEND_OWNED,     /* offer written: adopted, or closed by the backend (XFER-32) */
  HO_BROKER_DUP_CLOSE_FAILED,      /* a leak, counted */
  HO_BROKER_DUP_FATE_COUNT
} ho_broker_dup_fate;

/* "none", "duplicate", "deliver", "await_ack", "acknowledge"; and
 * "none", "closed_in_target", "target_gone", "backend_owned",
 * "close_failed" ("unknown" for other values). */
HO_API const char *ho_broker_stage_name(int stage);
HO_API const char *ho_broker_dup_fate_name(int fate);

#define HO_BROKER_LATENCY_BUCKETS 24 /* bucket i: < 2^(i+4) us; last: rest */

typedef struct ho_broker_stats {
  uint64_t clients_accepted;
  uint64_t peers_rejected;   /* closed without reply (peer policy) */
  uint64_t hello_overflow;   /* oldest pre-Hello connections shed (BROKER-10) */
  uint64_t hellos_refused;   /* Refused replies */
  uint64_t hellos_rate_limited; /* of which ERROR_RATE_LIMITED (spec: HELLO-14) */
  uint64_t negotiated;       /* Negotiated replies */
  uint64_t handoffs_attempted; /* tokens issued */
  uint64_t handoffs_completed; /* ready written (legacy) or ACK in (backend-ready) */
  uint64_t handoffs_backend_ready; /* completed in backend-ready mode */
  uint64_t handoffs_coalesced;     /* ... of them in coalesced mode (rc2) */
  uint64_t fallbacks[HO_BROKER_REASON_COUNT];
  uint64_t late_acks;        /* ACKs for handoffs already ended */
  uint64_t control_connects;
  uint64_t tokens_pending;   /* token store, now */
  uint64_t in_flight;        /* attempts between token issue and their end */
  uint64_t open_conns;       /* handles not yet closed */
  uint64_t latency_us[HO_BROKER_LATENCY_BUCKETS]; /* accept -> ACK accepted */
  /* duplicate_handles (spec: XFER-41): the stage each attempt ended at
   * (index HO_BROKER_STAGE_NONE: completed) and what became of each
   * duplicate; once every report is in, the fates add up to dup_attempts. */
  uint64_t dup_attempts;
  uint64_t dup_ended_at[HO_BROKER_STAGE_COUNT];
  uint64_t dup_fate[HO_BROKER_DUP_FATE_COUNT];
} ho_broker_stats;

/* Create a broker core. With a handoff endpoint configured, its first
 * action is OPEN_CONTROL (the first handoff need not wait for a dial).
 * Returns HO_OK, HO_ERR_INVALID_ARGUMENT (NULL pointers, missing
 * service/backend_pipe, service not [a-z0-9-]{1,64}, backend_pipe longer
 * than 256 bytes or not UTF-8, hello_rate_pids above 2^24 with a Hello
 * limit set), HO_ERR_NOMEM or HO_ERR_RANDOM (token store); *out
 * untouched and nothing allocated on failure. */
HO_API int ho_broker_new(const ho_broker_config *cfg, uint64_t now_ms, ho_broker **out);

/* Free the core and everything it holds, handles not yet closed included
 * (they become invalid; the shell's descriptors are its own to close): call
 * ho_broker_shutdown() and take its actions first to close them in order. */
HO_API void ho_broker_del(ho_broker *b);

/* Take the next action: returns 1 and fills *out, or 0 when none is left.
 * out->bytes stays valid until the next call into the core. */
HO_API int ho_broker_next_action(ho_broker *b, ho_broker_action *out);

/* A client connection was accepted with these OS credentials (NULL: they
 * could not be read). Applies the peer policy: a rejected peer gets a CLOSE
 * and no reply (spec: SEC-1).
 * Returns HO_OK (*out set, also when rejected: wait for its CLOSE),
 * HO_ERR_INVALID_ARGUMENT or HO_ERR_NOMEM (nothing created; the shell
 * closes the descriptor itself). */
HO_API int ho_broker_client_open(ho_broker *b, void *user, const ho_peer_cred *peer, uint64_t now_ms,
                          ho_broker_conn **out);

/* How many bytes the shell may read from client `c` now: exactly what
 * completes the current part of the Hello frame (spec: FRAME-6); 0 when
 * the core wants no bytes (the shell stops reading). */
HO_API size_t ho_broker_client_wants(const ho_broker *b, const ho_broker_conn *c);

/* Bytes read from client `c` (at most ho_broker_client_wants()). Returns
 * HO_OK, HO_ERR_INVALID_ARGUMENT (NULL, or more bytes than wanted: they are
 * ignored). */
HO_API int ho_broker_client_data(ho_broker *b, ho_broker_conn *c, const uint8_t *data, size_t len,
                          uint64_t now_ms);

/* Control connection `c` (from OPEN_CONTROL) is connected: queued
 * handoffs are offered on it. Returns HO_OK, or HO_ERR_INVALID_ARGUMENT
 * (NULL, not a control connection, or not connecting; nothing changes). */
HO_API int ho_broker_control_connected(ho_broker *b, ho_broker_conn *c, uint64_t now_ms);

/* Bytes read from control connection `c` (any amount): ACK frames are
 * matched and acted on (spec: ACK-2); a frame that fails its checks drops
 * the connection (ACK-9). Returns HO_OK, HO_ERR_STATE (not connected yet;
 * bytes ignored), HO_ERR_NOMEM (the connection is dropped) or
 * HO_ERR_INVALID_ARGUMENT (nothing changes). */
HO_API int ho_broker_control_data(ho_broker *b, ho_broker_conn *c, const uint8_t *data, size_t len,
                           uint64_t now_ms);

/* The sendmsg of SEND_FD `correlation_id` on control connection `k` failed
 * with `err` and sent nothing (HO_ERR_PERMISSION, HO_ERR_FD_EXHAUSTED,
 * HO_ERR_INVALID_ARGUMENT): that attempt fails (spec: XFER-6 FALLBACK-17;
 * spec: FALLBACK-18) and the shell drops the offer WRITE with the same
 * correlation id; the control connection stays. A connection error
 * (CLOSED, PARTIAL_SEND, IO) is reported with ho_broker_conn_error()
 * instead. Returns HO_OK (also when the attempt has already ended) or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_transfer_failed(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id, int err,
                              uint64_t now_ms);

/* duplicate_handles: DUPLICATE `correlation_id` on control connection `k`
 * is done — rc HO_OK with the duplicate's value in the backend (`value`, not
 * 0), or the error (nothing was made): the attempt fails, HO_ERR_PERMISSION
 * as PERMISSION_DENIED, HO_ERR_FD_EXHAUSTED as fd_exhausted, anything else
 * as BACKEND_ACK_TIMEOUT (spec: FALLBACK-17; a value of 0 with HO_OK counts
 * as HO_ERR_IO). On success the core writes the offer naming `value` (a
 * WRITE on `k` with handle_value set). A duplicate reported for an attempt
 * that has ended meanwhile gets a CLOSE_IN_TARGET. Report it before `k`'s
 * CLOSE is taken. Returns HO_OK, HO_ERR_STATE (this DUPLICATE was already
 * reported: nothing changes) or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_handle_duplicated(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id, int rc,
                                uint64_t value, uint64_t now_ms);

/* The offer WRITE `correlation_id` on `k` was written to its last byte
 * (report it as soon as it is): a coalesced attempt's client copy is closed
 * now (READY-27); with duplicate_handles the backend owns the duplicate and
 * the broker never closes it (spec: XFER-33). ho_broker_conn_flushed(k)
 * says the same for every offer queued on `k`, and an ACK for the offer
 * proves it.
 * Returns HO_OK (also when the attempt has ended) or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_offer_written(ho_broker *b, ho_broker_conn *k, uint64_t correlation_id,
                            uint64_t now_ms);

/* duplicate_handles: the result of CLOSE_IN_TARGET `correlation_id`: HO_OK
 * closed, HO_ERR_CLOSED the backend had exited, anything else the close
 * failed (counted as a leak and logged, never silent; spec: XFER-41).
 * Returns HO_OK or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_closed_in_target(ho_broker *b, uint64_t correlation_id, int rc, uint64_t now_ms);

/* Does control connection `k` need its ACKs read as they arrive? false
 * when every offer in flight on it is a released coalesced one (or none is
 * in flight): the client's outcome no longer depends on the ACK, so a shell
 * may read it late — on its next turn, before the timer — instead of waking
 * up for it (spec: READY-33; every ACK is still checked, READY-34). A shell
 * that always reads stays correct. */
HO_API bool ho_broker_control_wants_read(const ho_broker *b, const ho_broker_conn *k);

/* `c` reached EOF or failed (`err` is an HO_ERR_* code, e.g. HO_ERR_CLOSED,
 * HO_ERR_IO, HO_ERR_PERMISSION for a refused dial); the shell stops watching
 * it and waits for its CLOSE (which may come at once, or, for a client
 * whose descriptor went to the backend, when its attempt ends). A second
 * report is ignored. Returns HO_OK or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_conn_error(ho_broker *b, ho_broker_conn *c, int err, uint64_t now_ms);

/* Every byte queued on `c` has been written. Returns HO_OK or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_conn_flushed(ho_broker *b, ho_broker_conn *c, uint64_t now_ms);

/* The timer fired (calling it at any other time is harmless): expired ACK
 * deadlines, pending-queue entries and Hello deadlines are handled, then
 * the timer is re-armed. Returns HO_OK or HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_timer(ho_broker *b, uint64_t now_ms);

/* The shell is short of descriptors (true) or no longer (false): while
 * set, no handoff is attempted (reason fd_pressure). */
HO_API void ho_broker_set_fd_pressure(ho_broker *b, bool pressure);

/* Stop (spec: BROKER-7): every handoff in flight ends (reason shutdown,
 * token revoked), every handle gets its CLOSE action, the timer is
 * disarmed; clients opened afterwards are closed at once. Returns HO_OK or
 * HO_ERR_INVALID_ARGUMENT. */
HO_API int ho_broker_shutdown(ho_broker *b, uint64_t now_ms);

/* The user pointer of a handle, and setting it (for OPEN_CONTROL). */
HO_API void *ho_broker_conn_user(const ho_broker_conn *c);
HO_API void ho_broker_conn_set_user(ho_broker_conn *c, void *user);
HO_API bool ho_broker_conn_is_control(const ho_broker_conn *c);

/* Counters now. */
HO_API void ho_broker_get_stats(const ho_broker *b, ho_broker_stats *out);

/* Write the counters as text lines ("key value\n") into `out` (NUL-
 * terminated, truncated to `cap`). Returns the length it wanted. */
HO_API size_t ho_broker_format_stats(const ho_broker_stats *s, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_BROKER_H */
