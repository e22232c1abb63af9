/* handoff — internal: schema-driven protobuf wire pre-scanner shared by both
 * codecs (protobuf-c and nanopb).
 *
 * ho_scan() walks a payload once, in stream order, and returns the first
 * defect it finds. Only input that passes the scan is handed to a generated
 * codec, so the two codecs see exactly the same accepted language and the
 * verdict never depends on which codec runs (spec: MSG-1 .. MSG-11).
 */
#ifndef HO_WIRE_SCAN_H
#define HO_WIRE_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* Field kinds of the schema tables. */
enum {
  HO_SK_U32 = 1,   /* uint32, enum: varint, the low 32 bits count */
  HO_SK_BOOL,      /* bool: varint, any non-zero value is true */
  HO_SK_U64,       /* uint64: varint */
  HO_SK_STRING,    /* UTF-8, no NUL, <= cap bytes */
  HO_SK_BYTES,     /* <= cap bytes */
  HO_SK_TOKEN,     /* bytes, exactly HO_TOKEN_BYTES in the final value */
  HO_SK_TOKEN_OPT, /* bytes, 0 or HO_TOKEN_BYTES in the final value */
  HO_SK_MSG,       /* embedded message, scanned with `sub` */
  HO_SK_ONEOF,     /* member of a oneof of messages: repeated occurrences
                      of the same member merge (protobuf), `sub` */
  HO_SK_RAW        /* bytes without a cap of their own (Frame.payload) */
};

typedef struct ho_scan_schema ho_scan_schema;

typedef struct ho_scan_field {
  uint8_t num;         /* field number (< HO_SCAN_MAX_FIELD) */
  uint8_t kind;        /* HO_SK_* */
  uint16_t max_items;  /* repeated: item cap; 0 = singular */
  uint32_t cap;        /* byte cap for STRING/BYTES */
  const ho_scan_schema *sub;
} ho_scan_field;

struct ho_scan_schema {
  const ho_scan_field *fields;
  size_t n;
};

#define HO_SCAN_MAX_FIELD 16u

/* Per known field: number of occurrences and the last occurrence's value
 * bytes (length-delimited fields only; a view into the input). */
typedef struct ho_scan_result {
  uint32_t count[HO_SCAN_MAX_FIELD];
  const uint8_t *last[HO_SCAN_MAX_FIELD];
  size_t last_len[HO_SCAN_MAX_FIELD];
  /* A 32-bit or bool field of this message (not of embedded messages)
   * carries a varint above 2^32-1: nanopb would reject it, so its path
   * reads the message through a normalising stream of norm_len bytes that
   * re-encodes such varints as their protobuf value (spec: MSG-11). */
  int needs_norm;
  size_t norm_len;
  /* Oneof of messages (HelloReply.result): the member in effect at the end
   * (0 if none) and where its run of merged occurrences starts (the tag of
   * its first occurrence after the last occurrence of another member). */
  uint32_t oneof_which;
  const uint8_t *oneof_run;
} ho_scan_result;

/* Like ho_scan() on one occurrence of a merged message: every check except
 * the final-value check of token fields (the merge decides those). */
int ho_scan_part(const ho_scan_schema *s, const uint8_t *buf, size_t len, ho_scan_result *res);

/* Iterate the top-level fields of input that passed ho_scan(): from *off,
 * sets the field number and the value bytes (a varint's bytes, a fixed
 * field's bytes, or a length-delimited field's contents) and advances
 * *off. Returns 1, or 0 at the end. */
int ho_wire_next(const uint8_t *buf, size_t len, size_t *off, uint32_t *num, const uint8_t **val,
                 size_t *vlen);

/* Varint helpers shared with the nanopb normalising stream. */
size_t ho_varint_put(uint8_t out[10], uint64_t v);
/* The value a 32-bit / bool field of kind `kind` takes from varint `v`. */
uint64_t ho_varint_narrow(uint8_t kind, uint64_t v);
const ho_scan_field *ho_scan_find(const ho_scan_schema *s, uint64_t num);

/* Scan `len` bytes of `buf` as a message of schema `s`. `res` may be NULL.
 * Returns HO_OK or the first defect in stream order: HO_ERR_MALFORMED,
 * HO_ERR_WIRE_TYPE, HO_ERR_STRING_TOO_LONG, HO_ERR_STRING_INVALID,
 * HO_ERR_TOKEN_LENGTH, HO_ERR_TOO_MANY_ITEMS. */
int ho_scan(const ho_scan_schema *s, const uint8_t *buf, size_t len, ho_scan_result *res);

/* 1 if `p[0..n)` is valid UTF-8 (RFC 3629: no overlongs, no surrogates,
 * <= U+10FFFF) without any NUL byte, else 0. */
int ho_utf8_ok(const uint8_t *p, size_t n);

/* Schemas of the v1 messages (tables derived from wire.h caps). */
extern const ho_scan_schema ho_schema_envelope;
extern const ho_scan_schema ho_schema_hello;
extern const ho_scan_schema ho_schema_hello_reply;
extern const ho_scan_schema ho_schema_negotiated;
extern const ho_scan_schema ho_schema_refused;
extern const ho_scan_schema ho_schema_offer;
extern const ho_scan_schema ho_schema_ack;

#endif /* HO_WIRE_SCAN_H */
