/* Unit tests: the backend core (issue #17 branch coverage, continued) —
 * the checks of a coalesced offer's two replies, who releases what when a
 * connection is deleted with its actions undrained, and the action queue:
 * growing when the shell does not drain, reusing the room in front, and
 * every action that cannot be queued because the allocator fails (the
 * descriptor is then released with close_handle and the control
 * connection ends: ho_backend_ctl_wanted() is 0). Real descriptors
 * (socketpairs), counted. */
#include "backend_core_fixtures.h"
#include "child_exit.h"
#include "heap_hog.h"

#define NOW 100u

/* ---- coalesced replies (spec: READY-29 ERR-70) --------------------------- */

/* A HelloReply frame: Negotiated (protocol `proto`, pipe `pipe`, `tok` or
 * none) or, with refused set, a Refused. */
static size_t hello_reply(uint8_t *out, size_t cap, const uint8_t *tok, uint32_t proto,
                          const char *pipe, bool refused) {
  ho_any_msg m;
  memset(&m, 0, sizeof m);
  if (refused) {
    m.hello_reply.which = HO_REPLY_REFUSED;
    strcpy(m.hello_reply.refused.reason, "no");
  } else {
    m.hello_reply.which = HO_REPLY_NEGOTIATED;
    m.hello_reply.negotiated.negotiated_protocol = proto;
    strcpy(m.hello_reply.negotiated.backend_pipe, pipe);
    m.hello_reply.negotiated.server_capabilities = HO_CAP_HANDLE_PASSING | HO_CAP_COALESCED_REPLY;
    if (tok != NULL) {
      memcpy(m.hello_reply.negotiated.handle_passed_token, tok, HO_TOKEN_BYTES);
      m.hello_reply.negotiated.handle_passed_token_len = HO_TOKEN_BYTES;
    }
  }
  size_t n = 0;
  cr_assert_eq(ho_frame_encode(HO_CODEC_PROTOBUF_C, HO_FT_HELLO_REPLY, &m, out, cap, &n), HO_OK);
  return n;
}

typedef void (*spoil_fn)(ho_offer *o, const uint8_t *tok);

static void adopted_without_token(ho_offer *o, const uint8_t *tok) {
  (void)tok;
  o->reply_adopted_len = hello_reply(o->reply_adopted, sizeof o->reply_adopted, NULL, 1, "/run/e",
                                     false);
}
static void declined_refused(ho_offer *o, const uint8_t *tok) {
  (void)tok;
  o->reply_declined_len = hello_reply(o->reply_declined, sizeof o->reply_declined, NULL, 0, "",
                                      true);
}
static void adopted_protocol_2(ho_offer *o, const uint8_t *tok) {
  o->reply_adopted_len = hello_reply(o->reply_adopted, sizeof o->reply_adopted, tok, 2, "/run/e",
                                     false);
}
static void declined_no_pipe(ho_offer *o, const uint8_t *tok) {
  (void)tok;
  o->reply_declined_len = hello_reply(o->reply_declined, sizeof o->reply_declined, NULL, 1, "",
                                      false);
}
static void declined_bad_framing_version(ho_offer *o, const uint8_t *tok) {
  (void)tok;
  o->reply_declined[0] = 2; /* length still right: the frame itself does not decode */
}
static void adopted_garbage_body(ho_offer *o, const uint8_t *tok) {
  (void)tok;
  memset(o->reply_adopted + HO_FRAME_HEADER_BYTES, 0xFF, o->reply_adopted_len - HO_FRAME_HEADER_BYTES);
}

/* A valid coalesced offer for `tok` (spoil may change it), framed with
 * `deadline` into frame; returns the frame's length. */
static size_t coalesced_frame(uint8_t *frame, size_t cap, const uint8_t *tok, uint64_t corr,
                              uint64_t deadline, spoil_fn spoil) {
  ho_offer o;
  memset(&o, 0, sizeof o);
  memcpy(o.token, tok, HO_TOKEN_BYTES);
  strcpy(o.service_name, "echo");
  o.correlation_id = corr;
  o.offer_flags = HO_OFFER_FLAG_BACKEND_READY | HO_OFFER_FLAG_COALESCED_REPLY;
  o.reply_adopted_len = hello_reply(o.reply_adopted, sizeof o.reply_adopted, tok, 1, "/run/e", false);
  o.reply_declined_len = hello_reply(o.reply_declined, sizeof o.reply_declined, NULL, 1, "/run/e",
                                     false);
  if (spoil != NULL) spoil(&o, tok);
  return offer_frame_of(frame, cap, &o, deadline, corr);
}

/* A coalesced offer, spoiled, is refused MALFORMED: the descriptor closed
 * without a write (no DECLINE: its reply is not trusted), the control kept. */
static void expect_reply_malformed(spoil_fn spoil, unsigned seed) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, (uint8_t)seed);
  static uint8_t frame[12000];
  uint64_t corr = 40 + seed;
  size_t n = coalesced_frame(frame, sizeof frame, tok, corr, f.wall + 1000, spoil);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n);
  expect_refusal(&f, "MALFORMED", corr);
  cr_assert_null(find(&f, HO_BACKEND_ACT_DECLINE), "seed %u: nothing written", seed);
  const ho_backend_action *cf = find(&f, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_not_null(cf);
  cr_assert_eq(cf->conn, sv[0]);
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.refused_by[HO_REFUSAL_REPLY_MALFORMED], 1u);
  close(sv[1]);
  core_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

Test(backend_core_cov2, adopted_reply_without_the_token_is_malformed) {
  expect_reply_malformed(adopted_without_token, 50);
}
Test(backend_core_cov2, declined_reply_that_is_a_refusal_is_malformed) {
  expect_reply_malformed(declined_refused, 51);
}
Test(backend_core_cov2, reply_of_another_protocol_version_is_malformed) {
  expect_reply_malformed(adopted_protocol_2, 52);
}
Test(backend_core_cov2, reply_without_a_backend_pipe_is_malformed) {
  expect_reply_malformed(declined_no_pipe, 53);
}
Test(backend_core_cov2, reply_frame_of_another_framing_version_is_malformed) {
  expect_reply_malformed(declined_bad_framing_version, 54);
}
Test(backend_core_cov2, reply_frame_with_an_undecodable_body_is_malformed) {
  expect_reply_malformed(adopted_garbage_body, 55);
}

/* ---- deleting a connection with its actions undrained -------------------- */

/* ctl_del with actions undrained released sv[0] and nothing else, exactly
 * once (`why` says which case); then the core goes and nothing leaked. */
static void expect_del_released_once(fx_core *f, const fx_closes *c, const int sv[2],
                                     const char *why, int before) {
  ho_backend_ctl_del(f->ctl);
  cr_assert_eq(fx_times_closed(c, sv[0]), 1u, "%s", why);
  cr_assert_eq(c->n, 1u);
  ho_backend_core_del(f->core);
  close(sv[1]);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-4 — every descriptor is released exactly once: a backend-ready
 * offer whose WRITE_CLIENT was never taken holds one descriptor, in the
 * action and as the offer waiting for its write. */
Test(backend_core_cov2, del_with_an_undrained_ready_write_releases_it_once) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  feed_ready_offer(&f, NOW, 8, 14, tok, sv);
  /* OFFER and WRITE_CLIENT still queued */
  expect_del_released_once(&f, &c, sv, "released once, not twice", before);
}

/* The same after the shell reported the write but drained nothing: the
 * descriptor is in the ADOPT action only. */
Test(backend_core_cov2, del_after_the_write_report_releases_it_once) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  feed_ready_offer(&f, NOW, 9, 15, tok, sv);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, NOW, HO_OK), HO_OK);
  /* WRITE_CLIENT, WRITE_CONTROL and ADOPT queued */
  expect_del_released_once(&f, &c, sv, "released once, not twice", before);
}

/* A refused coalesced offer's DECLINE owns the descriptor (the shell closes
 * it after the write): undrained, ctl_del releases it. */
Test(backend_core_cov2, del_with_an_undrained_decline_releases_it) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  core_up_with(&f, &c, HO_READY_BACKEND, NULL);
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_DRAINING), HO_OK);
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 10);
  static uint8_t frame[12000];
  size_t n = coalesced_frame(frame, sizeof frame, tok, 16, f.wall + 1000, NULL);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n);
  /* OFFER, DECLINE and the refusing ACK queued */
  expect_del_released_once(&f, &c, sv, "the declined connection is released", before);
}

/* ---- the action queue ------------------------------------------------------ */

/* An allocator that can be told to fail from now on; counts what is live. */
typedef struct gate {
  size_t allocs, live;
  bool fail;
} gate;

static gate g;

static void *g_alloc(void *ctx, size_t n) {
  gate *x = ctx;
  if (x->fail) return NULL;
  void *p = malloc(n);
  if (p != NULL) {
    x->allocs++;
    x->live++;
  }
  return p;
}

static void g_free(void *ctx, void *p) {
  gate *x = ctx;
  if (p == NULL) return;
  x->live--;
  free(p);
}

static const ho_allocator g_al = {g_alloc, g_free, &g};

static void gated(ho_backend_config *cfg) { cfg->allocator = &g_al; }

static void gated_up(fx_core *f, fx_closes *c, ho_ready_mode mode) {
  memset(&g, 0, sizeof g);
  core_up_with(f, c, mode, gated);
}

static void gated_down(fx_core *f) {
  g.fail = false;
  core_down(f);
  cr_assert_eq(g.live, 0u, "every block given back");
}

/* Queue exactly k + 3 actions, undrained: an offer whose sideband brought
 * 1 + k descriptors (k >= 1), one per read: k CLOSE_FD for the extra ones,
 * then OFFER, CLOSE_FD and the EXTRA_DESCRIPTORS refusal (spec: XFER-28).
 * The peers go to peers[0..k]. */
static void pad(fx_core *f, unsigned k, uint8_t seed, int *peers) {
  cr_assert(k >= 1 && k < HO_TOKEN_BYTES);
  uint8_t tok[HO_TOKEN_BYTES], frame[512];
  fx_token(tok, seed);
  for (unsigned i = 0; i <= k; i++) {
    int sv[2];
    fx_socketpair(SOCK_STREAM, sv);
    peers[i] = sv[1];
    size_t n = i < k ? 1 : HO_TOKEN_BYTES - k, used = 0;
    cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, tok + i, n, sv[0], HO_OK, &used), HO_OK);
    cr_assert_eq(used, n);
  }
  size_t n = offer_with_deadline(frame, sizeof frame, tok, 200 + seed, 0, 0, 200 + seed), used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, frame, n, HO_NO_HANDLE, HO_OK, &used), HO_OK);
  cr_assert_eq(used, n);
}

static void close_peers(const int *peers, unsigned n) {
  for (unsigned i = 0; i < n; i++) close(peers[i]);
}

/* The end of a test with padding peers: the client end sv1 and the first
 * n peers closed, the core gone with every block, no descriptor leaked. */
static void peers_end(fx_core *f, int sv1, const int *peers, unsigned n, int before) {
  close(sv1);
  close_peers(peers, n);
  gated_down(f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: ERR-4 — a shell that does not drain after every call loses
 * nothing: the queue grows (one allocation) and hands every action back in
 * order. */
Test(backend_core_cov2, the_queue_grows_when_not_drained) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_LEGACY);
  size_t allocs = g.allocs;
  int peers[8];
  pad(&f, 6, 60, peers); /* 9 actions > the 8 of a new queue */
  cr_assert_eq(g.allocs, allocs + 1, "one larger queue");
  drain(&f);
  cr_assert_eq(f.nacts, 9u);
  for (unsigned i = 0; i < 6; i++) cr_assert_eq(f.acts[i].type, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_eq(f.acts[6].type, HO_BACKEND_ACT_OFFER);
  cr_assert_eq(f.acts[7].type, HO_BACKEND_ACT_CLOSE_FD);
  cr_assert_eq(f.acts[8].type, HO_BACKEND_ACT_WRITE_CONTROL);
  ho_ack a = first_ack(&f);
  cr_assert_not(a.accepted);
  cr_assert_str_eq(a.error_detail, "EXTRA_DESCRIPTORS");
  close_peers(peers, 7);
  gated_down(&f);
  cr_assert_eq(c.n, 0u);
  cr_assert_eq(fx_count_fds(), before);
}

/* A full queue whose front was drained moves its actions forward instead
 * of allocating. */
Test(backend_core_cov2, a_full_queue_reuses_the_room_in_front) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_LEGACY);
  int peers[8];
  pad(&f, 4, 61, peers); /* 7 actions */
  ho_backend_action a;
  for (int i = 0; i < 2; i++) {
    cr_assert_eq(ho_backend_ctl_next_action(f.ctl, &a), 1);
    cr_assert_eq(a.type, HO_BACKEND_ACT_CLOSE_FD);
    close((int)a.conn);
  }
  size_t allocs = g.allocs;
  uint8_t tok[HO_TOKEN_BYTES], frame[512];
  fx_token(tok, 62);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  size_t n = offer_with_deadline(frame, sizeof frame, tok, 62, 0, 0, 62);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n); /* OFFER, ACK, ADOPT: 10 in all, 2 taken */
  cr_assert_eq(g.allocs, allocs, "no allocation");
  drain(&f);
  cr_assert_eq(f.nacts, 8u);
  static const ho_backend_act_type want[] = {
      HO_BACKEND_ACT_CLOSE_FD, HO_BACKEND_ACT_CLOSE_FD,      HO_BACKEND_ACT_OFFER,
      HO_BACKEND_ACT_CLOSE_FD, HO_BACKEND_ACT_WRITE_CONTROL, HO_BACKEND_ACT_OFFER,
      HO_BACKEND_ACT_WRITE_CONTROL, HO_BACKEND_ACT_ADOPT};
  for (unsigned i = 0; i < 8; i++) cr_assert_eq(f.acts[i].type, want[i], "action %u", i);
  cr_assert_eq(f.acts[7].conn, sv[0]);
  cr_assert(f.acts[6].accepted);
  close(sv[0]);
  peers_end(&f, sv[1], peers, 5, before);
}

/* Feed an offer with the allocator failing from its first body byte (the
 * frame reader's buffer, if the offer needs one, is taken before). */
static void feed_failing(fx_core *f, const uint8_t *tok, ho_handle conn, const uint8_t *frame,
                         size_t n) {
  size_t used = 0;
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, tok, HO_TOKEN_BYTES, conn, HO_OK, &used), HO_OK);
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, frame, HO_FRAME_HEADER_BYTES, HO_NO_HANDLE, HO_OK,
                                   &used),
               HO_OK);
  g.fail = true;
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, frame + HO_FRAME_HEADER_BYTES,
                                   n - HO_FRAME_HEADER_BYTES, HO_NO_HANDLE, HO_OK, &used),
               HO_OK);
  cr_assert_eq(used, n - HO_FRAME_HEADER_BYTES);
}

/* After an action could not be queued: the descriptor was released once
 * with close_handle, the control connection is over (wanted 0, more input
 * a state error) and the queue holds exactly the `queued` actions before. */
static void expect_released(fx_core *f, fx_closes *c, int conn, size_t queued) {
  cr_assert_eq(fx_times_closed(c, conn), 1u, "released once");
  cr_assert_eq(c->n, 1u);
  cr_assert_eq(ho_backend_ctl_wanted(f->ctl), 0u, "the control connection ends");
  uint8_t b[1] = {0};
  cr_assert_eq(ho_backend_ctl_feed(f->ctl, NOW, b, 1, HO_NO_HANDLE, HO_OK, NULL), HO_ERR_STATE);
  drain(f);
  cr_assert_eq(f->nacts, queued);
  cr_assert_null(find(f, HO_BACKEND_ACT_ADOPT));
  cr_assert_null(find(f, HO_BACKEND_ACT_WRITE_CLIENT));
  cr_assert_null(find(f, HO_BACKEND_ACT_DECLINE));
}

/* An offer for token seed `seed` (correlation and request id `seed`;
 * backend-ready flags carry the deadline wall + 1000) with sv[0] of a new
 * socketpair, fed while the allocator fails: released, 8 actions queued. */
static void offer_fails(fx_core *f, fx_closes *c, uint8_t seed, uint64_t flags,
                        uint8_t tok[HO_TOKEN_BYTES], int sv[2]) {
  uint8_t frame[512];
  fx_token(tok, seed);
  fx_socketpair(SOCK_STREAM, sv);
  size_t n = offer_with_deadline(frame, sizeof frame, tok, seed, flags,
                                 flags != 0 ? f->wall + 1000 : 0, seed);
  feed_failing(f, tok, sv[0], frame, n);
  expect_released(f, c, sv[0], 8);
}

/* spec: ERR-4 — the queue is full and cannot grow: nothing of the offer
 * is queued (not even its note or ACK); the descriptor is released. */
Test(backend_core_cov2, nothing_queued_releases_the_descriptor) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_LEGACY);
  int peers[8];
  pad(&f, 5, 63, peers); /* 8: full */
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  offer_fails(&f, &c, 64, 0, tok, sv);
  cr_assert_null(find(&f, HO_BACKEND_ACT_CLOSE_CONTROL), "could not be queued either");
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.offers, 2u);
  cr_assert_eq(k.accepted, 0u, "no ACK was built");
  cr_assert_eq(k.adopted, 0u);
  peers_end(&f, sv[1], peers, 6, before);
}

/* spec: XFER-16 — room for the accepting ACK but not for the ADOPT behind
 * it: neither is queued (no "accepted" for a connection the backend then
 * closes), the descriptor is released and the control connection ends, so
 * the broker falls back. */
Test(backend_core_cov2, adopt_not_queued_releases_the_descriptor) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_LEGACY);
  int peers[8];
  pad(&f, 3, 65, peers); /* 6 */
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  offer_fails(&f, &c, 66, 0, tok, sv);
  cr_assert_eq(f.acts[6].type, HO_BACKEND_ACT_OFFER);
  cr_assert_eq(f.acts[7].type, HO_BACKEND_ACT_CLOSE_CONTROL, "no ACK: the control connection ends");
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.accepted, 0u, "no accepting ACK was built");
  cr_assert_eq(k.adopted, 0u);
  peers_end(&f, sv[1], peers, 4, before);
}

/* spec: READY-12 TOKEN-19 — the ready write cannot be queued: the offer is
 * refused READY_WRITE (its ACK cannot be queued either), the descriptor
 * released, and the token stays recorded. */
Test(backend_core_cov2, ready_write_not_queued_releases_the_descriptor) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_BACKEND);
  int peers[8];
  pad(&f, 4, 67, peers); /* 7 */
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  offer_fails(&f, &c, 68, HO_OFFER_FLAG_BACKEND_READY, tok, sv);
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.refused_by[HO_REFUSAL_READY_WRITE], 1u);
  close(sv[1]);
  close_peers(peers, 5);
  /* the same token on a new connection: a replay */
  g.fail = false;
  ho_backend_ctl_del(f.ctl);
  cr_assert_eq(ho_backend_ctl_new(f.core, &f.ctl), HO_OK);
  fx_socketpair(SOCK_STREAM, sv);
  uint8_t frame[512];
  size_t n = offer_with_deadline(frame, sizeof frame, tok, 69, HO_OFFER_FLAG_BACKEND_READY,
                                 f.wall + 1000, 69);
  feed_sb_frame(&f, NOW, tok, sv[0], frame, n);
  expect_refusal(&f, "TOKEN_NOT_PENDING", 69);
  close(sv[1]);
  gated_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}

/* spec: READY-29 — the declined reply of a refused coalesced offer cannot
 * be queued: nothing is written, the descriptor is released. */
Test(backend_core_cov2, decline_not_queued_releases_the_descriptor) {
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_BACKEND);
  cr_assert_eq(ho_backend_core_set_refusing(f.core, HO_ERR_DRAINING), HO_OK);
  int peers[8];
  pad(&f, 4, 70, peers); /* 7 */
  uint8_t tok[HO_TOKEN_BYTES];
  fx_token(tok, 71);
  static uint8_t frame[12000];
  size_t n = coalesced_frame(frame, sizeof frame, tok, 71, f.wall + 1000, NULL);
  int sv[2];
  fx_socketpair(SOCK_STREAM, sv);
  feed_failing(&f, tok, sv[0], frame, n);
  expect_released(&f, &c, sv[0], 8);
  ho_backend_counters k = counters_of(&f);
  cr_assert_eq(k.refused_by[HO_REFUSAL_DRAINING], 1u);
  peers_end(&f, sv[1], peers, 5, before);
}

/* ---- an ACK that cannot be encoded ------------------------------------------ */

/* spec: ERR-4 ACK-10 — the ACK of an adopted connection cannot be built
 * (the protobuf-c encoder gets no memory): without an ACK the broker cannot
 * be told, so the control connection closes (NOMEM) and the descriptor is
 * closed, not adopted. Shown in a forked child whose heap is exhausted; the
 * parent, unaffected, adopts as usual. */
Test(backend_core_cov2, an_ack_that_cannot_be_encoded_closes_the_control) {
  SKIP_UNDER_ASAN();
  int before = fx_count_fds();
  fx_core f;
  fx_closes c;
  gated_up(&f, &c, HO_READY_BACKEND);
  uint8_t tok[HO_TOKEN_BYTES];
  int sv[2];
  feed_ready_offer(&f, NOW, 80, 80, tok, sv);
  drain(&f);
  cr_assert_not_null(find(&f, HO_BACKEND_ACT_WRITE_CLIENT));
  fflush(NULL);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    hog h;
    int rc = hog_on(&h, 16);
    if (rc != 0) child_exit(rc);
    if (malloc(100) != NULL) child_exit(24); /* heap not exhausted */
    rc = ho_backend_ctl_client_written(f.ctl, NOW, HO_OK);
    hog_off(&h);
    if (rc != HO_OK) child_exit(1);
    ho_backend_action a;
    int close_fd = 0, close_ctl = 0, other = 0;
    while (ho_backend_ctl_next_action(f.ctl, &a)) {
      if (a.type == HO_BACKEND_ACT_CLOSE_FD && a.conn == sv[0]) close_fd++;
      else if (a.type == HO_BACKEND_ACT_CLOSE_CONTROL && a.err == HO_ERR_NOMEM) close_ctl++;
      else other++;
    }
    if (close_fd != 1) child_exit(2);
    if (close_ctl != 1) child_exit(3);
    if (other != 0) child_exit(4); /* no ACK, no ADOPT */
    ho_backend_counters k = counters_of(&f);
    if (k.accepted != 0 || k.adopted != 0) child_exit(5);
    if (ho_backend_ctl_wanted(f.ctl) != 0) child_exit(6);
    child_exit(0);
  }
  child_wait_ok(pid);
  cr_assert_eq(ho_backend_ctl_client_written(f.ctl, NOW, HO_OK), HO_OK);
  drain(&f);
  cr_assert(first_ack(&f).accepted, "with memory: the usual ACK");
  const ho_backend_action *ad = find(&f, HO_BACKEND_ACT_ADOPT);
  cr_assert_not_null(ad);
  close((int)ad->conn);
  close(sv[1]);
  gated_down(&f);
  cr_assert_eq(fx_count_fds(), before);
}
