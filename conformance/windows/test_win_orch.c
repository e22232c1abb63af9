/* handoff — unit tests of the staged Windows handoff (handoff/winxfer.h):
 * an injected failure at every stage, the stage and reason of every
 * abandonment, the duplicate's fate, the token consumed exactly once or
 * revoked exactly once, counters; plus the sequence against the real
 * transport (a duplicate made in this process, closed through XFER-33).
 * spec: XFER-32 XFER-33 XFER-41 FALLBACK-17 TOKEN-7 */
#include <string.h>

#include "handoff/winpipe.h"
#include "handoff/winxfer.h"
#include "wintest.h"

#include <windows.h>

/* What the fake shell answers and what happens after the offer is written. */
typedef enum { AFTER_ACK, AFTER_TIMER, AFTER_LOST, AFTER_CLIENT_GONE, AFTER_SHUTDOWN } after;

typedef struct script {
  int dup_rc;
  uint64_t dup_value;
  int write_rc;
  int close_rc;
  after then;
  bool accepted, echo_ok;
  uint64_t ack_at;
  int lost_at_stage; /* 0: never; else lose the control connection when this stage begins */
} script;

typedef struct seen {
  int dup, write, close, consume, revoke, end;
  uint64_t close_value;
} seen;

static void drain(ho_wx *x, const script *s, seen *w, int *stage_hook) {
  ho_wx_action a;
  while (ho_wx_next(x, &a)) {
    WT_EQ(a.correlation_id, 7);
    switch (a.type) {
    case HO_WX_ACT_DUPLICATE:
      w->dup++;
      if (s->lost_at_stage == 1) {
        *stage_hook = 1;
        WT_EQ(ho_wx_control_lost(x, HO_ERR_CLOSED), HO_OK);
        WT_EQ(ho_wx_duplicated(x, HO_OK, 0x40), HO_ERR_STATE); /* too late: ignored */
      } else {
        WT_EQ(ho_wx_duplicated(x, s->dup_rc, s->dup_value), HO_OK);
      }
      break;
    case HO_WX_ACT_WRITE_OFFER:
      w->write++;
      WT_EQ(a.value, s->dup_value);
      if (s->lost_at_stage == 2) {
        *stage_hook = 2;
        WT_EQ(ho_wx_control_lost(x, HO_ERR_IO), HO_OK);
      } else {
        WT_EQ(ho_wx_offer_written(x, s->write_rc), HO_OK);
      }
      break;
    case HO_WX_ACT_CLOSE_IN_TARGET:
      w->close++;
      w->close_value = a.value;
      WT_EQ(ho_wx_closed_in_target(x, s->close_rc), HO_OK);
      break;
    case HO_WX_ACT_CONSUME_TOKEN: w->consume++; break;
    case HO_WX_ACT_REVOKE_TOKEN: w->revoke++; break;
    case HO_WX_ACT_END: w->end++; break;
    }
  }
}

static const ho_wx_outcome *run(const script *s, seen *w, ho_wx *x, ho_wx_counters *c) {
  memset(w, 0, sizeof *w);
  int hook = 0;
  WT_EQ(ho_wx_start(x, 7, 1500, c), HO_OK);
  drain(x, s, w, &hook);
  if (!x->out.ended) {
    switch (s->then) {
    case AFTER_ACK: WT_EQ(ho_wx_ack(x, s->accepted, s->echo_ok, s->ack_at), HO_OK); break;
    case AFTER_TIMER:
      WT_EQ(ho_wx_timer(x, 1499), HO_OK); /* not yet */
      WT_CHECK(!x->out.ended);
      WT_EQ(ho_wx_timer(x, 1500), HO_OK);
      break;
    case AFTER_LOST: WT_EQ(ho_wx_control_lost(x, HO_ERR_CLOSED), HO_OK); break;
    case AFTER_CLIENT_GONE: WT_EQ(ho_wx_client_gone(x), HO_OK); break;
    case AFTER_SHUTDOWN: WT_EQ(ho_wx_shutdown(x), HO_OK); break;
    }
    drain(x, s, w, &hook);
  }
  const ho_wx_outcome *o = ho_wx_outcome_of(x);
  WT_CHECK(o->ended);
  WT_EQ(w->end, 1);
  WT_EQ(w->consume + w->revoke, 1); /* spec: TOKEN-7 — exactly once */
  /* An ended attempt ignores every later event. */
  WT_EQ(ho_wx_ack(x, true, true, 0), HO_ERR_STATE);
  WT_EQ(ho_wx_timer(x, 99999), HO_ERR_STATE);
  WT_EQ(ho_wx_control_lost(x, HO_ERR_CLOSED), HO_ERR_STATE);
  WT_EQ(ho_wx_offer_written(x, HO_OK), HO_ERR_STATE);
  ho_wx_action a;
  WT_EQ(ho_wx_next(x, &a), 0);
  return o;
}

static const script OK = {HO_OK, 0x1c4, HO_OK, HO_OK, AFTER_ACK, true, true, 100, 0};

static void completed_consumes_token_once(void) {
  ho_wx x;
  seen w;
  ho_wx_counters c;
  memset(&c, 0, sizeof c);
  const ho_wx_outcome *o = run(&OK, &w, &x, &c);
  WT_EQ(o->reason, HO_WX_COMPLETED);
  WT_EQ(o->stage, HO_WX_STAGE_NONE);
  WT_EQ(o->dup, HO_WX_DUP_BACKEND_OWNED);
  WT_EQ(o->value, 0x1c4);
  WT_EQ(w.consume, 1);
  WT_EQ(w.revoke, 0);
  WT_EQ(w.close, 0);
  WT_EQ(c.started, 1);
  WT_EQ(c.completed, 1);
  WT_EQ(c.backend_owned, 1);
}

/* Stage DUPLICATE: nothing made, nothing to close; PERMISSION maps to
 * PERMISSION_DENIED, the rest to BACKEND_ACK_TIMEOUT (FALLBACK-17). */
static void duplicate_fails(void) {
  const int rcs[] = {HO_ERR_PERMISSION, HO_ERR_CLOSED, HO_ERR_FD_EXHAUSTED, HO_ERR_IO};
  for (size_t i = 0; i < 4; i++) {
    script s = OK;
    s.dup_rc = rcs[i];
    ho_wx x;
    seen w;
    const ho_wx_outcome *o = run(&s, &w, &x, NULL);
    WT_EQ(o->stage, HO_WX_STAGE_DUPLICATE);
    WT_EQ(o->reason, i == 0 ? HO_WX_PERMISSION_DENIED : HO_WX_BACKEND_ACK_TIMEOUT);
    WT_EQ(o->err, rcs[i]);
    WT_EQ(o->dup, HO_WX_DUP_NONE);
    WT_EQ(w.write + w.close, 0);
    WT_EQ(w.revoke, 1);
  }
  /* A duplicator that claims success with no usable value. */
  const uint64_t bad[] = {0, (uint64_t)-1, (uint64_t)-12, 0x100000000ull};
  for (size_t i = 0; i < 4; i++) {
    script s = OK;
    s.dup_value = bad[i];
    ho_wx x;
    seen w;
    const ho_wx_outcome *o = run(&s, &w, &x, NULL);
    WT_EQ(o->stage, HO_WX_STAGE_DUPLICATE);
    WT_EQ(o->err, HO_ERR_IO);
    WT_EQ(w.write, 0);
  }
}

/* Stage DELIVER: the offer was not completely written, so the duplicate is
 * closed in the target (XFER-33) — the leak the original admits — and its
 * fate follows the close's result. */
static void deliver_fails_closes_in_target(void) {
  const int close_rcs[] = {HO_OK, HO_ERR_CLOSED, HO_ERR_IO};
  const ho_wx_dup_fate fates[] = {HO_WX_DUP_CLOSED_IN_TARGET, HO_WX_DUP_TARGET_GONE,
                                  HO_WX_DUP_CLOSE_FAILED};
  ho_wx_counters c;
  memset(&c, 0, sizeof c);
  for (size_t i = 0; i < 3; i++) {
    script s = OK;
    s.write_rc = HO_ERR_CLOSED;
    s.close_rc = close_rcs[i];
    ho_wx x;
    seen w;
    const ho_wx_outcome *o = run(&s, &w, &x, &c);
    WT_EQ(o->stage, HO_WX_STAGE_DELIVER);
    WT_EQ(o->reason, HO_WX_BACKEND_ACK_TIMEOUT);
    WT_EQ(w.close, 1);
    WT_EQ(w.close_value, 0x1c4);
    WT_EQ(o->dup, fates[i]);
    WT_EQ(w.revoke, 1);
  }
  WT_EQ(c.abandoned[HO_WX_STAGE_DELIVER], 3);
  WT_EQ(c.closed_in_target, 1);
  WT_EQ(c.target_gone, 1);
  WT_EQ(c.close_failed, 1);
  /* The control connection lost while the offer is being written: same. */
  script s = OK;
  s.lost_at_stage = 2;
  ho_wx x;
  seen w;
  const ho_wx_outcome *o = run(&s, &w, &x, NULL);
  WT_EQ(o->stage, HO_WX_STAGE_DELIVER);
  WT_EQ(o->err, HO_ERR_IO);
  WT_EQ(o->dup, HO_WX_DUP_CLOSED_IN_TARGET);
  /* ... and lost before the duplicate: nothing to close. */
  s = OK;
  s.lost_at_stage = 1;
  o = run(&s, &w, &x, NULL);
  WT_EQ(o->stage, HO_WX_STAGE_DUPLICATE);
  WT_EQ(o->dup, HO_WX_DUP_NONE);
  WT_EQ(w.write + w.close, 0);
}

/* Stage AWAIT_ACK: no ACK by the deadline, control lost, client gone or
 * shutdown after the offer was written — the backend owns the duplicate:
 * the broker never closes it (no value closed twice, XFER-32). */
static void await_ack_fails_leaves_it_to_the_backend(void) {
  const after afters[] = {AFTER_TIMER, AFTER_LOST, AFTER_CLIENT_GONE, AFTER_SHUTDOWN};
  const ho_wx_reason reasons[] = {HO_WX_BACKEND_ACK_TIMEOUT, HO_WX_BACKEND_ACK_TIMEOUT,
                                  HO_WX_CLIENT_GONE, HO_WX_SHUTDOWN};
  const int errs[] = {HO_ERR_TIMEOUT, HO_ERR_CLOSED, HO_ERR_CLOSED, HO_ERR_STATE};
  for (size_t i = 0; i < 4; i++) {
    script s = OK;
    s.then = afters[i];
    ho_wx x;
    seen w;
    const ho_wx_outcome *o = run(&s, &w, &x, NULL);
    WT_EQ(o->stage, HO_WX_STAGE_AWAIT_ACK);
    WT_EQ(o->reason, reasons[i]);
    WT_EQ(o->err, errs[i]);
    WT_EQ(o->dup, HO_WX_DUP_BACKEND_OWNED);
    WT_EQ(w.close, 0);
    WT_EQ(w.revoke, 1);
  }
}

/* Stage ACKNOWLEDGE: refused (the backend closed it), echo mismatch, late
 * (at or after the deadline): revoked, never consumed. */
static void acknowledge_fails(void) {
  struct {
    bool accepted, echo;
    uint64_t at;
    ho_wx_reason why;
    int err;
  } cases[] = {{false, true, 100, HO_WX_BACKEND_REFUSED, HO_ERR_ACK_REFUSED},
               {true, false, 100, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_ACK_TOKEN_MISMATCH},
               {false, false, 100, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_ACK_TOKEN_MISMATCH},
               {true, true, 1500, HO_WX_BACKEND_ACK_TIMEOUT, HO_ERR_ACK_DEADLINE_EXCEEDED},
               {true, true, 1499, HO_WX_COMPLETED, HO_OK}};
  for (size_t i = 0; i < 5; i++) {
    script s = OK;
    s.accepted = cases[i].accepted;
    s.echo_ok = cases[i].echo;
    s.ack_at = cases[i].at;
    ho_wx x;
    seen w;
    const ho_wx_outcome *o = run(&s, &w, &x, NULL);
    WT_EQ(o->reason, cases[i].why);
    WT_EQ(o->err, cases[i].err);
    WT_EQ(o->stage, cases[i].why == HO_WX_COMPLETED ? HO_WX_STAGE_NONE : HO_WX_STAGE_ACKNOWLEDGE);
    WT_EQ(o->dup, HO_WX_DUP_BACKEND_OWNED);
    WT_EQ(w.consume, cases[i].why == HO_WX_COMPLETED);
    WT_EQ(w.close, 0);
  }
}

/* Events out of order are refused without changing anything. */
static void events_out_of_stage(void) {
  ho_wx x;
  WT_EQ(ho_wx_start(NULL, 7, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_wx_start(&x, 0, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  WT_EQ(ho_wx_start(&x, 7, 1500, NULL), HO_OK);
  WT_EQ(ho_wx_offer_written(&x, HO_OK), HO_ERR_STATE);
  WT_EQ(ho_wx_ack(&x, true, true, 1), HO_ERR_STATE);
  WT_EQ(ho_wx_closed_in_target(&x, HO_OK), HO_ERR_STATE);
  WT_EQ(ho_wx_duplicated(&x, HO_OK, 0x40), HO_OK);
  WT_EQ(ho_wx_duplicated(&x, HO_OK, 0x44), HO_ERR_STATE);
  WT_EQ(ho_wx_ack(&x, true, true, 1), HO_ERR_STATE); /* offer not yet written */
  WT_CHECK(!x.out.ended);
  /* The deadline also bounds a delivery that never completes. */
  WT_EQ(ho_wx_timer(&x, 1500), HO_OK);
  WT_CHECK(!x.out.ended); /* closing in the target first */
  ho_wx_action a;
  int closes = 0;
  while (ho_wx_next(&x, &a))
    if (a.type == HO_WX_ACT_CLOSE_IN_TARGET) closes++;
  WT_EQ(closes, 1);
  WT_EQ(ho_wx_control_lost(&x, HO_ERR_CLOSED), HO_ERR_STATE); /* closing: ignored */
  WT_EQ(ho_wx_closed_in_target(&x, HO_OK), HO_OK);
  WT_CHECK(x.out.ended);
  WT_EQ(x.out.stage, HO_WX_STAGE_DELIVER);
  WT_CHECK(strcmp(ho_wx_stage_name(HO_WX_STAGE_AWAIT_ACK), "await_ack") == 0);
  WT_CHECK(strcmp(ho_wx_reason_name(HO_WX_BACKEND_REFUSED), "BACKEND_REFUSED") == 0);
  WT_CHECK(strcmp(ho_wx_dup_fate_name(HO_WX_DUP_CLOSED_IN_TARGET), "closed_in_target") == 0);
  WT_CHECK(strcmp(ho_wx_stage_name((ho_wx_stage)99), "unknown") == 0);
}

/* The sequence with the real transport: this process is its own target (a
 * real process handle with PROCESS_DUP_HANDLE), the delivery fails, the
 * duplicate is closed through XFER-33 and a probe shows it gone. */
static void real_duplicate_closed_when_delivery_fails(void) {
  ho_win_target t;
  WT_REQUIRE(ho_win_target_open_pid(GetCurrentProcessId(), &t) == HO_OK);
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL); /* stands for the client pipe */
  ho_wx x;
  ho_wx_counters c;
  memset(&c, 0, sizeof c);
  WT_EQ(ho_wx_start(&x, 7, 1500, &c), HO_OK);
  ho_wx_action a;
  uint64_t made = 0;
  while (ho_wx_next(&x, &a)) {
    if (a.type == HO_WX_ACT_DUPLICATE) {
      int rc = ho_win_dup_into(&t, (ho_handle)ev, &made);
      WT_EQ(ho_wx_duplicated(&x, rc, made), HO_OK);
    } else if (a.type == HO_WX_ACT_WRITE_OFFER) {
      WT_EQ(ho_wx_offer_written(&x, HO_ERR_CLOSED), HO_OK); /* injected */
    } else if (a.type == HO_WX_ACT_CLOSE_IN_TARGET) {
      ho_win_probe_result pr;
      WT_EQ(ho_win_probe(&t, a.value, HO_NO_HANDLE, &pr), HO_OK);
      WT_CHECK(pr.open);
      WT_EQ(ho_wx_closed_in_target(&x, ho_win_close_in(&t, a.value)), HO_OK);
      WT_EQ(ho_win_probe(&t, a.value, HO_NO_HANDLE, &pr), HO_OK);
      WT_CHECK(!pr.open);
    }
  }
  WT_CHECK(made != 0);
  WT_EQ(x.out.dup, HO_WX_DUP_CLOSED_IN_TARGET);
  WT_EQ(c.closed_in_target, 1);
  DWORD fl;
  WT_CHECK(GetHandleInformation(ev, &fl)); /* the original is untouched */
  CloseHandle(ev);
  ho_win_target_close(&t);
}

static const wt_case cases[] = {
    {"completed_consumes_token_once", completed_consumes_token_once},
    {"duplicate_fails", duplicate_fails},
    {"deliver_fails_closes_in_target", deliver_fails_closes_in_target},
    {"await_ack_fails_leaves_it_to_the_backend", await_ack_fails_leaves_it_to_the_backend},
    {"acknowledge_fails", acknowledge_fails},
    {"events_out_of_stage", events_out_of_stage},
    {"real_duplicate_closed_when_delivery_fails", real_duplicate_closed_when_delivery_fails},
    {NULL, NULL}};

int main(int argc, char **argv) { return wt_main(cases, argc, argv); }
