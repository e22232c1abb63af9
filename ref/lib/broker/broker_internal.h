/* handoff — broker core internals shared by the files of ref/lib/broker. */
#ifndef HANDOFF_BROKER_INTERNAL_H
#define HANDOFF_BROKER_INTERNAL_H

#include <stdarg.h>

#include "core/fwin.h"
#include "handoff/broker.h"
#include "handoff/fallback.h"
#include "handoff/frame.h"
#include "handoff/msg.h"
#include "handoff/token.h"

/* Client states. */
enum {
  CS_HELLO = 1,      /* reading the Hello frame */
  CS_REPLY_CLOSE,    /* reply written; CLOSE once flushed */
  CS_NEGOTIATED,     /* Negotiated with token written; offer once flushed */
  CS_QUEUED,         /* waiting in the pending queue for a control connection */
  CS_OFFERED,        /* descriptor and offer sent; ACK awaited */
  CS_READY_CLOSE,    /* legacy success: ready written; CLOSE once flushed */
  CS_DONE            /* handoff over; CLOSE emitted */
};

/* Duplicate states of a client's attempt (duplicate_handles). */
enum {
  DS_NONE = 0,  /* not a duplicating attempt (or not yet) */
  DS_PENDING,   /* DUPLICATE emitted, not reported */
  DS_MADE,      /* duplicate in the backend, offer not known written */
  DS_WRITTEN,   /* offer completely written: the backend owns it (XFER-33) */
  DS_FAILED     /* DUPLICATE reported failed: nothing was made */
};

/* Control connection states. */
enum { KS_CONNECTING = 1, KS_UP, KS_DEAD };

struct ho_broker_conn {
  ho_broker *b;
  bool control;
  void *user;
  int state;
  bool dead;          /* EOF/error reported: never write to it again */
  bool write_pending; /* bytes queued and not yet flushed */
  uint64_t id;        /* client: Negotiated.connection_id; control: serial */
  ho_broker_conn *anext, *aprev; /* every open handle */
  /* ---- client ---- */
  ho_peer_cred peer;
  bool have_peer;
  uint64_t opened_ms;
  uint64_t opened_us;     /* measure_us at open (0 without it) */
  uint8_t *hello_buf;    /* heap body buffer, only for Hellos above the inline one */
  uint8_t hello_inline[160];
  ho_frame_reader rd;
  ho_broker_conn *hnext, *hprev; /* Hello-deadline FIFO */
  bool has_token;
  bool token_live;       /* not yet revoked by an exit */
  uint8_t token[HO_TOKEN_BYTES];
  uint64_t correlation_id;
  bool ready_mode;       /* backend-ready mode for this handoff */
  bool coalesced;        /* ... and coalesced (rc2): the backend writes the reply */
  bool released;         /* coalesced: the client handle is closed (CLOSE taken);
                            the attempt lives on for its ACK (READY-27) */
  uint8_t *reply_a, *reply_d; /* coalesced: reply_adopted / reply_declined frames */
  size_t reply_a_len, reply_d_len;
  uint64_t negotiated_unix_ms; /* wall clock when Negotiated was written */
  uint64_t negotiated_ms;      /* monotonic, the same instant (ACK-17) */
  bool fd_sent;          /* the descriptor may have reached the backend */
  uint64_t ticket;       /* pending-queue ticket while CS_QUEUED */
  ho_broker_conn *ctl;   /* control connection carrying the offer */
  ho_broker_conn *onext, *oprev; /* ctl's in-flight list */
  /* duplicate_handles (broker_dup.c) */
  uint8_t dup_state;     /* DS_* */
  uint64_t dup_value;    /* the duplicate in the backend (DS_MADE, DS_WRITTEN) */
  uint64_t offer_deadline_unix_ms; /* the offer's deadline, built with the duplicate */
  /* ---- control ---- */
  uint8_t *ack_buf;
  ho_frame_reader ard;
  ho_broker_conn *ohead, *otail;
  bool backend_ready;   /* BACKEND_CAP_BACKEND_READY seen in an ACK on it */
  bool coalesced_ok;    /* BACKEND_CAP_COALESCED_REPLY seen in an ACK on it */
  bool carried_coalesced; /* a coalesced offer went on it: ACKs read late (READY-33) */
  bool multi;           /* may carry several offers (XFER-37) */
  bool retiring;        /* carries no more offers; closed once none is in flight */
  uint64_t offers_sent;
  ho_broker_conn *knext, *kprev; /* the broker's control connections */
  size_t in_flight;
};

/* Hello rate per peer pid (broker_rate.c, spec: HELLO-14): one fixed
 * window per pid in the core's window table (core/fwin.h). */
typedef struct bk_rate {
  uint32_t limit;         /* Hellos per window; 0: unlimited (no table) */
  ho_fwin win;            /* key: the pid; count: Hellos let through */
  uint64_t full_refusals; /* pids refused because every slot was live */
} bk_rate;

typedef struct action_item {
  ho_broker_action a;
  uint8_t *owned; /* bytes copy, freed after the action is taken */
} action_item;

struct ho_broker {
  ho_broker_config cfg;
  char service[HO_MAX_SERVICE_NAME + 1];
  char backend_pipe[HO_MAX_BACKEND_PIPE + 1];
  ho_token_store *tokens;
  ho_fallback_policy *policy;
  ho_pending_queue *queue;
  const char *endpoint_name;
  bool fd_pressure;
  bool shutting_down;
  uint64_t next_conn_id;
  uint64_t next_correlation;
  uint64_t next_ctl_id;
  bk_rate hello_rate;        /* spec: HELLO-14 */
  ho_broker_conn *khead;     /* control connections (connecting, up, retiring) */
  size_t nctl, nconnecting;
  ho_broker_conn *hhead, *htail; /* clients reading their Hello */
  ho_broker_conn *ahead;         /* every open handle */
  size_t hello_waiting;          /* clients in the Hello FIFO */
  bool coal_void;                /* the configured coalesced declaration was
                                    proved wrong (spec: READY-30) */
  /* actions */
  action_item *q;
  size_t qcap, qhead, qlen;
  uint8_t *taken; /* bytes of the last action taken */
  uint64_t timer_armed; /* deadline last emitted (0 = none) */
  uint64_t timer_fired; /* when ho_broker_timer() last ran */
  ho_broker_stats st;
};

#define BROKER_LATE_ACK_READ_MS 100u /* READY-33: late ACKs read by then */
#define BROKER_MAX_IN_FLIGHT 128u /* offers in flight per declared control connection */
#define BROKER_DEFAULT_MAX_CONTROLS 16u
#define BROKER_BACKEND_KEY 1u        /* one backend per broker: rate-limit key */
#define BROKER_ACK_CAP (64u * 1024u) /* local cap for ACK frames (FRAME-8) */
#define BROKER_READY_BUDGET_MS 1000u /* READY-10 */
#define BROKER_LEGACY_READY_BUDGET_MS 1500u /* ACK-17: READY_TIMEOUT - 500 ms */

/* Every `now` in the core is a reading of the shell's monotonic clock in
 * milliseconds (handoff/broker.h), as the token store, the fallback policy
 * and the pending queue take it. */

/* broker_core.c */
void bk_log(ho_broker *b, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int bk_push(ho_broker *b, ho_broker_action_type t, ho_broker_conn *c, const uint8_t *bytes,
            size_t len);
int bk_write(ho_broker *b, ho_broker_conn *c, const uint8_t *bytes, size_t len);
void bk_close(ho_broker *b, ho_broker_conn *c, bool shutdown);
void bk_link(ho_broker *b, ho_broker_conn *c);
void bk_rearm(ho_broker *b);

/* broker_hello.c */
void bk_hello_complete(ho_broker *b, ho_broker_conn *c, int frame_err, uint64_t now);

/* broker_handoff.c */
void bk_after_negotiated(ho_broker *b, ho_broker_conn *c, uint64_t now);
void bk_fail(ho_broker *b, ho_broker_conn *c, ho_broker_reason why, uint64_t now,
             const char *detail);
void bk_control_failed(ho_broker *b, ho_broker_conn *k, ho_broker_reason why, uint64_t now);
/* Drop control connection `k`: dead, every entry on it failed with `why`
 * (bk_control_failed), closed. The caller logs. */
void bk_drop_control(ho_broker *b, ho_broker_conn *k, ho_broker_reason why, uint64_t now);
void bk_fail_queued(ho_broker *b, ho_broker_reason why, uint64_t now);
void bk_ready_done(ho_broker *b, ho_broker_conn *c, bool written, uint64_t now);
/* The attempt of `c` (accepted, ready frame not written) ends with `why`:
 * counted, logged with `detail`, closed. */
void bk_ready_lost(ho_broker *b, ho_broker_conn *c, ho_broker_reason why, const char *detail);
void bk_dispatch(ho_broker *b, uint64_t now);
int bk_control_data(ho_broker *b, ho_broker_conn *k, const uint8_t *data, size_t len,
                    uint64_t now);
void bk_timer(ho_broker *b, uint64_t now);
void bk_dial_control(ho_broker *b);
bool bk_retire_if_done(ho_broker *b, ho_broker_conn *k, uint64_t now);
bool bk_backend_ready_available(const ho_broker *b);
bool bk_coalesced_available(const ho_broker *b);
void bk_release(ho_broker *b, ho_broker_conn *c);
void bk_control_flushed(ho_broker *b, ho_broker_conn *k);
/* Attempt `c` is offered on control connection `k`: OFFERED, at the tail of
 * k's in-flight list, counted in k->in_flight and k->offers_sent (the offer
 * of broker_handoff.c and the duplicate request of broker_dup.c). */
void bk_offered(ho_broker_conn *c, ho_broker_conn *k);
/* The attempt `corr` in flight on control connection `k`, or NULL. */
ho_broker_conn *bk_find_corr(ho_broker_conn *k, uint64_t corr);
void bk_control_unlink(ho_broker *b, ho_broker_conn *k);
uint64_t bk_next_deadline_ms(const ho_broker *b);
uint64_t bk_hello_due(const ho_broker *b, const ho_broker_conn *c);
/* For broker_dup.c: encode_offer of broker_handoff.c. */
int bk_encode_offer(const ho_offer *o, uint64_t deadline_unix_ms, uint8_t *out, size_t cap,
                    size_t *len);

/* broker_dup.c (duplicate_handles) */
void bk_dup_offer(ho_broker *b, ho_broker_conn *c, ho_broker_conn *k, uint64_t offer_deadline,
                  uint64_t now);
void bk_dup_end(ho_broker *b, ho_broker_conn *c, bool completed, ho_broker_reason why);
bool bk_dup_acked(ho_broker *b, ho_broker_conn *k, ho_broker_conn *c, uint64_t now);
void bk_dup_flushed(ho_broker_conn *k);

/* broker_rate.c */
int bk_rate_init(bk_rate *r, uint32_t limit, uint32_t cap);
void bk_rate_free(bk_rate *r);
/* true: let this Hello of `pid` through (and count it); false: refuse it,
 * *retry_after_ms (>= 1) says when the window ends. pid <= 0 is never
 * limited (no OS-reported pid to key on). */
bool bk_rate_admit(bk_rate *r, int32_t pid, uint64_t now, uint64_t *retry_after_ms);

/* broker_stats.c */
void bk_latency_record(ho_broker *b, uint64_t us);
int bk_semver_valid(const char *s);
/* The broker reason of a Hello-time fallback decision (first row of it). */
ho_broker_reason bk_reason_of(ho_fallback_reason r);
int bk_service_name_valid(const char *s);

#endif /* HANDOFF_BROKER_INTERNAL_H */
