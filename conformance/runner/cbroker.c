/* handoff-conform — client mode: the runner as broker and backend (see
 * cbroker.h). */
#include "cbroker.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff/wire.h"
#include "sock.h"
#include "trace.h"

static cf_cb g_cb;

static bool declared(const cf_ctx *ctx, unsigned f) { return (ctx->o->features & f) != 0; }

cf_cb *cf_cb_of(cf_ctx *ctx) { return ctx->mstate; }

int cf_cb_prepare(cf_ctx *ctx) {
  cf_cb *cb = &g_cb;
  memset(cb, 0, sizeof *cb);
  cb->lclient = cf_sock_listen(ctx->ep_client);
  cb->lpipe = cb->lclient < 0 ? -1 : cf_sock_listen(ctx->ep_pipe);
  if (cb->lpipe < 0) return cf_error(ctx, "listen on the runner's endpoints: %s", strerror(errno));
  ctx->mstate = cb;
  cf_trace_note(ctx, "runner (broker) listens on %s, (backend) on %s; the request is \"%s\"", ctx->ep_client,
                ctx->ep_pipe, ctx->message);
  return 0;
}

void cf_cb_finish(cf_ctx *ctx) {
  cf_cb *cb = cf_cb_of(ctx);
  if (cb == NULL) return;
  if (cb->lclient >= 0) close(cb->lclient);
  if (cb->lpipe >= 0) close(cb->lpipe);
  cb->lclient = cb->lpipe = -1;
}

static int accept_on(cf_ctx *ctx, int lfd, cf_cconn *k, int timeout_ms, bool pipe) {
  memset(k, 0, sizeof *k);
  k->fd = cf_sock_accept(lfd, timeout_ms);
  k->pipe = pipe;
  if (k->fd < 0) return -1;
  k->id = ++ctx->nconn;
  cf_trace_note(ctx, "runner accepts conn#%d on %s", k->id, pipe ? "backend_pipe" : "the client endpoint");
  return 0;
}

int cf_cb_accept(cf_ctx *ctx, cf_cconn *k, int timeout_ms) {
  if (accept_on(ctx, cf_cb_of(ctx)->lclient, k, timeout_ms, false) == 0) return 0;
  return cf_fail_wait(ctx, "HELLO-1", "the client connects to {client_endpoint}",
                      "no connection on the client endpoint within %d ms", timeout_ms);
}

void cf_cb_close(cf_ctx *ctx, cf_cconn *k) {
  if (k->fd >= 0) {
    close(k->fd);
    cf_trace_note(ctx, "runner closes conn#%d", k->id);
  }
  k->fd = -1;
  k->eof = true;
  k->pos = 0;
  cf_buf_free(&k->in);
}

void cf_cb_hangup(cf_ctx *ctx, cf_cconn *k) {
  if (k->fd >= 0) shutdown(k->fd, SHUT_WR);
  cf_trace_note(ctx, "runner (broker) ends conn#%d", k->id);
}

/* Read into k->in; 1 data, 0 timeout, -1 end. */
static int read_more(cf_ctx *ctx, cf_cconn *k, int timeout_ms) {
  size_t before = k->in.len;
  int r = k->eof ? -1 : cf_sock_read(k->fd, &k->in, 0, timeout_ms, &k->reset);
  char who[64];
  snprintf(who, sizeof who, "client -> runner conn#%d", k->id);
  if (r > 0) cf_trace_bytes(ctx, who, k->in.p + before, k->in.len - before);
  if (r < 0 && !k->eof) cf_trace_note(ctx, "%s: %s", who, k->reset ? "reset" : "EOF");
  if (r < 0) k->eof = true;
  return r;
}

size_t cf_cb_wait_bytes(cf_ctx *ctx, cf_cconn *k, size_t n, int timeout_ms) {
  uint64_t deadline = cf_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  while (k->in.len - k->pos < n && !k->eof) {
    if (read_more(ctx, k, cf_remaining(deadline)) == 0 && cf_remaining(deadline) == 0) break;
  }
  return k->in.len - k->pos;
}

static int check_hello(cf_ctx *ctx, cf_cconn *k, const ho_envelope *env) {
  const ho_hello *h = &k->hello;
  uint64_t c = h->client_capabilities, assigned = HO_CAP_HANDLE_PASSING | HO_CAP_BACKEND_READY |
                                                   HO_CAP_EARLY_DATA | HO_CAP_COALESCED_REPLY;
  if (env->request_id != 0 || env->deadline_unix_ms != 0 || h->client_min_protocol > 1 || h->client_max_protocol < 1 ||
      strcmp(h->service_name, ctx->o->service) != 0 || h->auth_token.len || h->peer_attestation_nonce.len ||
      h->capability_token.len)
    return cf_fail(ctx, "HELLO-1 ENV-9", "a Hello with request_id 0, a protocol range holding 1, service_name "
                   "{service}, the reserved fields empty",
                   "conn#%d: request_id %llu, protocols %u..%u, service \"%s\", reserved fields of %zu/%zu/%zu bytes",
                   k->id, (unsigned long long)env->request_id, h->client_min_protocol, h->client_max_protocol,
                   h->service_name, h->auth_token.len, h->peer_attestation_nonce.len, h->capability_token.len);
  struct {
    uint64_t bit;
    unsigned feature;
    const char *name;
  } rows[] = {{HO_CAP_HANDLE_PASSING, CF_F_HANDOFF, "CAP_HANDLE_PASSING (handoff)"},
              {HO_CAP_BACKEND_READY, CF_F_BACKEND_READY, "CAP_BACKEND_READY (backend-ready)"},
              {HO_CAP_COALESCED_REPLY, CF_F_COALESCED, "CAP_COALESCED_REPLY (coalesced-reply)"}};
  if (c & ~assigned)
    return cf_fail(ctx, "CAP-2", "no unassigned capability bit", "conn#%d: client_capabilities 0x%llx", k->id,
                   (unsigned long long)c);
  for (size_t i = 0; i < 3; i++)
    if (((c & rows[i].bit) != 0) != declared(ctx, rows[i].feature))
      return cf_fail(ctx, "CAP-8", "the capability bits the client implements and declares, and only those",
                     "conn#%d: %s is %s but the feature is %s", k->id, rows[i].name, c & rows[i].bit ? "set" : "clear",
                     declared(ctx, rows[i].feature) ? "declared" : "not declared");
  return 0;
}

int cf_cb_hello(cf_ctx *ctx, cf_cconn *k) {
  uint64_t deadline = cf_now_ms() + 2000;
  size_t flen = 0;
  bool big = false;
  while ((flen = cf_frame_len(k->in.p, k->in.len, 64u * 1024u, &big)) == 0 && !big && !k->eof)
    if (read_more(ctx, k, cf_remaining(deadline)) == 0 && cf_remaining(deadline) == 0) break;
  if (flen == 0)
    return (k->eof || big ? cf_fail : cf_fail_wait)(ctx, "HELLO-1 FRAME-7", "one complete Hello frame first",
                                                    "conn#%d: %s", k->id,
                                                    big ? "a header announcing more than 64 KiB"
                                                    : k->eof ? "the client closed before a whole Hello"
                                                             : "no complete Hello within 2000 ms");
  cf_trace_frame(ctx, "the client's Hello", k->in.p, flen, HO_FT_HELLO);
  ho_envelope env;
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  int rc = ho_frame_decode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO, k->in.p, flen, &env, &m);
  if (rc != HO_OK)
    return cf_fail(ctx, "HELLO-1 ENV-4", "a valid Hello frame (REQUEST on 0x0000)", "conn#%d: the Hello fails with %s",
                   k->id, ho_errname(rc) ? ho_errname(rc) : "?");
  k->hello = m.hello;
  k->caps = m.hello.client_capabilities;
  k->pos = flen;
  if (check_hello(ctx, k, &env) != 0) return -1;
  size_t mlen = strlen(ctx->message);
  /* READY-20: the request behind the Hello exactly when early data is
   * declared, and then with CAP_EARLY_DATA. */
  size_t behind = cf_cb_wait_bytes(ctx, k, mlen, declared(ctx, CF_F_EARLY_DATA) ? 500 : 0);
  bool ed = (k->caps & HO_CAP_EARLY_DATA) != 0;
  k->early = behind > 0;
  if (k->early != ed || k->early != declared(ctx, CF_F_EARLY_DATA))
    return cf_fail(ctx, "READY-20", "the client writes its request behind the Hello only when early data is "
                   "declared, and then sets CAP_EARLY_DATA",
                   "conn#%d: %zu bytes behind the Hello, CAP_EARLY_DATA %s, early-data %s", k->id, behind,
                   ed ? "set" : "clear", declared(ctx, CF_F_EARLY_DATA) ? "declared" : "not declared");
  return 0;
}

int cf_cb_write(cf_ctx *ctx, cf_cconn *k, const void *p, size_t n, const char *what) {
  char who[96];
  snprintf(who, sizeof who, "runner -> client conn#%d: %s", k->id, what);
  cf_trace_bytes(ctx, who, p, n);
  if (cf_sock_write(k->fd, p, n, 1000) == 0) return 0;
  cf_trace_note(ctx, "conn#%d: write: %s", k->id, strerror(errno));
  return errno == EPIPE || errno == ECONNRESET ? 0 : cf_error(ctx, "write to the client: %s", strerror(errno));
}

/* A frame of `kind` on `protocol` around payload p, to the client or out. */
static int emit(cf_ctx *ctx, cf_cconn *k, uint32_t kind, uint32_t protocol, uint64_t rid, const cf_buf *p,
                const cf_buf *extra, cf_buf *out, const char *what) {
  cf_frame f;
  cf_frame_init(&f, kind, protocol, p->p, p->len);
  f.request_id = rid;
  if (extra != NULL) {
    f.extra = extra->p;
    f.extra_len = extra->len;
  }
  cf_buf b = {0};
  int rc = cf_frame_build(&f, &b);
  if (rc == 0 && out != NULL) {
    cf_trace_note(ctx, "%s (%zu bytes, written later)", what, b.len);
    cf_buf_put(out, b.p, b.len);
  } else if (rc == 0) {
    rc = cf_cb_write(ctx, k, b.p, b.len, what);
  }
  cf_buf_free(&b);
  return rc == 0 ? 0 : -1;
}

int cf_cb_negotiated(cf_ctx *ctx, cf_cconn *k, const cf_neg *n, cf_buf *out) {
  const char *pipe = n->pipe ? n->pipe : ctx->ep_pipe;
  cf_buf neg = {0}, reply = {0}, extra = {0};
  pb_uint(&neg, 1, n->protocol ? n->protocol : 1);
  pb_bytes(&neg, 2, "handoff-conform", 15);
  if (pipe[0]) pb_bytes(&neg, 3, pipe, strlen(pipe));
  pb_uint(&neg, 5, n->caps);
  pb_uint(&neg, 6, 1800);
  if (n->token != NULL) pb_bytes(&neg, 7, n->token, n->token_len);
  pb_uint(&neg, 8, (uint64_t)++cf_cb_of(ctx)->nconn + 100);
  if (n->unknown_field) pb_bytes(&neg, 15, "future", 6); /* a field of a later revision (MSG-1) */
  pb_bytes(&reply, 1, neg.p, neg.len);
  if (n->unknown_field) pb_key(&extra, 16, 0), pb_varint(&extra, 7); /* an unknown Frame field */
  char what[96];
  snprintf(what, sizeof what, "Negotiated%s caps 0x%llx", n->token ? " with a token," : ",", (unsigned long long)n->caps);
  int rc = emit(ctx, k, n->as_request ? HO_KIND_REQUEST : HO_KIND_RESPONSE,
                n->on_handoff ? HO_PAYLOAD_HANDOFF : HO_PAYLOAD_HELLO, 0, &reply, &extra, out, what);
  cf_buf_free(&neg);
  cf_buf_free(&reply);
  cf_buf_free(&extra);
  return rc;
}

int cf_cb_refused(cf_ctx *ctx, cf_cconn *k, uint32_t code, const char *reason) {
  cf_buf ref = {0}, reply = {0};
  pb_bytes(&ref, 1, reason, strlen(reason));
  pb_uint(&ref, 2, 1);
  pb_uint(&ref, 3, 1);
  pb_uint(&ref, 4, code);
  pb_bytes(&reply, 2, ref.p, ref.len);
  int rc = emit(ctx, k, HO_KIND_RESPONSE, HO_PAYLOAD_HELLO, 0, &reply, NULL, NULL, "Refused");
  cf_buf_free(&ref);
  cf_buf_free(&reply);
  return rc;
}

int cf_cb_ready(cf_ctx *ctx, cf_cconn *k, const uint8_t token[16], uint64_t corr, int bug, cf_buf *out) {
  cf_buf p = {0};
  uint8_t t[16];
  memcpy(t, token, 16);
  if (bug == CF_RDY_TOKEN) t[5] ^= 0x33;
  if (bug == CF_RDY_MALFORMED) {
    static const uint8_t junk[] = {0x0a, 0x20, 0x01};
    cf_buf_put(&p, junk, sizeof junk);
  } else {
    pb_bytes(&p, 1, t, 16);
    if (bug != CF_RDY_REFUSED) pb_uint(&p, 2, 1);
    if (bug == CF_RDY_REFUSED) pb_bytes(&p, 3, "OVERLOADED", 10);
    pb_uint(&p, 4, corr);
  }
  uint32_t kind = bug == CF_RDY_KIND ? HO_KIND_RESPONSE : HO_KIND_EVENT;
  uint32_t proto = bug == CF_RDY_PROTOCOL ? HO_PAYLOAD_HELLO : HO_PAYLOAD_HANDOFF;
  int rc = emit(ctx, k, kind, proto, bug == CF_RDY_REQID ? corr + 1 : corr, &p, NULL, out,
                bug ? "a ready frame with a defect" : "ready");
  cf_buf_free(&p);
  return rc;
}

int cf_cb_serve(cf_ctx *ctx, cf_cconn *k, int timeout_ms, const char *reqs) {
  size_t n = strlen(ctx->message);
  size_t got = cf_cb_wait_bytes(ctx, k, n, timeout_ms);
  const char *exp = "the client sends {message} as its request, once";
  if (got < n)
    return (k->eof ? cf_fail : cf_fail_wait)(ctx, reqs, exp, "conn#%d: %zu of %zu request bytes%s", k->id, got, n,
                                             k->eof ? ", then the client closed" : " within the time allowed");
  if (memcmp(k->in.p + k->pos, ctx->message, n) != 0)
    return cf_fail(ctx, reqs, exp, "conn#%d: the client sent other bytes than {message}", k->id);
  k->pos += n;
  cf_cb_of(ctx)->served++;
  cf_trace_note(ctx, "the runner's backend serves the request on conn#%d (%s); echo", k->id,
                k->pipe ? "backend_pipe" : "the handed-off connection");
  return cf_cb_write(ctx, k, ctx->message, n, "echo");
}

int cf_cb_pipe(cf_ctx *ctx, cf_cconn *k, int timeout_ms, const char *reqs) {
  if (accept_on(ctx, cf_cb_of(ctx)->lpipe, k, timeout_ms, true) != 0)
    return cf_fail_wait(ctx, reqs, "the client reconnects to Negotiated.backend_pipe and sends its request there",
                        "no connection on backend_pipe within %d ms", timeout_ms);
  return cf_cb_serve(ctx, k, 2000, reqs);
}

int cf_cb_pipe_pending(cf_ctx *ctx, int timeout_ms) {
  int n = 0;
  cf_cconn k;
  while (accept_on(ctx, cf_cb_of(ctx)->lpipe, &k, n ? 0 : timeout_ms, true) == 0) {
    (void)cf_cb_wait_bytes(ctx, &k, 1, 50);
    cf_cb_close(ctx, &k);
    n++;
  }
  return n;
}
