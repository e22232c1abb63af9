/* handoff-conform — client mode: the runner as the broker and the backend
 * of a client SUT. It listens on {client_endpoint} (as the broker) and on
 * its own backend_pipe (the fallback route, named in every Negotiated it
 * writes); on the broker connection it reads exactly the client's Hello,
 * sees what the client writes behind it, writes HelloReplies and ready
 * frames good and bad, and — as the backend the connection was "handed
 * off" to — serves the echo service on it. Every request it serves is
 * counted, on every route: a client must send {message} exactly once.
 *
 * Checks on every Hello (HELLO-1, CAP-8, READY-20): REQUEST on 0x0000,
 * request_id 0, protocol range with 1, service {service}, reserved fields
 * empty; capability bits only as declared (CAP_HANDLE_PASSING with
 * handoff, CAP_BACKEND_READY with backend-ready, CAP_COALESCED_REPLY with
 * coalesced-reply and CAP_BACKEND_READY, no unassigned bit); CAP_EARLY_DATA
 * exactly when the request follows the Hello. */
#ifndef CF_CBROKER_H
#define CF_CBROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "handoff/msg.h"
#include "pb.h"

typedef struct cf_cconn {
  int fd, id;
  bool pipe;   /* accepted on backend_pipe */
  cf_buf in;   /* every byte read */
  size_t pos;  /* bytes taken (Hello, request) */
  bool eof, reset;
  ho_hello hello;
  uint64_t caps; /* client_capabilities of its Hello */
  bool early;    /* the request came right behind the Hello */
} cf_cconn;
#define CF_CCONN0 {.fd = -1}

typedef struct cf_cb {
  int lclient, lpipe;
  int served; /* requests the runner's backend served (both routes) */
  int nconn;
} cf_cb;

cf_cb *cf_cb_of(cf_ctx *ctx);

/* Mode hooks (modes.h). */
int cf_cb_prepare(cf_ctx *ctx);
void cf_cb_finish(cf_ctx *ctx);

/* The client's connection to the broker (timeout_ms: the client starts). */
int cf_cb_accept(cf_ctx *ctx, cf_cconn *k, int timeout_ms);
void cf_cb_close(cf_ctx *ctx, cf_cconn *k);
/* The runner's broker ends the connection (shutdown for writing: the
 * client sees EOF; what it still writes is kept for the verdict). */
void cf_cb_hangup(cf_ctx *ctx, cf_cconn *k);
/* Read exactly one Hello and check it; with early-data declared, wait for
 * the request behind it. 0 or -1 (recorded). */
int cf_cb_hello(cf_ctx *ctx, cf_cconn *k);
/* Write bytes to the client (traced). 0 or -1 (recorded as ERROR). */
int cf_cb_write(cf_ctx *ctx, cf_cconn *k, const void *p, size_t n, const char *what);

/* A Negotiated: token (NULL: none), capabilities, the runner's pipe. The
 * frame goes to *out (appended) instead of the client when out != NULL. */
typedef struct cf_neg {
  const uint8_t *token;
  size_t token_len;  /* 16, or a wrong length */
  uint64_t caps;
  const char *pipe;  /* NULL: the runner's backend_pipe */
  uint32_t protocol; /* 0: 1 */
  bool unknown_field;
  bool as_request;   /* kind REQUEST instead of RESPONSE */
  bool on_handoff;   /* payload protocol 0xD0FF instead of 0x0000 */
} cf_neg;
int cf_cb_negotiated(cf_ctx *ctx, cf_cconn *k, const cf_neg *n, cf_buf *out);
/* A Refused{code} (reason an error name). */
int cf_cb_refused(cf_ctx *ctx, cf_cconn *k, uint32_t code, const char *reason);
/* The ready frame for token/corr, correct or with one defect. */
enum { CF_RDY_OK = 0, CF_RDY_TOKEN, CF_RDY_KIND, CF_RDY_REFUSED, CF_RDY_REQID, CF_RDY_MALFORMED, CF_RDY_PROTOCOL };
int cf_cb_ready(cf_ctx *ctx, cf_cconn *k, const uint8_t token[16], uint64_t corr, int bug, cf_buf *out);

/* Wait until the client has written `n` more bytes than it had (or the
 * connection ends). Returns the bytes beyond k->pos now in k->in. */
size_t cf_cb_wait_bytes(cf_ctx *ctx, cf_cconn *k, size_t n, int timeout_ms);
/* Serve one request on k as the backend: exactly {message}, echoed. 0 or
 * -1 (recorded with reqs). */
int cf_cb_serve(cf_ctx *ctx, cf_cconn *k, int timeout_ms, const char *reqs);
/* The fallback route: accept the client's connection on backend_pipe and
 * serve its request there. */
int cf_cb_pipe(cf_ctx *ctx, cf_cconn *k, int timeout_ms, const char *reqs);
/* Connections waiting on backend_pipe (accepted and read: they count as
 * reconnects). */
int cf_cb_pipe_pending(cf_ctx *ctx, int timeout_ms);

#endif
