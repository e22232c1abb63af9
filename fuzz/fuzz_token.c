/* Target functions: ho_token_issue ho_token_insert ho_token_consume_matching
 * ho_token_revoke ho_token_prune_expired ho_token_state ho_token_next_deadline
 * ho_ack_register ho_ack_acknowledge ho_ack_refuse ho_ack_abandon ho_ack_expire_overdue
 * ho_ack_next_deadline (ref/lib/core/token.c, ack.c).
 *
 * Stateful fuzz target: the input is a configuration (TM_CFG_BYTES: cap,
 * collision attempts, token pool size, TTL, ACK deadline, random failure
 * rate, seed) followed by 3-byte operations (issue, insert, consume, revoke,
 * prune, register, ack, ack with a wrong token, refused ACK, abandon, advance the clock,
 * sweep, replay a token that has left, step the clock back). Each operation
 * runs against the real store and a reference model
 * (conformance/model/token_model.h); any disagreement or broken invariant
 * aborts: a token consumed twice, an entry leaving twice or never, counts
 * above their caps, a wrong ACK exit. Leaks are ASan's.
 * spec: TOKEN-3 TOKEN-4 TOKEN-5 TOKEN-7 TOKEN-9 TOKEN-13 ACK-17 ACK-2 ACK-6
 *
 * Built two ways: with -fsanitize=fuzzer (make fuzz-token), and with
 * -DHO_FUZZ_REPLAY_MAIN as a plain program that runs every file or
 * directory given on its command line through the target (make test).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../conformance/model/token_model.h"

#define MAX_OPS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static tm_h h; /* ~4 KiB; static keeps the fuzzer's stack small */
  if (size < TM_CFG_BYTES) return 0;
  if (tm_init(&h, data) != 0) {
    fprintf(stderr, "fuzz_token: %s\n", h.err);
    abort();
  }
  size_t ops = 0;
  for (size_t off = TM_CFG_BYTES; off + TM_OP_BYTES <= size && ops < MAX_OPS;
       off += TM_OP_BYTES, ops++) {
    if (tm_step(&h, data[off], data[off + 1], data[off + 2]) != 0) {
      fprintf(stderr, "fuzz_token: %s\n", h.err);
      abort();
    }
  }
  if (tm_finish(&h) != 0) {
    fprintf(stderr, "fuzz_token: %s\n", h.err);
    abort();
  }
  return 0;
}

#ifdef HO_FUZZ_REPLAY_MAIN
#define HO_FUZZ_NAME "fuzz_token"
#include "fuzz_replay_main.h"
#endif
