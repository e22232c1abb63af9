/* handoff — broker core: the Hello frame, negotiation and the decision
 * whether a handoff is attempted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_internal.h"

#define REPLY_CAP 8192u

/* Queue the HelloReply `r` for `c`. On failure (it cannot be encoded, or
 * no memory to queue it) nothing is written and the caller ends `c`. */
static int send_reply(ho_broker *b, ho_broker_conn *c, const ho_hello_reply *r) {
  uint8_t buf[REPLY_CAP];
  size_t len = 0;
  int rc = ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, (const ho_any_msg *)r, buf,
                           sizeof buf, &len);
  if (rc != HO_OK) {
    bk_log(b, HO_BROKER_LOG_ERROR, "conn=%llu cannot encode HelloReply: %s",
           (unsigned long long)c->id, ho_errname(rc));
    return rc;
  }
  return bk_write(b, c, buf, len);
}

/* A reply that was not written: the client is closed without one. */
static void reply_lost(ho_broker *b, ho_broker_conn *c) {
  c->state = CS_DONE;
  bk_close(b, c, false);
}

/* Reply Refused and close once it is written (spec: HELLO-8 HELLO-10);
 * retry_after_ms only with ERROR_RATE_LIMITED. */
static void refuse_retry(ho_broker *b, ho_broker_conn *c, uint32_t code, const char *reason,
                         uint64_t retry_after_ms) {
  ho_hello_reply r;
  memset(&r, 0, sizeof r);
  r.which = HO_REPLY_REFUSED;
  r.refused.code = code;
  r.refused.daemon_min_protocol = HO_PROTOCOL_VERSION;
  r.refused.daemon_max_protocol = HO_PROTOCOL_VERSION;
  if (code == HO_REFUSE_RATE_LIMITED) r.refused.retry_after_ms = retry_after_ms;
  snprintf(r.refused.reason, sizeof r.refused.reason, "%s", reason);
  b->st.hellos_refused++;
  bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu refused code=%u: %s", (unsigned long long)c->id,
         (unsigned)code, reason);
  c->state = CS_REPLY_CLOSE;
  if (send_reply(b, c, &r) != HO_OK) reply_lost(b, c);
}

static void refuse(ho_broker *b, ho_broker_conn *c, uint32_t code, const char *reason) {
  refuse_retry(b, c, code, reason, 0);
}

/* Decide whether a handoff will really be attempted for this Hello, and if
 * so issue its token (spec: TOKEN-2 FALLBACK-2 FALLBACK-11 TOKEN-13). Returns the reason not to,
 * or HO_BROKER_REASON_COUNT when the token is issued. */
static int decide(ho_broker *b, ho_broker_conn *c, const ho_hello *h, uint64_t now) {
  /* spec: READY-36 VER-5 — both declared: the client in its Hello, the
   * backend in an ACK on the control connection that will carry the offer
   * (never by configuration alone). */
  bool hp_br = (h->client_capabilities & HO_CAP_HANDLE_PASSING) &&
               (h->client_capabilities & HO_CAP_BACKEND_READY) && b->cfg.unix_ms != NULL;
  /* spec: READY-25 — coalesced: the client asked, the backend declared it
   * (or the operator stated it); it implies backend-ready mode. */
  bool coalesced = hp_br && (h->client_capabilities & HO_CAP_COALESCED_REPLY) &&
                   bk_coalesced_available(b);
  bool ready = hp_br && (coalesced || bk_backend_ready_available(b));
  ho_fallback_input in = {
      .client_capabilities = h->client_capabilities,
      .backend = BROKER_BACKEND_KEY,
      .endpoint_configured = b->cfg.handoff_endpoint,
      .service_enabled = true,
      .fd_pressure = b->fd_pressure,
      .adopted_backend = false,
      .backend_ready = ready,
  };
  /* spec: READY-18 — an early-data Hello gets a token only in backend-ready
   * mode (ho_fallback_decide answers EARLY_DATA_UNSUPPORTED otherwise). */
  ho_fallback_reason r = ho_fallback_decide(b->policy, &in, now, NULL);
  if (r != HO_FALLBACK_NONE) return bk_reason_of(r);
  /* spec: FALLBACK-11 — admission at Hello time: a saturated queue means
   * this attempt would have to wait too. */
  if (ho_pending_queue_len(b->queue) >= HO_PENDING_DEFAULT_CAPACITY)
    return HO_BROKER_REASON_QUEUE_FULL;
  if (ho_token_issue(b->tokens, now, c->token) != HO_OK)
    return HO_BROKER_REASON_TOKEN_UNAVAILABLE;
  c->has_token = true;
  c->token_live = true;
  c->ready_mode = ready;
  c->coalesced = coalesced;
  c->correlation_id = b->next_correlation++; /* spec: ACK-12 */
  return HO_BROKER_REASON_COUNT;
}

/* One HelloReply frame into a new heap buffer. */
static uint8_t *reply_frame(const ho_hello_reply *r, size_t *len) {
  uint8_t *buf = malloc(HO_MAX_REPLY_FRAME);
  if (buf != NULL && ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY,
                                     (const ho_any_msg *)r, buf, HO_MAX_REPLY_FRAME, len) != HO_OK) {
    free(buf);
    buf = NULL;
  }
  return buf;
}

/* spec: READY-26 CAP-12 — coalesced: nothing is written to the client; the
 * two replies it would have had go into the offer, the one with the token
 * (HP|BR|CR and early data) and the one without (CR and early data); the
 * ready deadline counts from now, the end of the Hello. `r` holds the
 * common Negotiated without token or capabilities of the attempt. */
static void coalesced_offer(ho_broker *b, ho_broker_conn *c, ho_hello_reply *r, uint64_t now) {
  ho_negotiated *n = &r->negotiated;
  n->server_capabilities |= HO_CAP_COALESCED_REPLY;
  c->reply_d = reply_frame(r, &c->reply_d_len);
  n->server_capabilities |= HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY;
  memcpy(n->handle_passed_token, c->token, HO_TOKEN_BYTES);
  n->handle_passed_token_len = HO_TOKEN_BYTES;
  c->reply_a = reply_frame(r, &c->reply_a_len);
  b->st.handoffs_attempted++;
  b->st.in_flight++;
  b->st.negotiated++;
  c->state = CS_NEGOTIATED;
  bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu negotiated: handoff corr=%llu mode=coalesced",
         (unsigned long long)c->id, (unsigned long long)c->correlation_id);
  if (c->reply_a == NULL || c->reply_d == NULL) {
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "cannot encode the replies");
    return;
  }
  c->negotiated_unix_ms = b->cfg.unix_ms(b->cfg.clock_user);
  c->negotiated_ms = now;
  bk_after_negotiated(b, c, now);
}

void bk_hello_complete(ho_broker *b, ho_broker_conn *c, int frame_err, uint64_t now) {
  ho_any_msg m;
  const uint8_t *body = NULL;
  size_t len = 0;
  int rc = frame_err;
  if (rc == HO_OK) rc = ho_frame_reader_body(&c->rd, &body, &len);
  if (rc == HO_OK) rc = ho_frame_decode_body(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, body, len, NULL, &m);
  free(c->hello_buf);
  c->hello_buf = NULL;
  if (rc != HO_OK) {
    switch (rc) {
    case HO_ERR_FRAMING_VERSION: /* spec: HELLO-4 ERR-10 */
      refuse(b, c, HO_REFUSE_VERSION_UNSUPPORTED, "FRAMING_VERSION");
      break;
    case HO_ERR_FRAME_TOO_LARGE: /* spec: FRAME-5 HELLO-5 ERR-11 */
      refuse(b, c, HO_REFUSE_PEER_REJECTED, "initial Hello frame exceeds 64 KiB");
      break;
    default: /* spec: HELLO-3 ERR-14 ERR-15 — step 4: reason = the error name */
      refuse(b, c, HO_REFUSE_PEER_REJECTED, ho_errname(rc) ? ho_errname(rc) : "MALFORMED");
      break;
    }
    return;
  }
  const ho_hello *h = &m.hello;
  /* spec: HELLO-3 — the checks in the order of the table; the first
   * failing one decides the reply (HELLO-8: an error name or fixed phrase).
   * No check, and nothing in decide(), reads auth_token,
   * peer_attestation_nonce, capability_token, client_version, request_id,
   * connection_id, client_lib_name or client_lib_version of the Hello.
   * spec: HELLO-12 VER-2 */
  /* spec: VER-1 — protocol version 1 only. */
  if (!(h->client_min_protocol <= HO_PROTOCOL_VERSION &&
        HO_PROTOCOL_VERSION <= h->client_max_protocol)) {
    refuse(b, c, HO_REFUSE_VERSION_UNSUPPORTED, "PROTOCOL_UNSUPPORTED");
    return;
  }
  if (!bk_service_name_valid(h->service_name)) { /* spec: HELLO-6 */
    refuse(b, c, HO_REFUSE_PEER_REJECTED, "SERVICE_NAME");
    return;
  }
  if (h->wanted_version[0] != '\0' && !bk_semver_valid(h->wanted_version)) { /* spec: HELLO-7 */
    refuse(b, c, HO_REFUSE_PEER_REJECTED, "VERSION_SYNTAX");
    return;
  }
  /* spec: SEC-3 — peer_pid must agree with the OS when both are known. */
  if (h->peer_pid != 0 && c->peer.pid != 0 && (int32_t)h->peer_pid != (int32_t)c->peer.pid) {
    refuse(b, c, HO_REFUSE_PEER_REJECTED, "PEER_REJECTED");
    return;
  }
  /* spec: HELLO-14 — step 9: Hellos per second of this peer process, keyed
   * by the OS-reported pid (never the self-reported peer_pid, SEC-3). */
  uint64_t retry_after = 0;
  if (c->have_peer && !bk_rate_admit(&b->hello_rate, (int32_t)c->peer.pid, now, &retry_after)) {
    b->st.hellos_rate_limited++;
    refuse_retry(b, c, HO_REFUSE_RATE_LIMITED, "RATE_LIMITED", retry_after);
    return;
  }
  if (b->shutting_down) { /* spec: BROKER-7 */
    refuse(b, c, HO_REFUSE_SHUTTING_DOWN, "shutting down");
    return;
  }
  if (strcmp(h->service_name, b->service) != 0) {
    refuse(b, c, HO_REFUSE_SERVICE_UNKNOWN, "service not served by this broker");
    return;
  }

  /* spec: FALLBACK-1 — from here on the Hello is accepted: whatever
   * decide() says about the handoff, the reply is a Negotiated with
   * backend_pipe. */
  int why = decide(b, c, h, now);
  ho_hello_reply r;
  memset(&r, 0, sizeof r);
  r.which = HO_REPLY_NEGOTIATED;
  ho_negotiated *n = &r.negotiated;
  /* spec: HELLO-9 VER-1 — protocol 1, backend_pipe always, the capabilities
   * below, a token of 16 bytes or none, a non-zero connection id unique in
   * this process, the keepalive echoed (0 → 1800). */
  n->negotiated_protocol = HO_PROTOCOL_VERSION;
  snprintf(n->daemon_version, sizeof n->daemon_version, "handoff-broker/%s",
           HO_LIBRARY_VERSION_STRING);
  /* spec: BROKER-6 — one broker serves one backend: backend_pipe and the
   * handoff endpoint the offer goes to come from the same configuration. */
  snprintf(n->backend_pipe, sizeof n->backend_pipe, "%s", b->backend_pipe); /* always */
  n->server_capabilities = HO_CAP_EARLY_DATA; /* never reads past Hello (spec: CAP-6) */
  n->connection_id = c->id; /* non-zero, unique per process */
  n->keepalive_interval_secs = h->client_keepalive_secs ? h->client_keepalive_secs : 1800;
  if (c->has_token && c->coalesced) {
    coalesced_offer(b, c, &r, now);
    return;
  }
  if (c->has_token) {
    n->server_capabilities |= HO_CAP_HANDLE_PASSING; /* spec: CAP-3 CAP-4 TOKEN-2 */
    if (c->ready_mode) n->server_capabilities |= HO_CAP_BACKEND_READY; /* spec: CAP-5 READY-7 */
    memcpy(n->handle_passed_token, c->token, HO_TOKEN_BYTES);
    n->handle_passed_token_len = HO_TOKEN_BYTES;
    b->st.handoffs_attempted++;
    b->st.in_flight++;
    c->state = CS_NEGOTIATED;
    bk_log(b, HO_BROKER_LOG_DEBUG, "conn=%llu negotiated: handoff corr=%llu mode=%s caps=0x%llx",
           (unsigned long long)c->id, (unsigned long long)c->correlation_id,
           c->ready_mode ? "backend-ready" : "legacy",
           (unsigned long long)h->client_capabilities);
  } else {
    b->st.fallbacks[why]++;
    c->state = CS_REPLY_CLOSE;
    /* spec: FALLBACK-3 FALLBACK-14 */
    bk_log(b, HO_BROKER_LOG_INFO, "conn=%llu route=reconnect reason=%s detail=%s backend=%s",
           (unsigned long long)c->id, ho_broker_reason_spec_name(why), ho_broker_reason_name(why),
           b->endpoint_name);
  }
  b->st.negotiated++;
  if (send_reply(b, c, &r) == HO_OK) return;
  if (c->has_token) /* spec: TOKEN-7 FALLBACK-20 — the attempt ends: token revoked, counted */
    bk_fail(b, c, HO_BROKER_REASON_TOKEN_UNAVAILABLE, now, "cannot write the Negotiated");
  else
    reply_lost(b, c);
}
