/* handoff — ACK registry on top of the token store: every handoff that
 * waits for its ACK leaves that state exactly once, and every exit revokes
 * its token. */
#include <string.h>

#include "core/token_internal.h"

static void fill_info(const ho_token_store *s, uint32_t e, uint64_t now, ho_ack_exit exit,
                      ho_ack_info *info) {
  if (!info) return;
  const ho_tentry *t = &s->entries[e];
  memcpy(info->token, t->token, HO_TOKEN_BYTES);
  info->backend = t->backend;
  info->correlation_id = t->correlation_id;
  info->user = t->user;
  info->issued_at_ms = t->issued_at;
  info->deadline_ms = t->due;
  info->waited_ms = now > t->issued_at ? now - t->issued_at : 0;
  info->exit = exit;
}

int ho_ack_register(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t backend,
                    uint64_t correlation_id, void *user, uint64_t now_ms) {
  return ho_ack_register_until(s, token, backend, correlation_id, user, now_ms, 0, NULL);
}

/* spec: ACK-17 TOKEN-5 */
int ho_ack_register_until(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES],
                          uint64_t backend, uint64_t correlation_id, void *user, uint64_t now_ms,
                          uint64_t not_after_ms, uint64_t *deadline_ms) {
  if (!s || !token) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  uint32_t slot;
  uint32_t e = ho_ts_find(s, token, &slot);
  if (e == HO_NIL) return HO_ERR_TOKEN_NOT_PENDING;
  ho_tentry *t = &s->entries[e];
  if (ho_is_awaiting(t)) return HO_ERR_ALREADY_PENDING;
  if (t->due <= now) {
    ho_ts_remove(s, e, slot);
    return HO_ERR_TOKEN_EXPIRED;
  }
  uint64_t deadline = now > UINT64_MAX - s->ack_deadline_ms ? UINT64_MAX : now + s->ack_deadline_ms;
  if (deadline > t->due) deadline = t->due; /* a token never outlives its TTL */
  if (not_after_ms != 0 && deadline > not_after_ms) deadline = not_after_ms > now ? not_after_ms : now;
  ho_heap_delete(s, &s->ttl, 0, t->where);
  t->due = deadline;
  t->issued_at = now;
  t->backend = backend;
  t->correlation_id = correlation_id;
  t->user = user;
  ho_heap_push(s, &s->ack, HO_WHERE_ACK, e);
  if (deadline_ms != NULL) *deadline_ms = deadline;
  return HO_OK;
}

/* spec: ACK-2 ACK-5 TOKEN-7 TOKEN-8 */
int ho_ack_acknowledge(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                       const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms,
                       ho_ack_info *info) {
  if (!s || !expected || !presented) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  uint32_t slot;
  uint32_t e = ho_ts_find(s, expected, &slot);
  if (e == HO_NIL || !ho_is_awaiting(&s->entries[e])) return HO_ERR_TOKEN_NOT_PENDING;
  int rc;
  ho_ack_exit exit;
  if (!ho_token_equal(expected, presented)) {
    rc = HO_ERR_ACK_TOKEN_MISMATCH;
    exit = HO_ACK_MISMATCH;
  } else if (now >= s->entries[e].due) {
    rc = HO_ERR_ACK_DEADLINE_EXCEEDED;
    exit = HO_ACK_LATE;
  } else {
    rc = HO_OK;
    exit = HO_ACK_COMPLETED;
  }
  fill_info(s, e, now, exit, info);
  ho_ts_remove(s, e, slot); /* the exit: revokes the token, exactly once */
  return rc;
}

/* spec: ACK-2 ACK-4 TOKEN-7 */
int ho_ack_refuse(ho_token_store *s, const uint8_t expected[HO_TOKEN_BYTES],
                  const uint8_t presented[HO_TOKEN_BYTES], uint64_t now_ms, ho_ack_info *info) {
  if (!s || !expected || !presented) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  uint32_t slot;
  uint32_t e = ho_ts_find(s, expected, &slot);
  if (e == HO_NIL || !ho_is_awaiting(&s->entries[e])) return HO_ERR_TOKEN_NOT_PENDING;
  int mismatch = !ho_token_equal(expected, presented);
  fill_info(s, e, now, mismatch ? HO_ACK_MISMATCH : HO_ACK_ABANDONED, info);
  ho_ts_remove(s, e, slot);
  return mismatch ? HO_ERR_ACK_TOKEN_MISMATCH : HO_ERR_ACK_REFUSED;
}

/* spec: ACK-4 ACK-10 TOKEN-7 */
int ho_ack_abandon(ho_token_store *s, const uint8_t token[HO_TOKEN_BYTES], uint64_t now_ms,
                   ho_ack_info *info) {
  if (!s || !token) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  uint32_t slot;
  uint32_t e = ho_ts_find(s, token, &slot);
  if (e == HO_NIL) return HO_ERR_TOKEN_NOT_PENDING;
  int awaiting = ho_is_awaiting(&s->entries[e]);
  if (awaiting) fill_info(s, e, now, HO_ACK_ABANDONED, info);
  ho_ts_remove(s, e, slot);
  return awaiting ? 1 : 0;
}

/* spec: ACK-6 TOKEN-7 */
int ho_ack_expire_overdue(ho_token_store *s, uint64_t now_ms, ho_ack_info *out, size_t cap,
                          size_t *n) {
  if (!s || !n || (!out && cap > 0)) return HO_ERR_INVALID_ARGUMENT;
  uint64_t now = ho_ts_now(s, now_ms);
  size_t k = 0;
  while (k < cap && s->ack.len > 0) {
    uint32_t e = s->ack.idx[0];
    if (s->entries[e].due > now) break;
    uint32_t slot;
    uint32_t found = ho_ts_find(s, s->entries[e].token, &slot);
    (void)found; /* always e */
    fill_info(s, e, now, HO_ACK_EXPIRED, &out[k]);
    ho_ts_remove(s, e, slot);
    k++;
  }
  *n = k;
  return HO_OK;
}

/* spec: ACK-6 — one timer for the earliest deadline */
int ho_ack_next_deadline(const ho_token_store *s, uint64_t *at_ms) {
  if (!s || !at_ms || s->ack.len == 0) return 0;
  *at_ms = s->entries[s->ack.idx[0]].due;
  return 1;
}

const char *ho_ack_exit_name(int exit) {
  switch (exit) {
  case HO_ACK_COMPLETED: return "COMPLETED";
  case HO_ACK_LATE: return "LATE";
  case HO_ACK_MISMATCH: return "MISMATCH";
  case HO_ACK_ABANDONED: return "ABANDONED";
  case HO_ACK_EXPIRED: return "EXPIRED";
  default: return "UNKNOWN";
  }
}
