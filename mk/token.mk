# Token core (issue #4): token store, ACK registry, fallback policy, pending
# queue — ref/lib/core/. The unit, ACK, fallback and model tests are
# conformance/unit/test_{token,ack,fallback}*.c and run in test-unit.
#
#   make test-token              only the token-core Criterion tests (quick loop)
#   make test-fuzz-token-replay  replay fuzz/corpus/fuzz_token/ (part of make test)
#   make fuzz-token              libFuzzer campaign, FUZZ_SECONDS (default 600)
#   make bench-token             issue+ACK throughput and bytes per pending handoff

TOKEN_CORE_SRCS := ref/lib/core/token.c ref/lib/core/ack.c ref/lib/core/fallback.c ref/lib/core/fwin.c \
                   ref/lib/core/pending.c ref/lib/wire/error.c
TOKEN_CORE_OBJS := $(TOKEN_CORE_SRCS:%.c=$(OBJ)/%.o)
TOKEN_TEST_SRCS := $(sort $(wildcard conformance/unit/test_token*.c conformance/unit/test_ack*.c \
                                      conformance/unit/test_fallback*.c))
TOKEN_TEST_OBJS := $(TOKEN_TEST_SRCS:%.c=$(OBJ)/%.o)

# Quick loop: the token-core tests alone, linked against the core objects
# only (independent of the rest of the library).
$(BUILD)/test/token: $(TOKEN_TEST_OBJS) $(TOKEN_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDFLAGS) $(CRITERION)

.PHONY: test-token
test-token: $(BUILD)/test/token
	$(BUILD)/test/token --jobs 2

# ---- fuzz target: plain replay binary (gcc or clang, no libFuzzer) ------
FUZZ_TOKEN_REPLAY := $(BUILD)/fuzz/fuzz_token_replay
FUZZ_TOKEN_CORPUS := fuzz/corpus/fuzz_token

$(OBJ)/fuzz/fuzz_token_replay.o: fuzz/fuzz_token.c fuzz/fuzz_replay_main.h conformance/model/token_model.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DHO_FUZZ_REPLAY_MAIN -c -o $@ $<

$(FUZZ_TOKEN_REPLAY): $(OBJ)/fuzz/fuzz_token_replay.o $(TOKEN_CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDFLAGS)

.PHONY: test-fuzz-token-replay
test-fuzz-token-replay: $(FUZZ_TOKEN_REPLAY)
	$(FUZZ_TOKEN_REPLAY) $(FUZZ_TOKEN_CORPUS)
TEST_TARGETS += test-fuzz-token-replay

# ---- libFuzzer campaign ---------------------------------------------------
FUZZ_TOKEN_DIR := $(BUILD)/libfuzzer-token
FUZZ_TOKEN_BIN := $(FUZZ_TOKEN_DIR)/fuzz_token
FUZZ_TOKEN_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer $(WARN) \
                     -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_TOKEN_BIN): fuzz/fuzz_token.c conformance/model/token_model.h $(TOKEN_CORE_SRCS) \
                   $(wildcard ref/lib/core/*.h) \
                   ref/include/handoff/token.h ref/include/handoff/fallback.h | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_TOKEN_CFLAGS) -o $@ fuzz/fuzz_token.c $(TOKEN_CORE_SRCS)

.PHONY: fuzz-token fuzz-token-merge
# New inputs go to $(FUZZ_TOKEN_DIR)/new; merge the interesting ones into the
# committed corpus with `make fuzz-token-merge` (libFuzzer -merge=1).
fuzz-token: $(FUZZ_TOKEN_BIN)
	@mkdir -p $(FUZZ_TOKEN_DIR)/new $(FUZZ_TOKEN_DIR)/artifacts
	$(FUZZ_TOKEN_BIN) -max_total_time=$(FUZZ_SECONDS) \
	  -dict=fuzz/fuzz_token.dict -max_len=4096 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_TOKEN_DIR)/artifacts/ $(FUZZ_TOKEN_DIR)/new $(FUZZ_TOKEN_CORPUS)

fuzz-token-merge: $(FUZZ_TOKEN_BIN)
	$(FUZZ_TOKEN_BIN) -merge=1 $(FUZZ_TOKEN_CORPUS) $(FUZZ_TOKEN_DIR)/new

# ---- benchmark --------------------------------------------------------------
BENCH_TOKEN := $(BUILD)/bench/bench_token

$(OBJ)/conformance/bench/bench_token.o: conformance/bench/bench_token.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BENCH_TOKEN): $(OBJ)/conformance/bench/bench_token.o $(TOKEN_CORE_OBJS) $(OBJ)/ref/bin/cli.o \
    $(OBJ)/ref/lib/core/version.o
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDFLAGS)

.PHONY: bench-token
bench-token: $(BENCH_TOKEN)
	$(BENCH_TOKEN)
