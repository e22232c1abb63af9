/* Benchmark: token core throughput and memory (make bench-token).
 *
 * One handoff = ho_token_issue + ho_ack_register + ho_ack_acknowledge, the
 * broker's sequence, measured with 0, 1 000 and 100 000 other handoffs
 * awaiting their ACK in the same store; once with the default OS random
 * source (getrandom, one syscall per token) and once with a userspace
 * generator, to separate the core's own cost from the syscall's. Then the
 * memory per pending handoff: the store's preallocated bytes divided by its
 * capacity, cross-checked with mallinfo2(). Prints a table; asserts nothing
 * about time.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/token_internal.h" /* sizeof(ho_tentry) for the layout line */
#include "handoff/token.h"
#include "cli.h" /* ref/bin: --help, --version, one-line usage errors */

static const cli_opt token_opts[] = {
    {"iters", "N", 'n', CLI_BOTH, "handoffs per row (1..1000000000, default 2000000)"},
    {0, 0, 0, 0, 0}};
static const cli_prog token_prog = {
    "bench_token", "[--iters N]",
    "Token core throughput (issue + register + acknowledge) with 0, 1000 and\n"
    "100000 handoffs pending, memory per pending handoff, constant-time compare.\n",
    token_opts, NULL, "Exit status: 0 done; 1 the token store failed; 2 usage error.\n"};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Userspace generator for the "core only" rows (not for production). */
static int xorshift_random(void *ctx, uint8_t *buf, size_t len) {
  uint64_t *x = ctx;
  for (size_t i = 0; i < len; i += 8) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    size_t n = len - i < 8 ? len - i : 8;
    memcpy(buf + i, x, n);
  }
  return 0;
}

static ho_token_store *make_store(uint32_t cap, int os_random, uint64_t *seed) {
  ho_token_config c;
  ho_token_config_init(&c);
  c.max_pending = cap;
  c.ttl_ms = UINT64_C(1) << 40; /* nothing expires during the run */
  c.ack_deadline_ms = UINT64_C(1) << 40;
  if (!os_random) {
    c.random = xorshift_random;
    c.random_ctx = seed;
  }
  ho_token_store *s = NULL;
  if (ho_token_store_new(&s, &c) != HO_OK) {
    fprintf(stderr, "bench_token: store_new failed\n");
    exit(1);
  }
  return s;
}

static double run(uint32_t background, int os_random, uint64_t iters) {
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  ho_token_store *s = make_store(background + 16, os_random, &seed);
  uint8_t t[HO_TOKEN_BYTES];
  for (uint32_t i = 0; i < background; i++) {
    if (ho_token_issue(s, 0, t) != HO_OK || ho_ack_register(s, t, 1, i + 1, NULL, 0) != HO_OK) {
      fprintf(stderr, "bench_token: fill failed\n");
      exit(1);
    }
  }
  ho_ack_info info;
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    int rc = ho_token_issue(s, 1, t);
    rc |= ho_ack_register(s, t, 2, i + 1, NULL, 1);
    rc |= ho_ack_acknowledge(s, t, t, 2, &info);
    if (rc != HO_OK) {
      fprintf(stderr, "bench_token: handoff failed\n");
      exit(1);
    }
  }
  uint64_t dt = now_ns() - t0;
  if (ho_token_pending(s) != background) {
    fprintf(stderr, "bench_token: pending count drifted\n");
    exit(1);
  }
  ho_token_store_del(s);
  return (double)iters * 1e9 / (double)dt;
}

static void memory_row(uint32_t cap) {
  uint64_t seed = 1;
  struct mallinfo2 before = mallinfo2();
  ho_token_store *s = make_store(cap, 0, &seed);
  struct mallinfo2 after = mallinfo2();
  size_t foot = ho_token_store_footprint(s);
  /* uordblks: bytes in use from the heap; hblkhd: bytes in mmap()ed blocks */
  size_t measured = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
  printf("%-10u %12zu %12zu %14.1f %14.1f\n", cap, foot, measured, (double)foot / cap,
         (double)measured / cap);
  ho_token_store_del(s);
}

/* ns per ho_token_equal() call when the tokens differ at byte 0, at byte
 * 15, or not at all: the three figures should be equal (TOKEN-8). */
static double compare_ns(int differ_at) {
  uint8_t a[HO_TOKEN_BYTES], b[HO_TOKEN_BYTES];
  memset(a, 0x5a, sizeof a);
  memcpy(b, a, sizeof b);
  if (differ_at >= 0) b[differ_at] ^= 1;
  volatile int sink = 0;
  const uint64_t n = 20000000;
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < n; i++) sink += ho_token_equal(a, b);
  (void)sink;
  return (double)(now_ns() - t0) / (double)n;
}

int main(int argc, char **argv) {
  uint64_t iters = 2000000;
  cli_parser ps;
  cli_init(&ps, &token_prog, argc, argv);
  int o;
  while ((o = cli_next(&ps)) > 0)
    if (cli_number("bench_token", "--iters", ps.arg, 1, 1000000000u, &iters)) return 2;
  if (o < 0) return ps.status;
  if (cli_no_operands(&ps)) return 2;
  const uint32_t levels[] = {0, 1000, 100000};
  run(0, 1, iters / 4); /* warm-up: page in, let the CPU clock settle */
  printf("token core: one handoff = issue + register + acknowledge (single thread, %llu per row)\n",
         (unsigned long long)iters);
  printf("%-10s %-22s %14s %12s\n", "pending", "random source", "handoffs/s", "ns/handoff");
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
    for (int os = 1; os >= 0; os--) {
      double r = run(levels[i], os, iters);
      printf("%-10u %-22s %14.0f %12.1f\n", levels[i], os ? "getrandom (default)" : "userspace (core only)",
             r, 1e9 / r);
    }
  }
  printf("\nmemory per pending handoff (preallocated at ho_token_store_new for max_pending)\n");
  printf("%-10s %12s %12s %14s %14s\n", "max_pend", "footprint", "mallinfo2", "B/handoff", "B/handoff(m)");
  memory_row(1024);
  memory_row(100000);
  compare_ns(-1); /* warm-up */
  double c0 = compare_ns(0), c15 = compare_ns(15), ceq = compare_ns(-1);
  printf("\nconstant-time compare (ns per ho_token_equal): differ at byte 0 %.2f, at byte 15 %.2f,"
         " equal %.2f\n", c0, c15, ceq);
  printf("layout: entry %zu B (token, due, issued_at, backend, correlation_id, user, heap index, hash)"
         " + 2..4 table slots x 4 B + 2 heap slots x 4 B\n",
         sizeof(ho_tentry));
  return 0;
}
