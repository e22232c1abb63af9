# Fuzzing for frame parsers (issue #17): the parser targets, one libFuzzer
# build of every target (old and new) from one instrumented library, the
# corpus replays and smoke campaigns of make test, campaigns of every target
# in turn, the custom-mutator comparison, seeds from the golden vectors and
# the promotion of a finding into a corpus entry plus a regression case.
#
#   make test-fuzz-parse-replay  replay the corpora of the parser targets and
#                                conformance/regression/<target>/ (make test)
#   make test-fuzz-seeds         every golden vector is a seed of its targets
#   make test-fuzz-smoke         -seed=1 -runs=N per target (plain make test)
#   make fuzz-seeds              write the vector seeds into fuzz/corpus/
#   make fuzz-run-<target>       one campaign of FUZZ_SECONDS, new inputs in
#                                $(FUZZ_RUNS)/<target>/new
#   make fuzz-merge-<target>     merge them into fuzz/corpus/<target>
#   make fuzz-all                every target in turn, FUZZ_SECONDS each, and
#                                a summary (executions, new coverage, findings)
#   make fuzz-compare            FUZZ_COMPARE targets with and without the
#                                structure-aware mutator, same seconds and seeds
#   make fuzz-promote INPUT=<file> TARGET=<target> [NAME=..] [MESSAGE=..] [REQS=..]
#                                a finding -> corpus entry + golden vector or
#                                named regression file (fuzz/README.md)

# Transport checks without I/O (synthetic msghdrs, Windows handle values):
# built, replayed and smoke-run like the parser targets, no proto mutator.
FUZZ_XFER_TARGETS := fuzz_sideband fuzz_win_offer
FUZZ_PARSE_TARGETS := fuzz_frame_reader fuzz_client_core fuzz_hello fuzz_hello_reply fuzz_offer fuzz_ack \
                      fuzz_envelope fuzz_msg_json $(FUZZ_XFER_TARGETS)
FUZZ_ALL_TARGETS := fuzz_frame_decode fuzz_token fuzz_broker_core fuzz_backend_core \
                    $(FUZZ_PARSE_TARGETS)
# Targets built with the structure-aware mutator (proto_mutator.h).
FUZZ_PM_TARGETS := fuzz_frame_decode $(filter-out $(FUZZ_XFER_TARGETS),$(FUZZ_PARSE_TARGETS))
FUZZ_HDRS := $(wildcard fuzz/*.h)

# ---- plain replay binaries (gcc or clang, SAN=1 too) ------------------------
FUZZ_PARSE_REPLAYS := $(FUZZ_PARSE_TARGETS:%=$(BUILD)/fuzz/%_replay)

$(FUZZ_PARSE_TARGETS:%=$(OBJ)/fuzz/%_replay.o): $(OBJ)/fuzz/%_replay.o: fuzz/%.c $(FUZZ_HDRS) \
                                                $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DHO_FUZZ_REPLAY_MAIN -MMD -MP -c -o $@ $<

$(FUZZ_PARSE_REPLAYS): $(BUILD)/fuzz/%_replay: $(OBJ)/fuzz/%_replay.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)

# Replay binary of any target (the old ones are built by their fragments).
fuzz_replay = $(BUILD)/fuzz/$(1)_replay

.PHONY: test-fuzz-parse-replay test-fuzz-regressions test-fuzz-seeds fuzz-seeds
test-fuzz-parse-replay: $(FUZZ_PARSE_REPLAYS)
	@set -e; for t in $(FUZZ_PARSE_TARGETS); do $(BUILD)/fuzz/$${t}_replay fuzz/corpus/$$t; done
TEST_TARGETS += test-fuzz-parse-replay

# Named regression inputs of targets that are not decoders (fuzz-promote):
# conformance/regression/<target>/<name>, replayed through the target.
FUZZ_REGRESSION_DIRS := $(sort $(wildcard conformance/regression/fuzz_*))
test-fuzz-regressions: $(foreach d,$(FUZZ_REGRESSION_DIRS),$(call fuzz_replay,$(notdir $(d))))
	@set -e; for d in $(FUZZ_REGRESSION_DIRS); do \
	  t=$$(basename $$d); echo "regressions of $$t:"; $(BUILD)/fuzz/$${t}_replay $$d; done
ifneq ($(FUZZ_REGRESSION_DIRS),)
TEST_TARGETS += test-fuzz-regressions
endif

test-fuzz-seeds: | $(DEPS_STAMP)
	$(PYTHON) fuzz/tools/vector_seeds.py --check
fuzz-seeds: | $(DEPS_STAMP)
	$(PYTHON) fuzz/tools/vector_seeds.py
ifneq ($(SAN),1)
TEST_TARGETS += test-fuzz-seeds
endif

# ---- libFuzzer builds of every target -----------------------------------------
# One instrumented copy of the library (fuzzer-no-link + ASan + UBSan),
# then each target linked with -fsanitize=fuzzer. <target>-bytes is the
# same target without the custom mutator (HO_PM_DISABLE), for fuzz-compare.
FUZZ_LF := $(BUILD)/libfuzzer
FUZZ_LF_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LF_CFLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer $(WARN) -Wno-unused-parameter $(FUZZ_LF_SAN)
FUZZ_LF_SRCS := $(LIB_SRCS) $(PBC_C) $(NPB_C)
FUZZ_LF_OBJS := $(patsubst %.c,$(FUZZ_LF)/obj/%.o,$(LIB_SRCS) $(PBC_C:$(GEN)/%=gen/%) $(NPB_C:$(GEN)/%=gen/%))
FUZZ_LF_LIB := $(FUZZ_LF)/libhandoff-fuzz.a
FUZZ_LF_BINS := $(FUZZ_ALL_TARGETS:%=$(FUZZ_LF)/%)

$(FUZZ_LF)/obj/ref/%.o: ref/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_LF_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<
$(FUZZ_LF)/obj/gen/%.o: $(GEN)/%.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_LF_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_LF_LIB): $(FUZZ_LF_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_LF_BINS): $(FUZZ_LF)/%: fuzz/%.c $(FUZZ_HDRS) $(FUZZ_LF_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_LF_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LF_LIB) $(LIBDEPS)
$(FUZZ_PM_TARGETS:%=$(FUZZ_LF)/%-bytes): $(FUZZ_LF)/%-bytes: fuzz/%.c $(FUZZ_HDRS) $(FUZZ_LF_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_LF_CFLAGS) -DHO_PM_DISABLE -fsanitize=fuzzer -o $@ $< \
	  $(FUZZ_LF_LIB) $(LIBDEPS)

-include $(shell find $(FUZZ_LF)/obj -name '*.d' 2>/dev/null)

# libFuzzer flags of a target (shell word $$t or a make name) from
# fuzz/<target>.options (OSS-Fuzz format) and fuzz/<target>.dict.
fuzz_flags = $$(sh fuzz/tools/lf_flags.sh $(1))

# ---- smoke campaigns (plain make test only: libFuzzer has its own ASan) -----
# Deterministic: -seed=1, a fixed number of runs (the corpus replay plus
# FUZZ_SMOKE_RUNS mutations), new inputs into a scratch directory.
# Address-space randomisation off (setarch -R) where allowed: comparison
# operands libFuzzer records (and replays as mutations) include addresses.
FUZZ_SMOKE_RUNS ?= 3000
FUZZ_SMOKE := $(BUILD)/fuzz-smoke
FUZZ_NORAND := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
.PHONY: test-fuzz-smoke
test-fuzz-smoke: $(FUZZ_LF_BINS)
	@set -e; rm -rf $(FUZZ_SMOKE); mkdir -p $(FUZZ_SMOKE); for t in $(FUZZ_ALL_TARGETS); do \
	  n=$$(ls fuzz/corpus/$$t | wc -l); runs=$$((n + $(FUZZ_SMOKE_RUNS))); \
	  mkdir -p $(FUZZ_SMOKE)/$$t; \
	  if ! $(FUZZ_NORAND) $(FUZZ_LF)/$$t -seed=1 -runs=$$runs $(call fuzz_flags,$$t) -print_final_stats=1 \
	      -artifact_prefix=$(FUZZ_SMOKE)/$$t- $(FUZZ_SMOKE)/$$t fuzz/corpus/$$t \
	      > $(FUZZ_SMOKE)/$$t.log 2>&1; then \
	    tail -40 $(FUZZ_SMOKE)/$$t.log; echo "smoke campaign of $$t failed: $(FUZZ_SMOKE)/$$t.log"; exit 1; fi; \
	  printf '%-20s %s\n' $$t "$$(grep -o 'cov: [0-9]* ft: [0-9]*' $(FUZZ_SMOKE)/$$t.log | tail -1), $$runs runs"; \
	done
ifneq ($(SAN),1)
TEST_TARGETS += test-fuzz-smoke
endif

# ---- campaigns -------------------------------------------------------------------
FUZZ_NICE ?= nice -n 10
# Not $(FUZZ_LF)/<target>/: that is the fuzzer binary itself.
FUZZ_RUNS := $(BUILD)/fuzz-runs
.PHONY: fuzz-all fuzz-compare fuzz-promote
$(FUZZ_ALL_TARGETS:%=fuzz-run-%): fuzz-run-%: $(FUZZ_LF)/%
	@mkdir -p $(FUZZ_RUNS)/$*/new $(FUZZ_RUNS)/$*/artifacts
	$(FUZZ_NICE) $(FUZZ_LF)/$* -max_total_time=$(FUZZ_SECONDS) $(call fuzz_flags,$*) \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_RUNS)/$*/artifacts/ \
	  $(FUZZ_RUNS)/$*/new fuzz/corpus/$* 2>&1 | tee $(FUZZ_RUNS)/$*/campaign.log

$(FUZZ_ALL_TARGETS:%=fuzz-merge-%): fuzz-merge-%: $(FUZZ_LF)/%
	$(FUZZ_LF)/$* -merge=1 -use_counters=0 $(call fuzz_flags,$*) fuzz/corpus/$* $(FUZZ_RUNS)/$*/new

# Every target in turn (one at a time), then the summary table. A campaign
# that finds something does not stop the others.
FUZZ_ALL_DIR := $(BUILD)/fuzz-all
fuzz-all: $(FUZZ_LF_BINS)
	@mkdir -p $(FUZZ_ALL_DIR)
	@for t in $(FUZZ_ALL_TARGETS); do \
	  rm -rf $(FUZZ_ALL_DIR)/$$t; mkdir -p $(FUZZ_ALL_DIR)/$$t/new $(FUZZ_ALL_DIR)/$$t/artifacts; \
	  echo "fuzz-all: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_NICE) $(FUZZ_LF)/$$t -max_total_time=$(FUZZ_SECONDS) $(call fuzz_flags,$$t) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_ALL_DIR)/$$t/artifacts/ \
	    $(FUZZ_ALL_DIR)/$$t/new fuzz/corpus/$$t > $(FUZZ_ALL_DIR)/$$t/campaign.log 2>&1 || true; \
	done
	$(PYTHON) fuzz/tools/fuzz_summary.py $(FUZZ_ALL_DIR) $(FUZZ_ALL_TARGETS)

# Same seconds, same seed corpus (FUZZ_COMPARE_SEEDS/<target>, default the
# committed corpora), with and without the custom mutator.
FUZZ_COMPARE ?= fuzz_hello_reply fuzz_envelope fuzz_offer
FUZZ_COMPARE_SEEDS ?= fuzz/corpus
FUZZ_COMPARE_DIR := $(BUILD)/fuzz-compare
fuzz-compare: $(FUZZ_COMPARE:%=$(FUZZ_LF)/%) $(FUZZ_COMPARE:%=$(FUZZ_LF)/%-bytes)
	$(MAKE) --no-print-directory BUILD=$(COV_BUILD) SAN=0 CC=clang EXTRA_CFLAGS="$(COV_FLAGS)" \
	  EXTRA_LDFLAGS="-fprofile-instr-generate" $(FUZZ_COMPARE:%=$(COV_BUILD)/fuzz/%_replay)
	@for t in $(FUZZ_COMPARE); do for v in $$t $$t-bytes; do \
	  rm -rf $(FUZZ_COMPARE_DIR)/$$v; mkdir -p $(FUZZ_COMPARE_DIR)/$$v/new; \
	  echo "fuzz-compare: $$v for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_NICE) $(FUZZ_LF)/$$v -seed=1 -max_total_time=$(FUZZ_SECONDS) $(call fuzz_flags,$$t) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_COMPARE_DIR)/$$v/ \
	    $(FUZZ_COMPARE_DIR)/$$v/new $(FUZZ_COMPARE_SEEDS)/$$t > $(FUZZ_COMPARE_DIR)/$$v/campaign.log 2>&1 || true; \
	done; done
	$(PYTHON) fuzz/tools/fuzz_summary.py --compare $(FUZZ_COMPARE_DIR) --cov $(COV_BUILD)/fuzz \
	  --seeds $(FUZZ_COMPARE_SEEDS) $(FUZZ_COMPARE)

# ---- promotion of a finding --------------------------------------------------------
FUZZ_VERDICT := $(BUILD)/fuzz/vector_verdict
$(FUZZ_VERDICT): $(OBJ)/fuzz/tools/vector_verdict.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)

fuzz-promote: $(FUZZ_VERDICT) $(FUZZ_ALL_TARGETS:%=$(BUILD)/fuzz/%_replay)
	@test -n "$(INPUT)" -a -n "$(TARGET)" || { echo "usage: make fuzz-promote INPUT=<file> TARGET=<target> [NAME=..] [MESSAGE=..] [REQS=..]"; exit 2; }
	$(PYTHON) fuzz/tools/promote.py --verdict $(FUZZ_VERDICT) --replay $(BUILD)/fuzz/$(TARGET)_replay \
	  --input $(INPUT) --target $(TARGET) $(if $(NAME),--name $(NAME)) $(if $(MESSAGE),--message $(MESSAGE)) \
	  $(if $(REQS),--requirements $(REQS)) $(if $(DESC),--description "$(DESC)")

.PHONY: test-fuzz-promote
test-fuzz-promote: $(FUZZ_VERDICT) $(BUILD)/fuzz/fuzz_frame_reader_replay \
                   $(BUILD)/fuzz/fuzz_offer_replay $(BUILD)/fuzz/fuzz_ack_replay
	$(PYTHON) fuzz/tools/test_promote.py --verdict $(FUZZ_VERDICT) --bindir $(BUILD)/fuzz
ifneq ($(SAN),1)
TEST_TARGETS += test-fuzz-promote
endif
