/* handoff-conform — cases: the service on both routes, resources, client
 * behaviour around the handoff, capability declarations, security. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asuser.h"
#include "cases.h"
#include "procfs.h"
#include "sut.h"

/* A handoff of the kind the SUT declares, accepted; conn stays open. */
static int adopted(cf_ctx *ctx, cf_ho *h) {
  if (cf_ho_new(ctx, h, CF_CONN_PAIR) != 0) return -1;
  if (cf_has(ctx, CF_F_BACKEND_READY)) cf_ho_flag_ready(h);
  return cf_run_accept(ctx, h);
}

static int backend_pipe_echo(cf_ctx *ctx) { return cf_pipe_echo(ctx, 64, "BACKEND-1"); }

static int large_echo(cf_ctx *ctx) {
  if (cf_pipe_echo(ctx, 256 * 1024, "BACKEND-1") != 0) return -1;
  cf_ho h = CF_HO0;
  int rc = adopted(ctx, &h);
  if (rc == 0) rc = cf_conn_echo(ctx, &h.conn, 256 * 1024, 5000, "BACKEND-1");
  cf_ho_free(ctx, &h);
  return rc;
}

static int many_handoffs(cf_ctx *ctx) {
  /* Warm up (runtimes open descriptors lazily), then count. */
  cf_ho h = CF_HO0;
  int rc = adopted(ctx, &h);
  cf_ho_free(ctx, &h);
  if (rc != 0) return -1;
  cf_sleep_ms(50);
  int before = cf_proc_fd_count(ctx->sut->pgid);
  /* Within a declared replay memory (every accepted token stays in it). */
  long cap = cf_const(ctx->o, CF_K_REPLAY_CAPACITY), n = cap > 0 && cap - 2 < 30 ? cap - 2 : 30;
  cf_trace_note(ctx, "%ld handoffs follow; descriptors before: %d", n, before);
  for (long i = 0; i < n && rc == 0; i++) {
    rc = adopted(ctx, &h);
    cf_ho_free(ctx, &h);
  }
  if (rc != 0) return -1;
  if (cf_pipe_echo(ctx, 64, "BACKEND-1") != 0) return -1;
  int after = before;
  for (int t = 0; t < 100; t++) {
    after = cf_proc_fd_count(ctx->sut->pgid);
    if (after <= before + 2) break;
    cf_sleep_ms(10);
  }
  if (before >= 0 && after > before + 2)
    return cf_fail(ctx, "ERR-1", "descriptors stay flat over many handoffs",
                   "the SUT had %d descriptors before %ld handoffs and %d after all of them ended",
                   before, n, after);
  return 0;
}

static int blocking_descriptor(cf_ctx *ctx) {
  /* The runner passes a descriptor in blocking mode (XFER-25); a backend
   * that reads it as if it were non-blocking blocks on it and stops
   * serving everything else. */
  cf_ho h = CF_HO0;
  /* Legacy (READY-16 for a backend-ready backend): nothing of the flow
   * itself (a ready write) makes the backend touch the descriptor's flags. */
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0 || cf_run_accept(ctx, &h) != 0) return cf_ho_free(ctx, &h), -1;
  cf_trace_note(ctx, "client#%d stays open and idle; other connections must still be served", h.conn.id);
  int rc = cf_pipe_echo(ctx, 64, "XFER-26 ERR-4");
  if (rc == 0) rc = cf_probe_handoff(ctx, "XFER-26 ERR-4");
  if (rc == 0) rc = cf_conn_echo(ctx, &h.conn, 64, 2000, "XFER-26 BACKEND-1");
  cf_ho_free(ctx, &h);
  return rc;
}

static int back_pressure(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (adopted(ctx, &h) != 0) return cf_ho_free(ctx, &h), -1;
  /* The client writes and does not read until both directions are full. */
  size_t sent = 0, cap = 16u << 20;
  uint8_t *buf = malloc(65536);
  if (buf == NULL) return cf_ho_free(ctx, &h), cf_error(ctx, "out of memory");
  cf_nonce(ctx, buf, 65536);
  uint64_t quiet_since = cf_now_ms();
  while (sent < cap && cf_now_ms() - quiet_since < 200) {
    ssize_t w = send(h.conn.c, buf + sent % 65536, 65536 - sent % 65536, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
      sent += (size_t)w;
      quiet_since = cf_now_ms();
    } else {
      cf_sleep_ms(5);
    }
  }
  cf_trace_note(ctx, "client#%d wrote %zu bytes without reading; the SUT is blocked on it", h.conn.id, sent);
  int rc = cf_pipe_echo(ctx, 64, "ERR-4 XFER-19");
  if (rc == 0) rc = cf_probe_handoff(ctx, "ERR-4 XFER-19");
  /* Now read everything back: nothing lost, nothing reordered. */
  size_t got = 0;
  uint64_t deadline = cf_now_ms() + 10000;
  while (rc == 0 && got < sent && cf_now_ms() < deadline) {
    uint8_t in[65536];
    struct pollfd p = {h.conn.c, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    ssize_t r = recv(h.conn.c, in, sizeof in, MSG_DONTWAIT);
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; i++)
      if (in[i] != buf[(got + (size_t)i) % 65536]) {
        rc = cf_fail(ctx, "BACKEND-1", "the echo under back-pressure returns every byte in order",
                     "byte %zu differs", got + (size_t)i);
        break;
      }
    got += (size_t)r;
  }
  if (rc == 0 && got != sent)
    rc = cf_fail_wait(ctx, "BACKEND-1", "the echo under back-pressure returns every byte",
                      "%zu of %zu bytes came back", got, sent);
  free(buf);
  cf_ho_free(ctx, &h);
  return rc;
}

static int hangup_before_adoption(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  close(h.conn.c); /* the client is gone before its connection is handed off */
  h.conn.c = -1;
  h.conn.eof = true;
  cf_ctl c = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c);
  if (rc == 0) rc = cf_ho_send(ctx, &c, &h);
  cf_ho *hs[1] = {&h};
  if (rc == 0) rc = cf_read_acks(ctx, &c, hs, 1, CF_ACK_WAIT_MS);
  cf_ctl_close(ctx, &c);
  if (rc == 0) {
    cf_conn_close_s(ctx, &h.conn);
    cf_trace_note(ctx, "%s: the SUT must release the connection (checked after the case)",
                  h.ack.accepted ? "adopted" : "refused");
    rc = cf_probe_handoff(ctx, "ERR-4");
  }
  cf_ho_free(ctx, &h);
  return rc;
}

static int hangup_after_adoption(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  int rc = adopted(ctx, &h);
  if (rc == 0) {
    close(h.conn.c);
    h.conn.c = -1;
    long pid;
    int fd;
    if (cf_sut_holds(ctx, h.conn.dev, h.conn.ino, 1000, &pid, &fd))
      rc = cf_fail(ctx, "BACKEND-1 ERR-1", "when the client closes, the service closes the adopted connection",
                   "1000 ms after the client closed, pid %ld still holds it as fd %d", pid, fd);
  }
  cf_ho_free(ctx, &h);
  return rc == 0 ? cf_probe_handoff(ctx, "ERR-4") : -1;
}

static int reset_mid_echo(cf_ctx *ctx) {
  cf_ho h = CF_HO0;
  int rc = adopted(ctx, &h);
  if (rc == 0) {
    uint8_t *big = calloc(1, 1u << 20);
    if (big == NULL) return cf_ho_free(ctx, &h), cf_error(ctx, "out of memory");
    size_t off = 0;
    uint64_t end = cf_now_ms() + 300;
    while (off < (1u << 20) && cf_now_ms() < end) {
      ssize_t w = send(h.conn.c, big + off, (1u << 20) - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (w > 0) off += (size_t)w;
      else cf_sleep_ms(2);
    }
    free(big);
    cf_trace_note(ctx, "client#%d wrote %zu bytes and closes without reading (the SUT's writes fail)", h.conn.id, off);
    close(h.conn.c);
    h.conn.c = -1;
    cf_sleep_ms(50);
    rc = cf_probe_handoff(ctx, "ERR-3 ERR-4");
  }
  cf_ho_free(ctx, &h);
  return rc;
}

/* Both ACK kinds, with the capability bits the declarations imply. */
static int ack_caps(cf_ctx *ctx, bool need_multi) {
  cf_ho a = CF_HO0, r = CF_HO0;
  if (cf_ho_new(ctx, &a, CF_CONN_PAIR) != 0 || cf_ho_new(ctx, &r, CF_CONN_PAIR) != 0) return -1;
  r.sideband[3] ^= 0x5a;
  cf_ctl c1 = CF_CTL0, c2 = CF_CTL0;
  int rc = cf_ctl_open(ctx, &c1);
  if (rc == 0) rc = cf_ho_send(ctx, &c1, &a);
  if (rc == 0) rc = cf_expect_accept(ctx, &c1, &a);
  cf_ctl_close(ctx, &c1);
  cf_ho_probe(ctx, &r);
  if (rc == 0) rc = cf_ctl_open(ctx, &c2);
  if (rc == 0) rc = cf_ho_send(ctx, &c2, &r);
  if (rc == 0) rc = cf_expect_refuse(ctx, &c2, &r, "SIDEBAND_MISMATCH");
  cf_ctl_close(ctx, &c2);
  if (rc == 0 && need_multi) {
    const cf_ho *both[2] = {&a, &r};
    for (int i = 0; i < 2 && rc == 0; i++)
      if (!(both[i]->ack.caps & HO_BACKEND_CAP_MULTI_OFFER))
        rc = cf_fail(ctx, "CAP-10", "every ACK (accepting and refusing) sets BACKEND_CAP_MULTI_OFFER",
                     "the %s ACK has backend_capabilities 0x%llx", i ? "refusing" : "accepting",
                     (unsigned long long)both[i]->ack.caps);
  }
  cf_ho_free(ctx, &a);
  cf_ho_free(ctx, &r);
  return rc;
}

static int caps_ready_bit(cf_ctx *ctx) { return ack_caps(ctx, false); }
static int caps_multi_bit(cf_ctx *ctx) { return ack_caps(ctx, true); }

static int tokens_not_logged(cf_ctx *ctx) {
  /* Accepted, refused and dropped handoffs; the post-case check searches
   * the SUT's whole output for every token of the case. */
  if (caps_ready_bit(ctx) != 0) return -1;
  cf_ho h = CF_HO0;
  if (cf_ho_new(ctx, &h, CF_CONN_PAIR) != 0) return -1;
  h.offer.request_id = h.offer.corr + 1;
  int rc = cf_run_violation(ctx, &h, "ERR-47");
  cf_ho_free(ctx, &h);
  return rc;
}

/* spec: SEC-4 — a control connection from another user is closed without
 * reading an offer or accepting a descriptor. */
static int other_uid(cf_ctx *ctx) {
  int fd = cf_connect_as_nobody(ctx, ctx->ep_handoff);
  if (fd < 0) return -1;
  cf_ctl c = CF_CTL0;
  memset(&c, 0, sizeof c);
  c.fd = fd;
  c.id = ++ctx->nctl;
  c.rbuf = malloc(CF_CTL_RBUF);
  if (c.rbuf == NULL) return cf_error(ctx, "out of memory");
  cf_trace_note(ctx, "ctl#%d: the connection made as another user", c.id);
  cf_ho ho = CF_HO0;
  int rc = cf_ho_new(ctx, &ho, CF_CONN_PAIR);
  if (rc == 0) cf_ho_probe(ctx, &ho);
  ctx->tolerate_close = true; /* the SUT may close before the runner has sent it all */
  if (rc == 0) rc = cf_ho_send(ctx, &c, &ho);
  ctx->tolerate_close = false;
  if (rc > 0) rc = 0;
  if (rc == 0) rc = cf_expect_violation(ctx, &c, &ho, CF_CLOSE_WAIT_MS, "SEC-4");
  cf_ctl_close(ctx, &c);
  cf_ho_free(ctx, &ho);
  return rc;
}

static const cf_case cases[] = {
    {.id = "backend.service.backend-pipe",
     .spec = "spec: BACKEND-1",
     .does = "connects to backend_pipe and sends a nonce",
     .expect = "the nonce comes back (the fallback route serves the conformance service)",
     .run = backend_pipe_echo},
    {.id = "backend.service.large-echo",
     .spec = "spec: BACKEND-1",
     .does = "256 KiB through backend_pipe and through an adopted connection",
     .expect = "both routes echo every byte, in order, with the same limits",
     .run = large_echo},
    {.id = "backend.service.many-handoffs",
     .spec = "spec: ERR-1 XFER-1 BACKEND-1",
     .does = "31 handoffs (fewer if the declared replay memory is smaller), one after the other, each served and closed",
     .expect = "every one is served; the SUT's descriptor count is flat afterwards",
     .no_mutant = "a leak that survives the per-handoff inode checks (memory, unrelated "
                  "descriptors) is not modelled by a mutant",
     .run = many_handoffs},
    {.id = "backend.service.blocking-descriptor",
     .spec = "spec: XFER-26 XFER-25 ERR-4",
     .does = "hands off a descriptor in blocking mode (as XFER-25 requires), leaves it idle, "
             "then uses backend_pipe and a second handoff",
     .expect = "the backend sets the flags it needs itself: nothing blocks on the idle connection",
     .run = blocking_descriptor},
    {.id = "backend.service.back-pressure",
     .spec = "spec: ERR-4 XFER-19 BACKEND-1",
     .does = "the client of an adopted connection writes until both directions are full and "
             "does not read; meanwhile backend_pipe and a new handoff are used",
     .expect = "other connections are served at once; afterwards every byte comes back in order",
     .run = back_pressure},
    {.id = "backend.client.hangup-before-adoption",
     .spec = "spec: ERR-1 ERR-3 ERR-4",
     .does = "the client closes its end before the broker hands the connection off",
     .expect = "one ACK (either way); the SUT releases the connection and keeps serving",
     .run = hangup_before_adoption},
    {.id = "backend.client.hangup-after-adoption",
     .spec = "spec: BACKEND-1 ERR-1",
     .does = "after an echo on the adopted connection, the client closes",
     .expect = "the SUT closes the adopted connection within 1 s",
     .run = hangup_after_adoption},
    {.id = "backend.client.reset-mid-echo",
     .spec = "spec: ERR-3 ERR-4",
     .does = "the client writes 1 MiB on an adopted connection and closes without reading",
     .expect = "the SUT's failing writes do not end it (EPIPE, no SIGPIPE death); it keeps serving",
     .run = reset_mid_echo},
    {.id = "backend.caps.backend-ready-bit",
     .spec = "spec: CAP-7 CAP-2 XFER-17 XFER-18",
     .does = "one accepted and one refused offer",
     .expect = "BACKEND_CAP_BACKEND_READY in every ACK exactly when backend-ready is declared; "
               "no unassigned bit; error_detail empty / an error name",
     .run = caps_ready_bit},
    {.id = "backend.caps.multi-offer-bit",
     .spec = "spec: CAP-10",
     .needs = CF_F_MULTI_OFFER,
     .does = "one accepted and one refused offer",
     .expect = "BACKEND_CAP_MULTI_OFFER in every ACK, accepting and refusing",
     .run = caps_multi_bit},
    {.id = "backend.security.other-uid-control",
     .spec = "spec: SEC-4",
     .does = "opens a control connection as another user (nobody) and sends a handoff on it",
     .expect = "the SUT closes it without reading an offer or keeping the descriptor",
     .run = other_uid},
    {.id = "backend.security.tokens-not-logged",
     .spec = "spec: SEC-8 ERR-2",
     .does = "accepted, refused and dropped handoffs, then searches the SUT's output",
     .expect = "no token (raw, hex, or 8 of its bytes in hex) in anything the SUT printed",
     .run = tokens_not_logged},
};
CF_TABLE(cf_cases_service, cases);
