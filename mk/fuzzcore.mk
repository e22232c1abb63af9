# Stateful fuzz targets of the sans-I/O protocol cores (issue #5): the
# broker core (handoff/broker.h) and the backend core (handoff/backend.h)
# driven by input-interpreted event sequences with invariant checks.
#
#   make test-fuzz-broker-replay   replay fuzz/corpus/fuzz_broker_core/ (part of make test)
#   make test-fuzz-backend-replay  replay fuzz/corpus/fuzz_backend_core/ (part of make test)
#   make fuzz-broker               libFuzzer campaign, FUZZ_SECONDS
#   make fuzz-backend              libFuzzer campaign, FUZZ_SECONDS
#   make fuzz-broker-merge / fuzz-backend-merge   merge new inputs (-merge=1)
#
# FUZZ_SECONDS and FUZZ_CC are set in the top-level Makefile; the campaigns
# behind the committed corpora ran FUZZ_SECONDS=720.


# ---- plain replay binaries (gcc or clang, no libFuzzer) ------------------
FUZZ_BROKER_REPLAY := $(BUILD)/fuzz/fuzz_broker_core_replay
FUZZ_BROKER_CORPUS := fuzz/corpus/fuzz_broker_core
FUZZ_BACKEND_REPLAY := $(BUILD)/fuzz/fuzz_backend_core_replay
FUZZ_BACKEND_CORPUS := fuzz/corpus/fuzz_backend_core

$(OBJ)/fuzz/fuzz_broker_core_replay.o: fuzz/fuzz_broker_core.c fuzz/broker_shell_model.h \
                                      fuzz/fuzz_replay_main.h $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DHO_FUZZ_REPLAY_MAIN -MMD -MP -c -o $@ $<

$(OBJ)/fuzz/fuzz_backend_core_replay.o: fuzz/fuzz_backend_core.c fuzz/backend_shell_model.h \
                                       fuzz/fuzz_replay_main.h $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DHO_FUZZ_REPLAY_MAIN -MMD -MP -c -o $@ $<

$(FUZZ_BROKER_REPLAY): $(OBJ)/fuzz/fuzz_broker_core_replay.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)

$(FUZZ_BACKEND_REPLAY): $(OBJ)/fuzz/fuzz_backend_core_replay.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)

.PHONY: test-fuzz-broker-replay test-fuzz-backend-replay
test-fuzz-broker-replay: $(FUZZ_BROKER_REPLAY)
	$(FUZZ_BROKER_REPLAY) $(FUZZ_BROKER_CORPUS)
test-fuzz-backend-replay: $(FUZZ_BACKEND_REPLAY)
	$(FUZZ_BACKEND_REPLAY) $(FUZZ_BACKEND_CORPUS)
TEST_TARGETS += test-fuzz-broker-replay test-fuzz-backend-replay

# ---- libFuzzer campaigns ----------------------------------------------------
FUZZCORE_SRCS := $(LIB_SRCS) $(PBC_C) $(NPB_C)
FUZZCORE_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer $(WARN) -Wno-unused-parameter \
                   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BROKER_DIR := $(BUILD)/libfuzzer-broker
FUZZ_BROKER_BIN := $(FUZZ_BROKER_DIR)/fuzz_broker_core
FUZZ_BACKEND_DIR := $(BUILD)/libfuzzer-backend
FUZZ_BACKEND_BIN := $(FUZZ_BACKEND_DIR)/fuzz_backend_core

$(FUZZ_BROKER_BIN): fuzz/fuzz_broker_core.c fuzz/broker_shell_model.h fuzz/fuzz_replay_main.h $(FUZZCORE_SRCS) $(GEN_HDRS) \
                    $(wildcard ref/lib/*/*.h ref/include/handoff/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZCORE_CFLAGS) -o $@ fuzz/fuzz_broker_core.c $(FUZZCORE_SRCS) $(LIBDEPS)

$(FUZZ_BACKEND_BIN): fuzz/fuzz_backend_core.c fuzz/backend_shell_model.h fuzz/fuzz_replay_main.h $(FUZZCORE_SRCS) $(GEN_HDRS) \
                     $(wildcard ref/lib/*/*.h ref/include/handoff/*.h) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZCORE_CFLAGS) -o $@ fuzz/fuzz_backend_core.c $(FUZZCORE_SRCS) $(LIBDEPS)

.PHONY: fuzz-broker fuzz-broker-merge fuzz-backend fuzz-backend-merge
# New inputs go to $(FUZZ_*_DIR)/new; merge the interesting ones into the
# committed corpus with `make fuzz-*-merge` (libFuzzer -merge=1 by edge
# coverage, -use_counters=0: hit counts would keep thousands of files).
fuzz-broker: $(FUZZ_BROKER_BIN)
	@mkdir -p $(FUZZ_BROKER_DIR)/new $(FUZZ_BROKER_DIR)/artifacts
	$(FUZZ_BROKER_BIN) -max_total_time=$(FUZZ_SECONDS) \
	  -dict=fuzz/fuzz_broker_core.dict -max_len=4096 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BROKER_DIR)/artifacts/ $(FUZZ_BROKER_DIR)/new $(FUZZ_BROKER_CORPUS)

fuzz-broker-merge: $(FUZZ_BROKER_BIN)
	$(FUZZ_BROKER_BIN) -merge=1 -use_counters=0 $(FUZZ_BROKER_CORPUS) $(FUZZ_BROKER_DIR)/new

fuzz-backend: $(FUZZ_BACKEND_BIN)
	@mkdir -p $(FUZZ_BACKEND_DIR)/new $(FUZZ_BACKEND_DIR)/artifacts
	$(FUZZ_BACKEND_BIN) -max_total_time=$(FUZZ_SECONDS) \
	  -dict=fuzz/fuzz_backend_core.dict -max_len=4096 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BACKEND_DIR)/artifacts/ $(FUZZ_BACKEND_DIR)/new $(FUZZ_BACKEND_CORPUS)

fuzz-backend-merge: $(FUZZ_BACKEND_BIN)
	$(FUZZ_BACKEND_BIN) -merge=1 -use_counters=0 $(FUZZ_BACKEND_CORPUS) $(FUZZ_BACKEND_DIR)/new
