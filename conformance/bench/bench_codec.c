/* make bench-codec: the Offer-in-Frame and Ack-in-Frame exchange through
 * each codec path — ns per whole-frame encode and decode (ho_frame_encode /
 * ho_frame_decode: framing, envelope, payload, checks) and heap calls per
 * operation. Prints a table; asserts nothing about time.
 *
 * Heap calls are counted by interposing malloc/calloc/realloc/free in this
 * executable (glibc's __libc_* underneath), so calls made inside
 * libprotobuf-c.so count too. Not available in sanitizer builds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h" /* ref/bin: --help, --version, one-line usage errors */
#include "handoff/msg.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_COUNTING 0
#else
#define HEAP_COUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static size_t heap_calls;
void *malloc(size_t n) {
  heap_calls++;
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  heap_calls++;
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  heap_calls++;
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (p != NULL) heap_calls++;
  __libc_free(p);
}
#endif

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

enum { ROUNDS = 7, ITERS = 200000 };

typedef struct result {
  double ns;
  double heap;
} result;

static volatile int sink;

static result run(int encode, ho_codec c, ho_frame_type t, const ho_any_msg *m, const uint8_t *wire,
                  size_t wlen) {
  static uint8_t out[1024];
  ho_any_msg dec;
  ho_envelope env;
  double samples[ROUNDS];
  size_t calls = 0;
  for (int r = 0; r < ROUNDS; r++) {
#if HEAP_COUNTING
    size_t before = heap_calls;
#endif
    double t0 = now_ns();
    for (int i = 0; i < ITERS; i++) {
      size_t n = 0;
      int rc = encode ? ho_frame_encode(c, t, m, out, sizeof out, &n)
                      : ho_frame_decode(c, t, wire, wlen, &env, &dec);
      sink += rc;
    }
    samples[r] = (now_ns() - t0) / ITERS;
#if HEAP_COUNTING
    calls = heap_calls - before;
#endif
  }
  qsort(samples, ROUNDS, sizeof samples[0], cmp_d);
  return (result){samples[ROUNDS / 2], (double)calls / ITERS};
}

static const cli_opt codec_opts[] = {{0, 0, 0, 0, 0}};
static const cli_prog codec_prog = {
    "bench_codec", "",
    "ns per encode/decode of whole Offer and Ack frames with protobuf-c and nanopb,\n"
    "and heap calls per operation (median of the rounds).\n",
    codec_opts, NULL, "Exit status: 0 done; 1 a frame failed to encode; 2 usage error.\n"};

int main(int argc, char **argv) {
  cli_parser ps;
  cli_init(&ps, &codec_prog, argc, argv);
  int o;
  while ((o = cli_next(&ps)) > 0) {
  }
  if (o < 0) return ps.status;
  if (cli_no_operands(&ps)) return 2;
  ho_any_msg offer, ack;
  memset(&offer, 0, sizeof offer);
  memset(&ack, 0, sizeof ack);
  for (unsigned i = 0; i < HO_TOKEN_BYTES; i++) offer.offer.token[i] = ack.ack.token[i] = (uint8_t)(i * 7);
  strcpy(offer.offer.service_name, "echo");
  offer.offer.correlation_id = ack.ack.correlation_id = 123456;
  ack.ack.accepted = true;
  struct {
    const char *name;
    ho_frame_type t;
    ho_any_msg *m;
  } msgs[] = {{"Offer-in-Frame", HO_FT_OFFER, &offer}, {"Ack-in-Frame", HO_FT_ACK, &ack}};
  const ho_codec codecs[] = {HO_CODEC_PROTOBUF_C, HO_CODEC_NANOPB};
  const char *cname[] = {"protobuf-c", "nanopb"};
  printf("bench-codec: median of %d rounds x %d iterations, whole frames\n", ROUNDS, ITERS);
  printf("%-15s %-11s %-7s %5s %10s %12s\n", "message", "codec", "op", "bytes", "ns/op",
         "heap calls/op");
  for (size_t k = 0; k < 2; k++) {
    uint8_t wire[512];
    size_t wlen = 0;
    if (ho_frame_encode(HO_CODEC_NANOPB, msgs[k].t, msgs[k].m, wire, sizeof wire, &wlen) != HO_OK)
      return 1;
    for (size_t c = 0; c < 2; c++) {
      for (int enc = 1; enc >= 0; enc--) {
        result r = run(enc, codecs[c], msgs[k].t, msgs[k].m, wire, wlen);
        if (HEAP_COUNTING)
          printf("%-15s %-11s %-7s %5zu %10.1f %12.2f\n", msgs[k].name, cname[c],
                 enc ? "encode" : "decode", wlen, r.ns, r.heap);
        else
          printf("%-15s %-11s %-7s %5zu %10.1f %12s\n", msgs[k].name, cname[c],
                 enc ? "encode" : "decode", wlen, r.ns, "n/a");
      }
    }
  }
  return sink == 42 ? 2 : 0;
}
