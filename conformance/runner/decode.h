/* handoff-conform decode — the decoder oracle for implementations in other
 * languages (issue #17): the SUT decodes frames read on its stdin, the
 * runner compares every verdict with the reference decoder's.
 *
 *   decode.c      options, the run (golden vectors, then mutated inputs),
 *                 the minimizer, reports (report.c)
 *   decode_io.c   the SUT as a process: records on stdin, one line back
 *   decode_ref.c  the reference verdict, the SUT's answer parsed, the
 *                 comparison, the mutator (fuzz/proto_mutator.h), --serve
 *
 * Contract: spec/conformance.md §6, conformance/vectors/README.md. */
#ifndef CF_DECODE_H
#define CF_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

int cf_decode_main(int argc, char **argv);
void cf_decode_usage(FILE *f);

/* The five frame types of the vectors ("hello" .. "ready"), index 0..4. */
#define CF_DT_COUNT 5
extern const char *const cf_dt_names[CF_DT_COUNT];
int cf_dt_find(const char *name); /* index or -1 */

/* One verdict: what the reference or the SUT made of one input. */
typedef enum { CF_DV_OK = 0, CF_DV_ERROR, CF_DV_CRASH, CF_DV_TIMEOUT, CF_DV_GARBAGE } cf_dv_kind;
typedef struct cf_dverdict {
  cf_dv_kind kind;
  char name[32];  /* CF_DV_ERROR: the error name */
  cf_json *tree;  /* CF_DV_OK: the decoded form */
  char *text;     /* CF_DV_OK: the line as written; others: what was seen (malloc) */
} cf_dverdict;
void cf_dv_free(cf_dverdict *v);
/* Human form: the JSON line, the error name, "CRASH (...)", ... (cut to cap). */
void cf_dv_describe(const cf_dverdict *v, char *buf, size_t cap);
/* Same verdict (JSON compared as values)? */
int cf_dv_equal(const cf_dverdict *a, const cf_dverdict *b);
/* Same class: kind, and the error name for errors (the minimizer keeps it). */
int cf_dv_same_class(const cf_dverdict *a, const cf_dverdict *b);

/* The reference decoder's verdict on `in` (the bytes a receiver reads
 * before EOF) for frame type `t`: both codecs (protobuf-c and nanopb) must
 * agree; returns 0, or -1 when they do not (why in v->text). */
int cf_dref_verdict(int t, const uint8_t *in, size_t len, cf_dverdict *v);
/* Parse one answer line of the SUT. */
void cf_dv_parse_line(const char *line, size_t len, cf_dverdict *v);
/* The mutated input number `index` of the run with `seed`: written into
 * out (cap bytes), from the seed input `in`. Returns its length. */
size_t cf_dmutate(uint64_t seed, uint64_t index, const uint8_t *in, size_t len, uint8_t *out, size_t cap);
/* `in` (a frame whose header matches its length) without its k-th field
 * (op 0) or with the contents of its k-th field halved (op 1; the same
 * bytes if it is not length-delimited), fields counted in pre-order with
 * nested ones, length prefixes rewritten, into out (len bytes);
 * (size_t)-1 when there is no k-th field. */
size_t cf_dshrink(const uint8_t *in, size_t len, long k, int op, uint8_t *out);
/* --serve TYPE: be a SUT with the reference decoder. */
int cf_dref_serve(const char *type);
uint64_t cf_dmix(uint64_t x);
/* snprintf without gcc's truncation warnings (truncation is intended). */
int cf_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
