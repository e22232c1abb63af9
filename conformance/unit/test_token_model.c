/* Model-based property test of the token store and ACK registry: at least
 * 1 000 000 pseudo-random operations (issue, insert, consume, revoke,
 * prune, register, ack, ack with a wrong token, abandon, clock moves,
 * sweep, replay) run against the real store and the reference model of
 * conformance/model/token_model.h, which checks after every step that
 * results, outputs, counts, next deadlines and every token's state agree
 * and that no token is consumed twice or leaves twice or never.
 * The operations are spread over many small configurations (cap, pool of
 * token values, TTL, ACK deadline, collision attempts, random failures).
 */
#include <criterion/criterion.h>

#include "../model/token_model.h"

#ifndef HO_MODEL_OPS
#define HO_MODEL_OPS 1000000
#endif

static uint64_t next(uint64_t *x) {
  *x = tm_mix(*x);
  return *x;
}

/* spec: TOKEN-3 TOKEN-4 TOKEN-5 TOKEN-7 TOKEN-9 TOKEN-13 ACK-17 ACK-2 ACK-6 */
Test(token_model, million_random_operations_agree_with_the_model, .timeout = 300) {
  static tm_h h;
  uint64_t rng = 0x5eed;
  uint64_t done = 0;
  unsigned configs = 0;
  /* Weights: more issue/register/ack/advance than the rest. */
  static const uint8_t weighted[] = {TM_ISSUE, TM_ISSUE, TM_ISSUE, TM_INSERT, TM_CONSUME, TM_CONSUME,
                                     TM_REVOKE, TM_PRUNE, TM_REGISTER, TM_REGISTER, TM_REGISTER,
                                     TM_ACK, TM_ACK, TM_ACK_WRONG, TM_REFUSE, TM_ABANDON, TM_ADVANCE, TM_ADVANCE,
                                     TM_ADVANCE, TM_SWEEP, TM_SWEEP, TM_REPLAY, TM_STEP_BACK};
  while (done < HO_MODEL_OPS) {
    uint8_t cfg[TM_CFG_BYTES];
    for (int i = 0; i < TM_CFG_BYTES; i++) cfg[i] = (uint8_t)next(&rng);
    cfg[2] %= 32; /* pools of 2..33 token values: frequent collisions and reuse */
    cr_assert_eq(tm_init(&h, cfg), 0, "%s", h.err);
    configs++;
    uint64_t len = 1000 + next(&rng) % 9000;
    for (uint64_t k = 0; k < len && done < HO_MODEL_OPS; k++, done++) {
      uint64_t r = next(&rng);
      uint8_t op = weighted[r % sizeof weighted];
      if (tm_step(&h, op, (uint8_t)(r >> 16), (uint8_t)(r >> 24)) != 0)
        cr_assert_fail("config %u (cfg %02x%02x%02x%02x%02x%02x%02x%02x): %s", configs, cfg[0], cfg[1],
                cfg[2], cfg[3], cfg[4], cfg[5], cfg[6], cfg[7], h.err);
    }
    cr_assert_eq(tm_finish(&h), 0, "%s", h.err);
  }
  cr_assert_geq(done, HO_MODEL_OPS);
  cr_log_info("token_model: %llu operations over %u configurations agreed", (unsigned long long)done,
              configs);
}
