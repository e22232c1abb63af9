# Coverage (issue #17): clang source-based coverage of ref/lib/ over the unit
# tests (Criterion), the codec allocation, codec and broker failmalloc tests and the replay of every fuzz
# corpus (and conformance/regression/), built in $(COV_BUILD) at -O0.
#
#   make coverage   line and branch coverage per folder of ref/lib/, for all
#                   of it together and for the fuzz corpora alone; HTML report
#                   and the condition outcomes never taken, in $(COV_DIR)
#
# A branch is one outcome (true or false) of a condition, as llvm-cov counts.

COV_BUILD := build-cov
COV_DIR := $(COV_BUILD)/coverage
LLVM_PROFDATA ?= llvm-profdata-14
LLVM_COV ?= llvm-cov-14
COV_FLAGS := -O0 -fprofile-instr-generate -fcoverage-mapping
COV_BINS = $(COV_BUILD)/test/unit $(COV_BUILD)/test/codec_alloc $(COV_BUILD)/test/codec_failmalloc \
            $(COV_BUILD)/test/broker_failmalloc \
            $(FUZZ_ALL_TARGETS:%=$(COV_BUILD)/fuzz/%_replay)
COV_SOURCES := $(sort $(wildcard ref/lib/*/*.c ref/lib/*/*.h))

.PHONY: coverage
coverage: | $(DEPS_STAMP)
	@command -v $(LLVM_PROFDATA) >/dev/null && command -v $(LLVM_COV) >/dev/null || \
	  { echo "coverage: $(LLVM_PROFDATA) and $(LLVM_COV) needed (Debian package llvm-14)"; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(COV_BUILD) SAN=0 CC=clang EXTRA_CFLAGS="$(COV_FLAGS)" \
	  EXTRA_LDFLAGS="-fprofile-instr-generate" $(COV_BINS)
	@rm -rf $(COV_DIR) && mkdir -p $(COV_DIR)/prof/unit $(COV_DIR)/prof/fuzz
	LLVM_PROFILE_FILE=$(COV_DIR)/prof/unit/unit-%4m.profraw $(COV_BUILD)/test/unit --jobs 2 >$(COV_DIR)/unit.log 2>&1
	LLVM_PROFILE_FILE=$(COV_DIR)/prof/unit/alloc-%m.profraw $(COV_BUILD)/test/codec_alloc --jobs 1 >>$(COV_DIR)/unit.log 2>&1
	LLVM_PROFILE_FILE=$(COV_DIR)/prof/unit/failmalloc-%m.profraw $(COV_BUILD)/test/codec_failmalloc --jobs 1 >>$(COV_DIR)/unit.log 2>&1
	LLVM_PROFILE_FILE=$(COV_DIR)/prof/unit/broker-failmalloc-%m.profraw $(COV_BUILD)/test/broker_failmalloc --jobs 1 >>$(COV_DIR)/unit.log 2>&1
	@set -e; for t in $(FUZZ_ALL_TARGETS); do \
	  LLVM_PROFILE_FILE=$(COV_DIR)/prof/fuzz/$$t-%m.profraw $(COV_BUILD)/fuzz/$${t}_replay \
	    fuzz/corpus/$$t $$(ls -d conformance/regression/$$t 2>/dev/null); done
	$(LLVM_PROFDATA) merge -sparse -o $(COV_DIR)/fuzz.profdata $(COV_DIR)/prof/fuzz/*.profraw
	$(LLVM_PROFDATA) merge -sparse -o $(COV_DIR)/all.profdata $(COV_DIR)/prof/unit/*.profraw \
	  $(COV_DIR)/prof/fuzz/*.profraw
	$(PYTHON) conformance/tools/coverage_report.py --llvm-cov $(LLVM_COV) --out $(COV_DIR) \
	  --profile all=$(COV_DIR)/all.profdata --profile fuzz=$(COV_DIR)/fuzz.profdata \
	  --unreached conformance/coverage-unreached.txt \
	  --objects $(COV_BINS) --sources $(COV_SOURCES)
