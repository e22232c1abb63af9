/* Unit tests (issue #17 coverage): outcomes of the core layer (ref/lib/core/)
 * the other tests leave out — the peer policy (an unknown policy, "same-uid",
 * uids out of range), the Windows handle judge without a `failed` pointer or
 * a callback, allocators missing a hook for every table that takes one, the
 * caller-memory arena's corners, a fixed window opened twice or with a clock
 * that went back and a ring compacted around dead slots, peek without a
 * queue, an insert "until" a time already past, an ACK deadline cut to a
 * not_after already past, two tokens whose keyed hashes collide, and the OS
 * random source failing (getrandom refused by a seccomp filter in a forked
 * child, syscall_fail.h). The client and net layers are in
 * test_client_net_core_cov.c and test_net_layer_cov.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/fwin.h"
#include "core/win_handle.h"
#include "handoff/arena.h"
#include "handoff/backend.h"
#include "handoff/fallback.h"
#include "handoff/token.h"
#include "handoff/transport.h"
#include "child_exit.h"
#include "syscall_fail.h"
#include "token_fixtures.h"

/* ---- peer policy (core/peer.c) ------------------------------------------------ */

/* spec: SEC-1 SEC-4 — an unknown policy value allows nobody; same-or-root
 * without credentials is refused. */
Test(core_layer_cov, peer_allowed_unknown_policy_and_no_credentials) {
  ho_peer_cred me = {.uid = 1000};
  cr_assert_not(ho_peer_allowed((ho_peer_policy)77, 0, 1000, &me));
  cr_assert_not(ho_peer_allowed(HO_PEER_SAME_UID_OR_ROOT, 0, 1000, NULL));
}

/* spec: CLIENT-9 SEC-10 — the policy parser: NULL arguments, "same-uid",
 * a non-digit start, a number that overflows, and uid -1 are refused or
 * named exactly; outputs untouched on refusal. */
Test(core_layer_cov, peer_policy_parse_edges) {
  ho_peer_policy p = HO_PEER_ANY;
  uid_t u = 42;
  cr_assert_eq(ho_peer_policy_parse(NULL, &p, &u), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("any", NULL, &u), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("any", &p, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("same-uid", &p, &u), HO_OK);
  cr_assert_eq(p, HO_PEER_SAME_UID);
  p = HO_PEER_ANY;
  cr_assert_eq(ho_peer_policy_parse("root", &p, &u), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("99999999999999999999999", &p, &u), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_peer_policy_parse("4294967295", &p, &u), HO_ERR_INVALID_ARGUMENT); /* (uid_t)-1 */
  cr_assert_eq(p, HO_PEER_ANY);
  cr_assert_eq(u, 42);
  cr_assert_eq(ho_peer_policy_parse("4294967294", &p, &u), HO_OK);
  cr_assert_eq(p, HO_PEER_UID);
  cr_assert_eq(u, (uid_t)4294967294u);
}

/* ---- Windows handle values (core/win_handle.c) -------------------------------- */

static int ask_fails(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer) {
  (void)value;
  (void)answer;
  int *asked = ctx;
  asked[q]++;
  return -1;
}

static int ask_yes(void *ctx, uint64_t value, ho_win_question q, uint32_t *answer) {
  (void)ctx;
  (void)value;
  *answer = q == HO_WIN_ASK_PIPE_INFO ? HO_WIN_PIPE_SERVER_END : 1;
  return 0;
}

/* spec: XFER-32 XFER-38 — failed may be NULL; no callback refuses at the
 * first question; a failing first question stops the judge. */
Test(core_layer_cov, win_judge_without_failed_or_callback) {
  cr_assert_eq(ho_win_handle_judge(0x104, 0, ask_yes, NULL, NULL), HO_OK);
  cr_assert_eq(ho_win_handle_judge(0x105, 0, ask_yes, NULL, NULL), HO_ERR_BAD_DESCRIPTOR);
  ho_win_question f = HO_WIN_ASK_SERVER_PID;
  cr_assert_eq(ho_win_handle_judge(0x104, 0, NULL, NULL, &f), HO_ERR_BAD_DESCRIPTOR);
  cr_assert_eq(f, HO_WIN_ASK_FILE_TYPE);
  int asked[4] = {0};
  cr_assert_eq(ho_win_handle_judge(0x104, 77, ask_fails, asked, &f), HO_ERR_BAD_DESCRIPTOR);
  cr_assert_eq(f, HO_WIN_ASK_FILE_TYPE);
  cr_assert(asked[1] == 1 && asked[2] == 0 && asked[3] == 0, "nothing asked after the failure");
}

/* ---- allocators (core/alloc.h, core/arena.c) ---------------------------------- */

static void *never_alloc(void *ctx, size_t n) {
  (void)ctx;
  (void)n;
  cr_assert_fail("a refused allocator is never called");
  return NULL;
}
static void never_free(void *ctx, void *p) {
  (void)ctx;
  (void)p;
  cr_assert_fail("a refused allocator is never called");
}

static void close_nothing(void *ctx, ho_handle h) {
  (void)ctx;
  (void)h;
}

/* Every table that takes an allocator refuses one without alloc or without free. */
Test(core_layer_cov, every_allocator_user_refuses_a_missing_hook) {
  const ho_allocator halves[2] = {{NULL, never_free, NULL}, {never_alloc, NULL, NULL}};
  for (int i = 0; i < 2; i++) {
    ho_fwin w;
    cr_assert_eq(ho_fwin_init(&w, 4, 1000, &halves[i]), HO_ERR_INVALID_ARGUMENT, "fwin %d", i);
    ho_token_config tc;
    ho_token_config_init(&tc);
    tc.allocator = &halves[i];
    ho_token_store *s = NULL;
    cr_assert_eq(ho_token_store_new(&s, &tc), HO_ERR_INVALID_ARGUMENT, "token %d", i);
    ho_pending_config pc;
    ho_pending_config_init(&pc);
    pc.allocator = &halves[i];
    ho_pending_queue *q = NULL;
    cr_assert_eq(ho_pending_queue_new(&q, &pc), HO_ERR_INVALID_ARGUMENT, "pending %d", i);
    ho_backend_config bc;
    ho_backend_config_init(&bc);
    bc.close_handle = close_nothing;
    bc.allocator = &halves[i];
    ho_backend_core *b = NULL;
    cr_assert_eq(ho_backend_core_new(&bc, &b), HO_ERR_INVALID_ARGUMENT, "backend %d", i);
    cr_assert(s == NULL && q == NULL && b == NULL);
  }
}

/* The arena: a 0-byte request gets a unique block; a freed block is reused
 * only for the same rounded size; a request that fits the rest of the
 * buffer but not with its header fails; pointers it never gave are ignored. */
Test(core_layer_cov, arena_corners) {
  ho_arena_reset(NULL); /* no-op */
  static _Alignas(max_align_t) unsigned char buf[512];
  ho_arena a;
  cr_assert_eq(ho_arena_init(&a, buf, sizeof buf), HO_OK);
  ho_allocator al = ho_arena_allocator(&a);
  void *z1 = al.alloc(al.ctx, 0), *z2 = al.alloc(al.ctx, 0);
  cr_assert(z1 != NULL && z2 != NULL && z1 != z2);
  void *small = al.alloc(al.ctx, 8);
  cr_assert_not_null(small);
  al.free(al.ctx, small);
  size_t used = a.used;
  void *big = al.alloc(al.ctx, 64); /* the free list has only a smaller block */
  cr_assert_not_null(big);
  cr_assert_neq(big, small);
  cr_assert_gt(a.used, used, "a new block, not the freed one");
  cr_assert_eq(al.alloc(al.ctx, 8), small, "the same size reuses the freed block");
  size_t rest = a.cap - a.used; /* enough for the payload, not for header + payload */
  cr_assert_gt(rest, 0);
  size_t failed = a.failed;
  cr_assert_null(al.alloc(al.ctx, rest));
  cr_assert_eq(a.failed, failed + 1);
  size_t live = a.live;
  al.free(al.ctx, buf); /* before the first block: not the arena's */
  al.free(al.ctx, buf + sizeof buf - 1); /* past what it handed out */
  al.free(al.ctx, NULL);
  cr_assert_eq(a.live, live, "nothing was freed");
  ho_arena_reset(&a);
  cr_assert_eq(a.used, 0);
}

/* spec: FALLBACK-25 — a negative reason counts as nothing. */
Test(core_layer_cov, fallback_reason_counts_negative) {
  cr_assert_not(ho_fallback_reason_counts(-1));
}

/* ---- fixed windows (core/fwin.c) ---------------------------------------------- */

/* spec: HELLO-14 FALLBACK-7 — a clock that went back opens the window at the
 * latest time seen; opening a key twice gives its running window. */
Test(core_layer_cov, fwin_open_clamps_the_clock_and_keeps_a_running_window) {
  ho_fwin w;
  cr_assert_eq(ho_fwin_init(&w, 4, 1000, NULL), HO_OK);
  ho_fwin_entry *e = NULL, *again = NULL;
  cr_assert_eq(ho_fwin_advance(&w, 500), 500);
  cr_assert_eq(ho_fwin_open(&w, 7, 100, &e), HO_OK);
  cr_assert_eq(e->start, 500);
  e->count = 3;
  cr_assert_eq(ho_fwin_open(&w, 7, 600, &again), HO_OK);
  cr_assert_eq(again, e);
  cr_assert_eq(again->start, 500, "not restarted");
  cr_assert_eq(again->count, 3);
  cr_assert_eq(w.live, 1);
  ho_fwin_free(&w);
}

/* A full ring with dead slots before a live one: compaction moves the live
 * window to the front and keeps it findable. */
Test(core_layer_cov, fwin_compaction_moves_a_live_window_forward) {
  ho_fwin w;
  cr_assert_eq(ho_fwin_init(&w, 2, 1000, NULL), HO_OK); /* ring of 4 */
  ho_fwin_entry *e;
  cr_assert_eq(ho_fwin_open(&w, 1, 10, &e), HO_OK);
  cr_assert_eq(ho_fwin_open(&w, 2, 10, &e), HO_OK);
  ho_fwin_close(&w, 1);
  cr_assert_eq(ho_fwin_open(&w, 3, 10, &e), HO_OK);
  ho_fwin_close(&w, 3);
  cr_assert_eq(ho_fwin_open(&w, 4, 10, &e), HO_OK); /* ring: 1 dead, 2, 3 dead, 4 */
  e->count = 9;
  ho_fwin_close(&w, 2);
  cr_assert_eq(w.used, w.ring_size);
  cr_assert_eq(ho_fwin_open(&w, 5, 20, &e), HO_OK); /* compacts: 4 moves to the front */
  cr_assert_eq(w.used, 2);
  ho_fwin_entry *four = ho_fwin_find(&w, 4);
  cr_assert_not_null(four);
  cr_assert_eq(four->count, 9);
  cr_assert_eq(four->start, 10);
  cr_assert_eq(four, &w.ring[w.head]);
  cr_assert_eq(ho_fwin_find(&w, 5)->start, 20);
  cr_assert_eq(ho_fwin_oldest(&w), four);
  ho_fwin_free(&w);
}

/* ---- pending queue, tokens, ACKs ------------------------------------------------ */

Test(core_layer_cov, pending_peek_null_arguments) {
  ho_pending_queue *q = NULL;
  cr_assert_eq(ho_pending_queue_new(&q, NULL), HO_OK);
  void *item = (void *)1;
  cr_assert_eq(ho_pending_queue_peek(NULL, 0, &item), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ho_pending_queue_peek(q, 0, NULL), HO_ERR_INVALID_ARGUMENT);
  cr_assert_eq(item, (void *)1);
  ho_pending_queue_del(q);
}

/* A store (token_fixtures.h) with `ttl` and ACK deadline `ack`, its hash
 * key the random source's first 16 bytes: a counter, or those of `r`. */
static ho_token_store *store_with(fx_rand *r, uint64_t ttl, uint64_t ack) {
  static fx_rand counter;
  memset(&counter, 0, sizeof counter);
  ho_token_store *s = fx_store(r ? r : &counter, ttl, ack, HO_TOKEN_DEFAULT_MAX_PENDING);
  cr_assert_not_null(s);
  return s;
}

static const uint8_t tok_a[HO_TOKEN_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* spec: TOKEN-17 TOKEN-18 — an entry kept "until" a time already past
 * lives one millisecond. */
Test(core_layer_cov, insert_until_a_time_already_past) {
  ho_token_store *s = store_with(NULL, 1000, 100);
  cr_assert_eq(ho_token_insert_until(s, tok_a, 500, 200), HO_OK);
  cr_assert_eq(ho_token_state(s, tok_a), HO_TOKEN_PENDING);
  uint64_t at = 0;
  cr_assert_eq(ho_token_next_deadline(s, &at), 1);
  cr_assert_eq(at, 501);
  ho_token_store_del(s);
}

/* spec: ACK-17 — a not_after already past makes the ACK deadline now. */
Test(core_layer_cov, ack_deadline_cut_to_a_not_after_already_past) {
  ho_token_store *s = store_with(NULL, 10000, 5000);
  cr_assert_eq(ho_token_insert(s, tok_a, 100), HO_OK);
  uint64_t dl = 0;
  cr_assert_eq(ho_ack_register_until(s, tok_a, 1, 2, NULL, 300, 250, &dl), HO_OK);
  cr_assert_eq(dl, 300);
  cr_assert_eq(ho_token_state(s, tok_a), HO_TOKEN_AWAITING_ACK);
  ho_token_store_del(s);
}

/* spec: TOKEN-8 — two different tokens whose keyed 32-bit hashes are equal
 * (SipHash-1-3 of token.c under the key of sixteen 0x5a bytes: both hash to
 * 0x0aedf2a9; found by trying 0xc0 0..0 followed by a little-endian counter)
 * are two entries: neither is taken for the other. */
Test(core_layer_cov, tokens_with_colliding_hashes_stay_distinct) {
  static const uint8_t t1[HO_TOKEN_BYTES] = {0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4d, 0xa9, 0x02, 0};
  static const uint8_t t2[HO_TOKEN_BYTES] = {0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x98, 0xdc, 0x02, 0};
  static const uint8_t key[1][HO_TOKEN_BYTES] = {{0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
                                                   0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a}};
  fx_rand fixed_key = {key, 1, 0, 0, 0, 0};
  ho_token_store *s = store_with(&fixed_key, 1000, 100);
  cr_assert_eq(ho_token_insert(s, t1, 10), HO_OK);
  cr_assert_eq(ho_token_state(s, t2), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_insert(s, t2, 10), HO_OK, "not ALREADY_PENDING");
  cr_assert_eq(ho_token_pending(s), 2);
  cr_assert_eq(ho_token_revoke(s, t1), 1);
  cr_assert_eq(ho_token_state(s, t1), HO_TOKEN_ABSENT);
  cr_assert_eq(ho_token_state(s, t2), HO_TOKEN_PENDING, "still found after its neighbour left");
  cr_assert_eq(ho_token_consume_matching(s, t2, t1, 20), HO_ERR_TOKEN_MISMATCH);
  ho_token_store_del(s);
}

/* spec: TOKEN-1 — the OS random source failing is HO_ERR_RANDOM, never a
 * weaker fallback: no store is made and the buffer is not filled. */
Test(core_layer_cov, os_random_source_failing_is_an_error) {
  const sysfail eio = {SYS_getrandom, -1, EIO, 0, 0};
  pid_t pid = sysfail_fork(&eio, 1);
  if (pid == 0) {
    uint8_t b[16] = {0};
    if (ho_random_os(NULL, b, sizeof b) != HO_ERR_RANDOM) child_exit(21);
    for (size_t i = 0; i < sizeof b; i++)
      if (b[i] != 0) child_exit(22);
    ho_token_store *s = NULL;
    if (ho_token_store_new(&s, NULL) != HO_ERR_RANDOM || s != NULL) child_exit(23);
    child_exit(0);
  }
  child_wait_ok(pid);
}
