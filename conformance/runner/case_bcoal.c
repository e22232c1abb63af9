/* handoff-conform — broker cases: coalesced reply (spec 1.0.0-rc2,
 * READY-25..READY-34, CAP-12), declared as the feature coalesced-reply. */
#include "bcoal.h"
#include "cases.h"

#define HP HO_CAP_HANDLE_PASSING
#define BR HO_CAP_BACKEND_READY
#define ED HO_CAP_EARLY_DATA

static int offer(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_ALL, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bc_start(ctx, &f);
  if (rc == 0) rc = cf_bc_adopt(ctx, &f, CF_BK_CAPS_ALL);
  cf_bf_end(ctx, &f);
  return rc;
}

static int declined(cf_ctx *ctx) {
  if (cf_bf_declare(ctx, CF_BK_CAPS_ALL, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bc_start(ctx, &f);
  if (rc == 0) rc = cf_bc_decline(ctx, &f);
  cf_bf_end(ctx, &f);
  return rc;
}

/* A Hello that must get an ordinary backend-ready attempt, no coalesced one. */
static int not_coalesced(cf_ctx *ctx, uint64_t declared, uint64_t caps) {
  if (cf_bf_declare(ctx, declared, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bf_start(ctx, &f, caps, CF_BF_EARLY);
  if (rc == 0 && (f.hc.reply.negotiated.server_capabilities & HO_CAP_COALESCED_REPLY))
    rc = cf_fail(ctx, "CAP-12", "no CAP_COALESCED_REPLY outside the replies of a coalesced offer",
                 "client#%d: the broker's Negotiated has it", f.hc.id);
  if (rc == 0 && !f.offered) rc = cf_fail(ctx, "READY-36", "a backend-ready handoff", "a Negotiated without token");
  if (rc == 0 && f.mode != CF_BF_READY)
    rc = cf_fail(ctx, "READY-36 READY-18", "a backend-ready handoff (declared on the connection)", "a legacy offer");
  if (rc == 0) rc = cf_bf_accept(ctx, &f, declared);
  cf_bf_end(ctx, &f);
  return rc;
}

static int undeclared(cf_ctx *ctx) { return not_coalesced(ctx, CF_BK_CAPS_READY, CF_CAPS_COALESCED); }
static int client_without(cf_ctx *ctx) { return not_coalesced(ctx, CF_BK_CAPS_ALL, HP | BR | ED); }

static int ack_without_cap(cf_ctx *ctx) {
  /* READY-30: an accepted ACK without BACKEND_CAP_COALESCED_REPLY counts as
   * a failure of the backend: with FAILED_ATTEMPTS - 1 refusals after it,
   * the next client gets no token. */
  if (cf_bf_declare(ctx, CF_BK_CAPS_ALL, NULL) != 0) return -1;
  cf_bf f = CF_BF0;
  int rc = cf_bc_start(ctx, &f);
  if (rc == 0) rc = cf_bc_adopt(ctx, &f, CF_BK_CAPS_READY);
  cf_bf_end(ctx, &f);
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS);
  for (int k = 0; k < n - 1 && rc == 0; k++) rc = cf_bf_failed_attempt(ctx, 0, "OVERLOADED");
  return rc == 0 ? cf_bf_limited(ctx, HP, n) : -1;
}

static int closed_ctl(cf_ctx *ctx) {
  /* READY-34: the declared connection is closed before the next coalesced
   * Hello. Whether the broker notices first (a new connection carries no
   * declaration: no token) or its send fails (it writes reply_declined
   * itself, READY-27): the client gets a Negotiated without token from the
   * broker, no offer reaches any backend, the client falls back. */
  cf_bctl *c = NULL;
  if (cf_bf_declare(ctx, CF_BK_CAPS_ALL, &c) != 0) return -1;
  cf_bk_close_ctl(ctx, c);
  cf_bf f = CF_BF0;
  ho_hello h;
  cf_hello_init(ctx, &h, CF_CAPS_COALESCED);
  int rc = cf_hc_open(ctx, &f.hc);
  if (rc == 0) rc = cf_hc_hello(ctx, &f.hc, &h, CF_BF_EARLY);
  if (rc == 0) rc = cf_hc_negotiated(ctx, &f.hc, 2000);
  if (rc == 0 && f.hc.reply.negotiated.handle_passed_token_len)
    rc = cf_fail(ctx, "READY-25 READY-36", "no handoff on a connection that carries no declaration",
                 "client#%d: a Negotiated with a token", f.hc.id);
  if (rc == 0) rc = cf_bf_no_token(ctx, &f, "READY-27 READY-34");
  cf_bf_end(ctx, &f);
  return rc;
}

static int late_acks(cf_ctx *ctx) {
  /* READY-33 lets the broker read the ACKs of coalesced offers late;
   * READY-34 still has it account for each: after FAILED_ATTEMPTS declined
   * offers at most one more client gets a coalesced offer (its ACKs not
   * read yet), the one after it none. */
  if (cf_bf_declare(ctx, CF_BK_CAPS_ALL, NULL) != 0) return -1;
  int n = (int)cf_const(ctx->o, CF_K_FAILED_ATTEMPTS), rc = 0;
  for (int k = 0; k < n + 2 && rc == 0; k++) {
    cf_bf f = CF_BF0;
    ho_hello h;
    cf_hello_init(ctx, &h, CF_CAPS_COALESCED);
    rc = k < n ? cf_bc_start(ctx, &f) : cf_hc_open(ctx, &f.hc);
    if (rc == 0 && k >= n) rc = cf_hc_hello(ctx, &f.hc, &h, CF_BF_EARLY);
    if (rc == 0 && k >= n) {
      int r = cf_bk_next_offer(ctx, &f.off, 300);
      f.offered = r == 0;
      rc = r < 0 ? -1 : 0;
      if (rc == 0 && f.offered && k == n + 1)
        rc = cf_fail(ctx, NULL, "the failures of coalesced attempts are accounted for (RATE_LIMITED)",
                     "client #%d after %d declined coalesced offers got one more offer", k + 1, n);
      if (rc == 0 && !f.offered) {
        rc = cf_hc_negotiated(ctx, &f.hc, 2000);
        if (rc == 0) rc = cf_bf_no_token(ctx, &f, "FALLBACK-7");
        cf_bf_end(ctx, &f);
        break;
      }
      f.mode = CF_BF_COALESCED;
    }
    if (rc == 0) rc = cf_bc_decline(ctx, &f);
    cf_bf_end(ctx, &f);
  }
  return rc;
}

#define NEEDS (CF_F_COALESCED | CF_F_EARLY_DATA | CF_F_BACKEND_READY | CF_F_MULTI_OFFER)
static const cf_case cases[] = {
    {.id = "broker.coalesced.offer", .spec = "spec: READY-25 READY-26 READY-27 CAP-12 FRAME-6",
     .needs = NEEDS,
     .does = "the runner's backend declares BACKEND_CAP_COALESCED_REPLY; a Hello with CAP_COALESCED_REPLY and the "
             "request behind it; the backend adopts",
     .expect = "the broker writes nothing to the client; a flagged offer with reply_adopted and reply_declined "
               "(READY-26), the deadline from the Hello; the broker closes its copy right after the offer; the "
               "client reads exactly the backend's one write",
     .run = offer},
    {.id = "broker.coalesced.declined", .spec = "spec: READY-27 READY-26 FALLBACK-3", .needs = NEEDS,
     .does = "a coalesced offer the runner's backend refuses, writing reply_declined itself",
     .expect = "the client reads exactly reply_declined, the end, and falls back; nothing from the broker",
     .run = declined},
    {.id = "broker.coalesced.undeclared", .spec = "spec: READY-25 CAP-12",
     .needs = CF_F_EARLY_DATA | CF_F_BACKEND_READY | CF_F_MULTI_OFFER,
     .does = "the backend declares backend-ready but not BACKEND_CAP_COALESCED_REPLY; a Hello with "
             "CAP_COALESCED_REPLY and early data",
     .expect = "an ordinary backend-ready attempt: the broker's Negotiated without CAP_COALESCED_REPLY, an offer "
               "without the coalesced flag",
     .run = undeclared},
    {.id = "broker.coalesced.client-without", .spec = "spec: READY-25 CAP-12", .needs = NEEDS,
     .does = "the backend declares coalesced mode; a Hello with early data but without CAP_COALESCED_REPLY",
     .expect = "an ordinary backend-ready attempt", .run = client_without},
    {.id = "broker.coalesced.ack-without-cap", .spec = "spec: READY-30 FALLBACK-25 FALLBACK-7", .needs = NEEDS,
     .does = "a coalesced offer answered by an accepted ACK without BACKEND_CAP_COALESCED_REPLY, then "
             "FAILED_ATTEMPTS - 1 refusals and another client",
     .expect = "the ACK counts as a failure: the last client gets no token", .run = ack_without_cap},
    {.id = "broker.coalesced.closed-ctl", .spec = "spec: READY-34 READY-27 READY-25", .needs = NEEDS,
     .does = "the declared control connection is closed by the backend; then a coalesced Hello",
     .expect = "no offer anywhere; the broker itself answers with a Negotiated without token (reply_declined, or "
               "an ordinary one) and the client falls back",
     .run = closed_ctl},
    {.id = "broker.coalesced.late-acks", .spec = "spec: READY-34 READY-33 FALLBACK-7", .needs = NEEDS,
     .does = "FAILED_ATTEMPTS coalesced offers declined by the backend, then two more coalesced Hellos",
     .expect = "every ACK is accounted for: at most one more offer, then a Negotiated without token",
     .run = late_acks},
};
#undef NEEDS
CF_TABLE(cf_cases_bcoal, cases);
