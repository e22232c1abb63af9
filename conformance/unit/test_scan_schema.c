/* Unit tests: the pre-scanner's field tables (ref/lib/wire/scan.c) against
 * the schema as the generated codecs know it. The tables restate proto/ by
 * hand; this suite compares them, message by message and field by field,
 * with the protobuf-c descriptors (field numbers, types, repeated, oneof)
 * and the nanopb field iterators (string and bytes caps from the .options
 * files, item caps), so that a schema change cannot silently diverge from
 * the scanner (issue #12 item 5). spec: MSG-1 MSG-5 MSG-6 MSG-9 */
#include <criterion/criterion.h>
#include <pb_common.h>
#include <stddef.h>
#include <string.h>

#include "handoff/v1/handoff_v1_envelope.pb-c.h"
#include "handoff/v1/handoff_v1_envelope.pb.h"
#include "handoff/v1/handoff_v1_handoff.pb-c.h"
#include "handoff/v1/handoff_v1_handoff.pb.h"
#include "handoff/wire.h"
#include "wire/scan.h"

typedef struct pair {
  const char *name;
  const ho_scan_schema *scan;
  const ProtobufCMessageDescriptor *pbc;
  const pb_msgdesc_t *npb;
  size_t npb_size; /* sizeof the nanopb struct */
} pair;

/* The detail map entry has no exported scan schema; it is reached through
 * Refused field 5's `sub`. */
static const ho_scan_schema *sub_of(const ho_scan_schema *s, unsigned num) {
  const ho_scan_field *f = ho_scan_find(s, num);
  return f ? f->sub : NULL;
}

static const char *kind_ok(const ho_scan_field *sf, const ProtobufCFieldDescriptor *fd) {
  switch (fd->type) {
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_ENUM: return sf->kind == HO_SK_U32 ? NULL : "uint32/enum is not HO_SK_U32";
  case PROTOBUF_C_TYPE_BOOL: return sf->kind == HO_SK_BOOL ? NULL : "bool is not HO_SK_BOOL";
  case PROTOBUF_C_TYPE_UINT64: return sf->kind == HO_SK_U64 ? NULL : "uint64 is not HO_SK_U64";
  case PROTOBUF_C_TYPE_STRING:
    return sf->kind == HO_SK_STRING ? NULL : "string is not HO_SK_STRING";
  case PROTOBUF_C_TYPE_BYTES:
    return sf->kind == HO_SK_BYTES || sf->kind == HO_SK_TOKEN || sf->kind == HO_SK_TOKEN_OPT ||
                   sf->kind == HO_SK_RAW
               ? NULL
               : "bytes is not a bytes kind";
  case PROTOBUF_C_TYPE_MESSAGE:
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
      return sf->kind == HO_SK_ONEOF ? NULL : "oneof member is not HO_SK_ONEOF";
    return sf->kind == HO_SK_MSG ? NULL : "message is not HO_SK_MSG";
  default: return "a protobuf type the scanner has no kind for";
  }
}

/* One message: both directions (every descriptor field in the table and
 * every table entry in the descriptor), kinds, repetition, caps. */
static bool quiet; /* the drift test expects problems: do not log them as errors */
#define PROBLEM(...) ((quiet ? (void)0 : cr_log_error(__VA_ARGS__)), problems++)
#define WANT(cond, ...) ((cond) ? (void)0 : (void)PROBLEM(__VA_ARGS__))

static unsigned check_pair(const pair *p) {
  unsigned problems = 0;
  const ProtobufCMessageDescriptor *d = p->pbc;
  WANT(p->scan->n == d->n_fields, "%s: the scan table has %zu fields, the schema %u",
               p->name, p->scan->n, d->n_fields);
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *fd = &d->fields[i];
    const ho_scan_field *sf = ho_scan_find(p->scan, fd->id);
    if (!sf) {
      PROBLEM("%s.%s (field %u) is missing from the scan table", p->name, fd->name, fd->id);
      continue;
    }
    const char *why = kind_ok(sf, fd);
    WANT(why == NULL, "%s.%s: %s", p->name, fd->name, why ? why : "");
    bool repeated = fd->label == PROTOBUF_C_LABEL_REPEATED;
    WANT(repeated == (sf->max_items > 0), "%s.%s: repeated in the schema %d, in the table %d",
                 p->name, fd->name, repeated, sf->max_items > 0);
  }
  /* nanopb: caps of strings and bytes, item caps of repeated fields. */
  uint8_t storage[16384];
  if (p->npb_size > sizeof storage) return PROBLEM("%s: grow the test's storage", p->name);
  memset(storage, 0, sizeof storage);
  pb_field_iter_t it;
  unsigned seen = 0;
  if (!pb_field_iter_begin(&it, p->npb, storage)) return PROBLEM("%s: no nanopb fields", p->name);
  do {
    const ho_scan_field *sf = ho_scan_find(p->scan, it.tag);
    seen++;
    if (!sf) {
      PROBLEM("%s: nanopb field %u is missing from the scan table", p->name, it.tag);
      continue;
    }
    pb_type_t ltype = PB_LTYPE(it.type);
    bool is_static = PB_ATYPE(it.type) == PB_ATYPE_STATIC;
    if (ltype == PB_LTYPE_STRING && is_static)
      WANT(it.data_size == sf->cap + 1u, "%s field %u: nanopb max_size %u, scan cap %u + NUL",
                   p->name, it.tag, (unsigned)it.data_size, sf->cap);
    if (ltype == PB_LTYPE_BYTES && is_static) {
      size_t room = it.data_size - offsetof(pb_bytes_array_t, bytes);
      /* the struct may be padded by one byte after an odd cap */
      WANT(room >= sf->cap && room <= sf->cap + 1u,
                "%s field %u: nanopb bytes room %zu, scan cap %u", p->name, it.tag, room, sf->cap);
    }
    if (PB_HTYPE(it.type) == PB_HTYPE_REPEATED && is_static)
      WANT(it.array_size == sf->max_items, "%s field %u: nanopb max_count %u, scan items %u",
                   p->name, it.tag, (unsigned)it.array_size, sf->max_items);
  } while (pb_field_iter_next(&it));
  WANT(seen == p->scan->n, "%s: nanopb has %u fields, the scan table %zu", p->name, seen,
       p->scan->n);
  return problems;
}

Test(scan_schema, tables_match_the_generated_codecs) {
  const pair pairs[] = {
      {"Frame", &ho_schema_envelope, &handoff__v1__frame__descriptor, &handoff_v1_Frame_msg,
       sizeof(handoff_v1_Frame)},
      {"Hello", &ho_schema_hello, &handoff__v1__hello__descriptor, &handoff_v1_Hello_msg,
       sizeof(handoff_v1_Hello)},
      {"HelloReply", &ho_schema_hello_reply, &handoff__v1__hello_reply__descriptor,
       &handoff_v1_HelloReply_msg, sizeof(handoff_v1_HelloReply)},
      {"Negotiated", &ho_schema_negotiated, &handoff__v1__negotiated__descriptor,
       &handoff_v1_Negotiated_msg, sizeof(handoff_v1_Negotiated)},
      {"Refused", &ho_schema_refused, &handoff__v1__refused__descriptor, &handoff_v1_Refused_msg,
       sizeof(handoff_v1_Refused)},
      {"Refused.DetailsEntry", sub_of(&ho_schema_refused, 5),
       &handoff__v1__refused__details_entry__descriptor, &handoff_v1_Refused_DetailsEntry_msg,
       sizeof(handoff_v1_Refused_DetailsEntry)},
      {"HandoffOffer", &ho_schema_offer, &handoff__v1__handoff_offer__descriptor,
       &handoff_v1_HandoffOffer_msg, sizeof(handoff_v1_HandoffOffer)},
      {"HandoffAck", &ho_schema_ack, &handoff__v1__handoff_ack__descriptor, &handoff_v1_HandoffAck_msg,
       sizeof(handoff_v1_HandoffAck)},
  };
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    cr_assert_not_null(pairs[i].scan, "%s: no scan schema", pairs[i].name);
    cr_expect_eq(check_pair(&pairs[i]), 0u, "%s: the scan table differs from the schema",
                 pairs[i].name);
  }
}

/* The embedded schemas are the ones the parent field names. */
Test(scan_schema, embedded_messages_use_their_own_tables) {
  cr_expect_eq(sub_of(&ho_schema_hello_reply, 1), &ho_schema_negotiated);
  cr_expect_eq(sub_of(&ho_schema_hello_reply, 2), &ho_schema_refused);
}

/* A table that drifts is caught (the comparison cannot pass vacuously):
 * the offer table without its last field, and with a field's cap off by one. */
Test(scan_schema, a_drifted_table_is_detected) {
  pair p = {"HandoffOffer (drifted)", NULL, &handoff__v1__handoff_offer__descriptor,
            &handoff_v1_HandoffOffer_msg, sizeof(handoff_v1_HandoffOffer)};
  quiet = true;
  ho_scan_schema short_table = ho_schema_offer;
  short_table.n--;
  p.scan = &short_table;
  cr_expect_gt(check_pair(&p), 0u);
  ho_scan_field fields[HO_SCAN_MAX_FIELD];
  cr_assert_leq(ho_schema_offer.n, HO_SCAN_MAX_FIELD);
  memcpy(fields, ho_schema_offer.fields, ho_schema_offer.n * sizeof fields[0]);
  for (size_t i = 0; i < ho_schema_offer.n; i++)
    if (fields[i].num == 3) fields[i].cap++; /* service_name */
  ho_scan_schema off_by_one = {fields, ho_schema_offer.n};
  p.scan = &off_by_one;
  cr_expect_gt(check_pair(&p), 0u);
}
