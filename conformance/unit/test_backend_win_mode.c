/* Unit tests: the backend core without a sideband (cfg.no_sideband, the
 * Windows layout: offer frames only, the handle named by
 * HandoffOffer.handle_value and judged by an injected check_handle). Run on
 * Linux with a fake check_handle over real descriptors: the "client
 * connections" are socketpair ends the fake accepts, "our own handles" are
 * descriptors it refuses; every descriptor is checked open or closed
 * afterwards, so a value that failed the check is seen never to be closed.
 * spec: XFER-32 XFER-38 XFER-36 XFER-31 XFER-44 BACKEND-10 BACKEND-11 FRAME-11 ERR-47
 * spec: XFER-15 XFER-14 READY-9 CAP-10 TOKEN-21 */
#include "backend_core_fixtures.h"

#define MAXOK 8

typedef struct fake {
  int ok[MAXOK]; /* descriptors the fake accepts as client connections */
  size_t nok;
  unsigned calls;
  void *last_user;      /* ctl_user seen by the last call */
  uint64_t last_value;
  int force;            /* != HO_OK: answer this instead */
  unsigned closes;      /* close_handle calls */
  int closed[16];
} fake;

static int fake_check(void *ctx, void *ctl_user, uint64_t value, ho_handle *conn) {
  fake *f = ctx;
  f->calls++;
  f->last_user = ctl_user;
  f->last_value = value;
  if (f->force != HO_OK) return f->force;
  if (value == 0) return HO_ERR_NO_DESCRIPTOR;
  for (size_t i = 0; i < f->nok; i++)
    if ((uint64_t)f->ok[i] == value) {
      *conn = (ho_handle)value;
      return HO_OK;
    }
  return HO_ERR_BAD_DESCRIPTOR;
}

static void fake_close(void *ctx, ho_handle h) {
  fake *f = ctx;
  if (f->closes < 16) f->closed[f->closes] = (int)h;
  f->closes++;
  close((int)h);
}

typedef struct wfx {
  fx_core c; /* acts, wall: shared helpers work on it */
  fake fk;
  int user_tag;
} wfx;

static void win_up(wfx *w, ho_ready_mode mode, ho_backend_fault fault) {
  memset(w, 0, sizeof *w);
  w->c.wall = 1000000;
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.ready_mode = mode;
  cfg.fault = fault;
  cfg.replay_capacity = 8;
  cfg.service_name = "echo";
  cfg.wall_clock_ms = fake_wall;
  cfg.wall_clock_ctx = &w->c.wall;
  cfg.close_handle = fake_close;
  cfg.close_ctx = &w->fk;
  cfg.no_sideband = true;
  cfg.check_handle = fake_check;
  cfg.check_ctx = &w->fk;
  cfg.offer_timeout_ms = 500;
  cr_assert_eq(ho_backend_core_new(&cfg, &w->c.core), HO_OK);
  cr_assert_eq(ho_backend_ctl_new(w->c.core, &w->c.ctl), HO_OK);
  ho_backend_ctl_set_user(w->c.ctl, &w->user_tag);
}

static void win_down(wfx *w) {
  ho_backend_ctl_del(w->c.ctl);
  ho_backend_core_del(w->c.core);
}

/* A client connection the fake accepts: sv[0] goes to the backend. */
static int client_conn(wfx *w, int *peer) {
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  cr_assert_lt(w->fk.nok, MAXOK);
  w->fk.ok[w->fk.nok++] = sv[0];
  *peer = sv[1];
  return sv[0];
}

/* An offer frame naming `value` (corr = request_id unless told). */
static size_t offer_frame(uint8_t *out, size_t cap, const uint8_t tok[HO_TOKEN_BYTES], uint64_t corr,
                          uint64_t request_id, uint64_t value, const char *service,
                          uint64_t flags, uint64_t deadline) {
  return offer_frame_named(out, cap, tok, service, corr, value, flags, deadline, request_id);
}

/* Feed `frame` the way a shell does: exactly ho_backend_ctl_wanted() bytes
 * per read (at most `chunk`). */
static void feed_frame(wfx *w, uint64_t now, const uint8_t *frame, size_t len, size_t chunk) {
  size_t off = 0;
  while (off < len) {
    size_t want = ho_backend_ctl_wanted(w->c.ctl);
    cr_assert_gt(want, 0, "the core wants the rest of the offer");
    if (want > chunk) want = chunk;
    if (want > len - off) want = len - off;
    size_t used = 0;
    cr_assert_eq(ho_backend_ctl_feed(w->c.ctl, now, frame + off, want, HO_NO_HANDLE, HO_OK, &used),
                 HO_OK);
    cr_assert_eq(used, want);
    off += used;
  }
}

static bool closed_by_core(const wfx *w, int fd) {
  for (size_t i = 0; i < w->c.nacts; i++)
    if (w->c.acts[i].type == HO_BACKEND_ACT_CLOSE_FD && w->c.acts[i].conn == fd) return true;
  for (unsigned i = 0; i < w->fk.closes && i < 16; i++)
    if (w->fk.closed[i] == fd) return true;
  return false;
}

static const char *offer_verdict(wfx *w, uint64_t value, uint64_t corr, uint8_t tok_seed,
                                 const char *service, char out[HO_MAX_ERROR_DETAIL + 1]) {
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, tok_seed);
  size_t n = offer_frame(fr, sizeof fr, tok, corr, corr, value, service, 0, 0);
  feed_frame(w, 10, fr, n, 4096);
  drain(&w->c);
  ho_ack ack;
  decode_ack(find(&w->c, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert_eq(ack.correlation_id, corr);
  snprintf(out, HO_MAX_ERROR_DETAIL + 1, "%s", ack.accepted ? "" : ack.error_detail);
  return out;
}

Test(backend_win_mode, config_requires_check_handle) {
  ho_backend_config cfg;
  ho_backend_config_init(&cfg);
  cfg.close_handle = fx_close_handle;
  cfg.no_sideband = true;
  ho_backend_core *core = NULL;
  cr_assert_eq(ho_backend_core_new(&cfg, &core), HO_ERR_INVALID_ARGUMENT);
  cr_assert_null(core);
}

/* spec: XFER-31 XFER-32 FRAME-11 CAP-10 — frames only: the first read is the
 * 5-byte header, never 16 sideband bytes; the named handle is adopted, the
 * ACK accepted with MULTI_OFFER, and the next handoff starts at a header. */
Test(backend_win_mode, offer_only_stream_adopts_checked_handle) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  cr_assert_eq(ho_backend_ctl_wanted(w.c.ctl), HO_FRAME_HEADER_BYTES);
  cr_assert_not(ho_backend_ctl_at_sideband(w.c.ctl));
  uint64_t at;
  cr_assert_eq(ho_backend_ctl_next_deadline(w.c.ctl, &at), 0, "no offer in progress yet");
  int peer, conn = client_conn(&w, &peer);
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, 1);
  size_t n = offer_frame(fr, sizeof fr, tok, 7, 7, (uint64_t)conn, "echo", 0, 0);
  feed_frame(&w, 10, fr, n, 1); /* one byte at a time */
  drain(&w.c);
  cr_assert_eq(w.fk.calls, 1);
  cr_assert_eq(w.fk.last_value, (uint64_t)conn);
  cr_assert_eq(w.fk.last_user, &w.user_tag, "check_handle sees the connection's user pointer");
  ho_ack ack;
  decode_ack(find(&w.c, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert(ack.accepted);
  cr_assert_eq(ack.correlation_id, 7);
  cr_assert(ack.backend_capabilities & HO_BACKEND_CAP_MULTI_OFFER);
  const ho_backend_action *ad = find(&w.c, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  cr_assert_eq(ad->conn, conn);
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_CLOSE_FD));
  cr_assert_eq(ho_backend_ctl_wanted(w.c.ctl), HO_FRAME_HEADER_BYTES, "next: a header again");
  close(conn);
  close(peer);
  win_down(&w);
  cr_assert_eq(w.fk.closes, 0);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-32 XFER-38 — 0 is NO_DESCRIPTOR; a value the check refuses
 * (here: a pipe of our own) is BAD_DESCRIPTOR, and neither is closed, not
 * by an action and not by close_handle, not even at ctl_del. */
Test(backend_win_mode, failed_check_is_never_closed) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  char why[HO_MAX_ERROR_DETAIL + 1];
  cr_assert_str_eq(offer_verdict(&w, 0, 1, 1, "echo", why), "NO_DESCRIPTOR");
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_CLOSE_FD));
  int own[2];
  cr_assert_eq(pipe(own), 0);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)own[0], 2, 2, "echo", why), "BAD_DESCRIPTOR");
  cr_assert_not(closed_by_core(&w, own[0]));
  cr_assert(fx_fd_is_open(own[0]), "spec: XFER-32 — it may be one of ours");
  /* pseudo-handle-like and 64-bit values: the fake refuses, the core keeps out */
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)-5, 3, 3, "echo", why), "BAD_DESCRIPTOR");
  cr_assert_str_eq(offer_verdict(&w, 0x100000000ull, 4, 4, "echo", why), "BAD_DESCRIPTOR");
  /* Any other code from the check counts as BAD_DESCRIPTOR. */
  w.fk.force = HO_ERR_IO;
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)own[1], 5, 5, "echo", why), "BAD_DESCRIPTOR");
  w.fk.force = HO_OK;
  ho_backend_counters k;
  ho_backend_core_counters(w.c.core, &k);
  cr_assert_eq(k.refused_by[HO_REFUSAL_NO_DESCRIPTOR], 1);
  cr_assert_eq(k.refused_by[HO_REFUSAL_BAD_DESCRIPTOR], 4);
  cr_assert_eq(k.refused_by[HO_REFUSAL_SIDEBAND_MISMATCH], 0, "no sideband token to compare");
  win_down(&w);
  cr_assert_eq(w.fk.closes, 0);
  cr_assert(fx_fd_is_open(own[0]) && fx_fd_is_open(own[1]));
  close(own[0]);
  close(own[1]);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-32 XFER-15 XFER-14 — a refusal for any other reason closes the
 * checked handle (the backend owns it once the offer is written). */
Test(backend_win_mode, other_refusals_close_the_checked_handle) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  char why[HO_MAX_ERROR_DETAIL + 1];
  int p1, c1 = client_conn(&w, &p1);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)c1, 1, 9, "echo", why), "");
  const ho_backend_action *ad = find(&w.c, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  close((int)ad->conn);
  /* the same token again: a replay */
  int p2, c2 = client_conn(&w, &p2);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)c2, 2, 9, "echo", why), "TOKEN_NOT_PENDING");
  cr_assert(closed_by_core(&w, c2));
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_ADOPT));
  /* a service we do not serve */
  int p3, c3 = client_conn(&w, &p3);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)c3, 3, 10, "other", why), "SERVICE_NAME");
  cr_assert(closed_by_core(&w, c3));
  /* draining */
  cr_assert_eq(ho_backend_core_set_refusing(w.c.core, HO_ERR_DRAINING), HO_OK);
  int p4, c4 = client_conn(&w, &p4);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)c4, 4, 11, "echo", why), "DRAINING");
  cr_assert(closed_by_core(&w, c4));
  close(p1);
  close(p2);
  close(p3);
  close(p4);
  win_down(&w);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: XFER-36 — the handle check comes first: a bad value that is also a
 * replay and names another service is BAD_DESCRIPTOR, and stays open. */
Test(backend_win_mode, handle_check_first_in_refusal_order) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  char why[HO_MAX_ERROR_DETAIL + 1];
  int p1, c1 = client_conn(&w, &p1);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)c1, 1, 20, "echo", why), "");
  close((int)find(&w.c, HO_BACKEND_ACT_ADOPT)->conn);
  int own[2];
  cr_assert_eq(pipe(own), 0);
  cr_assert_str_eq(offer_verdict(&w, (uint64_t)own[1], 2, 20, "other", why), "BAD_DESCRIPTOR");
  cr_assert(fx_fd_is_open(own[1]));
  close(own[0]);
  close(own[1]);
  close(p1);
  win_down(&w);
  cr_assert_eq(w.fk.closes, 0);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-47 XFER-11 — correlation id 0 and request_id != correlation_id
 * close the control connection without an ACK; a handle that passed the
 * check is closed (the offer was complete), one that failed is not. */
Test(backend_win_mode, unanswerable_offers_close_only_checked_handles) {
  int before = fx_count_fds();
  for (int variant = 0; variant < 4; variant++) {
    wfx w;
    win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
    int peer = -1, conn = -1, own[2] = {-1, -1};
    uint64_t value;
    if (variant & 1) {
      cr_assert_eq(pipe(own), 0);
      value = (uint64_t)own[0];
    } else {
      conn = client_conn(&w, &peer);
      value = (uint64_t)conn;
    }
    uint8_t tok[HO_TOKEN_BYTES], fr[512];
    fx_token(tok, 30);
    size_t n = variant < 2 ? offer_frame(fr, sizeof fr, tok, 0, 0, value, "echo", 0, 0)
                           : offer_frame(fr, sizeof fr, tok, 5, 6, value, "echo", 0, 0);
    feed_frame(&w, 10, fr, n, 4096);
    drain(&w.c);
    cr_assert_null(find(&w.c, HO_BACKEND_ACT_WRITE_CONTROL), "no ACK");
    const ho_backend_action *cc = find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL);
    cr_assert_not_null(cc);
    cr_assert_eq(cc->err, variant < 2 ? HO_ERR_CORRELATION_MISMATCH : HO_ERR_REQUEST_ID_MISMATCH);
    if (variant & 1) {
      cr_assert_not(closed_by_core(&w, own[0]));
      cr_assert(fx_fd_is_open(own[0]));
      close(own[0]);
      close(own[1]);
    } else {
      cr_assert(closed_by_core(&w, conn), "the complete offer's handle was ours to close");
      close(peer);
    }
    win_down(&w);
  }
  cr_assert_eq(fx_count_fds(), before);
}

/* A malformed frame: the connection closes, check_handle is never asked
 * (no value can be trusted) and nothing is closed. */
Test(backend_win_mode, malformed_frame_asks_no_check) {
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  const uint8_t junk[] = {1, 3, 0, 0, 0, 0xff, 0xff, 0xff};
  feed_frame(&w, 10, junk, sizeof junk, 4096);
  drain(&w.c);
  cr_assert_not_null(find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL));
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert_eq(w.fk.calls, 0);
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_CLOSE_FD));
  cr_assert_eq(ho_backend_ctl_wanted(w.c.ctl), 0);
  win_down(&w);
  /* A header above the 64 KiB offer cap: refused from the header alone. */
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  const uint8_t big[] = {1, 0x01, 0x00, 0x01, 0x00}; /* 65537 */
  feed_frame(&w, 10, big, sizeof big, 4096);
  drain(&w.c);
  const ho_backend_action *cc = find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL);
  cr_assert_not_null(cc);
  cr_assert_eq(cc->err, HO_ERR_FRAME_TOO_LARGE);
  win_down(&w);
}

/* spec: BACKEND-10 — the clock starts with the first byte of the offer
 * frame; a stalled offer ends with TIMEOUT, no ACK, and (no handle yet)
 * nothing closed; between offers no deadline runs. */
Test(backend_win_mode, stalled_offer_times_out_from_first_frame_byte) {
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, 40);
  size_t n = offer_frame(fr, sizeof fr, tok, 3, 3, 77, "echo", 0, 0), used;
  (void)n;
  cr_assert_eq(ho_backend_ctl_timer(w.c.ctl, 1000000), HO_OK);
  drain(&w.c);
  cr_assert_eq(w.c.nacts, 0, "idle: no deadline");
  cr_assert_eq(ho_backend_ctl_feed(w.c.ctl, 100, fr, 3, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  uint64_t at = 0;
  cr_assert_eq(ho_backend_ctl_next_deadline(w.c.ctl, &at), 1);
  cr_assert_eq(at, 600);
  cr_assert_eq(ho_backend_ctl_timer(w.c.ctl, 599), HO_OK);
  drain(&w.c);
  cr_assert_eq(w.c.nacts, 0);
  cr_assert_eq(ho_backend_ctl_timer(w.c.ctl, 600), HO_OK);
  drain(&w.c);
  const ho_backend_action *cc = find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL);
  cr_assert_not_null(cc);
  cr_assert_eq(cc->err, HO_ERR_TIMEOUT);
  cr_assert_null(find(&w.c, HO_BACKEND_ACT_WRITE_CONTROL));
  cr_assert_eq(w.fk.calls, 0);
  win_down(&w);
}

/* spec: XFER-9 — EOF between offers is a plain close, inside one TRUNCATED. */
Test(backend_win_mode, eof_between_and_inside_offers) {
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  ho_backend_ctl_eof(w.c.ctl);
  drain(&w.c);
  cr_assert_eq(find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL)->err, HO_ERR_CLOSED);
  win_down(&w);
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  const uint8_t part[] = {1, 20};
  size_t used;
  cr_assert_eq(ho_backend_ctl_feed(w.c.ctl, 1, part, 2, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  ho_backend_ctl_eof(w.c.ctl);
  drain(&w.c);
  cr_assert_eq(find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL)->err, HO_ERR_TRUNCATED);
  win_down(&w);
}

/* A descriptor where the layout has none (a transport bug): closed, and
 * the connection with it. */
Test(backend_win_mode, descriptor_in_frame_stream_closes_control) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  const uint8_t b = 1;
  size_t used;
  cr_assert_eq(ho_backend_ctl_feed(w.c.ctl, 1, &b, 1, sv[0], HO_OK, &used), HO_OK);
  drain(&w.c);
  cr_assert(closed_by_core(&w, sv[0]));
  cr_assert_not_null(find(&w.c, HO_BACKEND_ACT_CLOSE_CONTROL));
  close(sv[1]);
  win_down(&w);
  cr_assert_eq(fx_count_fds(), before);
}

/* Two offers back to back: one per feed call (the consumed count says
 * where the second starts), each handle judged on its own. */
Test(backend_win_mode, two_offers_in_one_buffer) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_NONE);
  int p1, c1 = client_conn(&w, &p1), p2, c2 = client_conn(&w, &p2);
  uint8_t t1[HO_TOKEN_BYTES], t2[HO_TOKEN_BYTES], buf[1024];
  fx_token(t1, 50);
  fx_token(t2, 51);
  size_t n1 = offer_frame(buf, sizeof buf, t1, 1, 1, (uint64_t)c1, "echo", 0, 0);
  size_t n2 = offer_frame(buf + n1, sizeof buf - n1, t2, 2, 2, (uint64_t)c2, "echo", 0, 0);
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(w.c.ctl, 1, buf, n1 + n2, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, n1);
  cr_assert_eq(ho_backend_ctl_feed(w.c.ctl, 1, buf + n1, n2, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, n2);
  drain(&w.c);
  int adopted = 0;
  for (size_t i = 0; i < w.c.nacts; i++)
    if (w.c.acts[i].type == HO_BACKEND_ACT_ADOPT) {
      adopted++;
      close((int)w.c.acts[i].conn);
    }
  cr_assert_eq(adopted, 2);
  cr_assert_eq(w.fk.calls, 2);
  close(p1);
  close(p2);
  win_down(&w);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-9 TOKEN-21 — backend-ready mode: the ready frame goes to the
 * checked handle first, then the ACK; afterwards the stream is at a header
 * again. A flagged offer past its deadline is refused and its handle closed. */
Test(backend_win_mode, backend_ready_writes_ready_then_frames_again) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_BACKEND, HO_FAULT_NONE);
  int p1, c1 = client_conn(&w, &p1);
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, 60);
  size_t n = offer_frame(fr, sizeof fr, tok, 9, 9, (uint64_t)c1, "echo",
                         HO_OFFER_FLAG_BACKEND_READY, w.c.wall + 1000);
  feed_frame(&w, 10, fr, n, 4096);
  drain(&w.c);
  const ho_backend_action *wc = find(&w.c, HO_BACKEND_ACT_WRITE_CLIENT);
  cr_assert_not_null(wc);
  cr_assert_eq(wc->conn, c1);
  cr_assert_eq(ho_backend_ctl_wanted(w.c.ctl), 0, "nothing read while the ready write is out");
  cr_assert_eq(ho_backend_ctl_client_written(w.c.ctl, 11, HO_OK), HO_OK);
  drain(&w.c);
  cr_assert_not_null(find(&w.c, HO_BACKEND_ACT_ADOPT));
  close(c1);
  cr_assert_eq(ho_backend_ctl_wanted(w.c.ctl), HO_FRAME_HEADER_BYTES);
  int p2, c2 = client_conn(&w, &p2);
  fx_token(tok, 61);
  n = offer_frame(fr, sizeof fr, tok, 10, 10, (uint64_t)c2, "echo", HO_OFFER_FLAG_BACKEND_READY,
                  w.c.wall);
  feed_frame(&w, 12, fr, n, 4096);
  drain(&w.c);
  ho_ack ack;
  decode_ack(find(&w.c, HO_BACKEND_ACT_WRITE_CONTROL), &ack);
  cr_assert_not(ack.accepted);
  cr_assert_str_eq(ack.error_detail, "TIMEOUT");
  cr_assert(closed_by_core(&w, c2));
  close(p1);
  close(p2);
  win_down(&w);
  cr_assert_eq(fx_count_fds(), before);
}

/* ctl_del with undrained actions releases only handles that passed the
 * check, through close_handle. */
Test(backend_win_mode, del_with_undrained_actions_releases_checked_only) {
  int before = fx_count_fds();
  wfx w;
  win_up(&w, HO_READY_LEGACY, HO_FAULT_REFUSE);
  int p1, c1 = client_conn(&w, &p1);
  int own[2];
  cr_assert_eq(pipe(own), 0);
  uint8_t tok[HO_TOKEN_BYTES], fr[512];
  fx_token(tok, 70);
  size_t n = offer_frame(fr, sizeof fr, tok, 1, 1, (uint64_t)c1, "echo", 0, 0);
  feed_frame(&w, 10, fr, n, 4096);
  fx_token(tok, 71);
  n = offer_frame(fr, sizeof fr, tok, 2, 2, (uint64_t)own[0], "echo", 0, 0);
  feed_frame(&w, 10, fr, n, 4096);
  win_down(&w); /* actions never taken */
  cr_assert_eq(w.fk.closes, 1);
  cr_assert_eq(w.fk.closed[0], c1);
  cr_assert(fx_fd_is_open(own[0]));
  close(own[0]);
  close(own[1]);
  close(p1);
  cr_assert_eq(fx_count_fds(), before);
}
