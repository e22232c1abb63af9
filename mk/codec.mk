# Codec helper (issue #2): golden vectors, protoc cross-check, allocation
# test of the nanopb path, differential fuzz target and its replay, and the
# codec benchmark. Generated files live in $(GEN) and are never committed.

VEC_JSON := $(sort $(wildcard conformance/vectors/*.json))
VEC_C := $(GEN)/vectors_table.c
VEC_H := $(GEN)/vectors_table.h

$(VEC_H): $(VEC_JSON) conformance/tools/vectors_to_c.py | $(DEPS_STAMP)
	@mkdir -p $(GEN)
	$(PYTHON) conformance/tools/vectors_to_c.py conformance/vectors $(VEC_C) $(VEC_H)
$(VEC_C): $(VEC_H)
$(OBJ)/gen/vectors_table.o: $(VEC_C) $(VEC_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $(VEC_C)
$(OBJ)/conformance/unit/test_codec_vectors.o: $(VEC_H)
UNIT_EXTRA_OBJS += $(OBJ)/gen/vectors_table.o

# Google's protoc decodes every decodable vector; the committed vectors are
# what the generator produces.
.PHONY: test-vectors-protoc
test-vectors-protoc: | $(DEPS_STAMP)
	$(PYTHON) conformance/tools/make_vectors.py --check
	$(PYTHON) conformance/tools/check_vectors_protoc.py conformance/vectors
TEST_TARGETS += test-vectors-protoc

# The nanopb path allocates nothing: every malloc/calloc/realloc/free the
# library makes is counted through link-time wrapping (works with ASan too).
ALLOC_BIN := $(BUILD)/test/codec_alloc
ALLOC_OBJS := $(OBJ)/conformance/codec/test_alloc.o
$(ALLOC_BIN): $(ALLOC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(ALLOC_OBJS) $(LIB_A) $(LDFLAGS) $(LIBDEPS) $(CRITERION) \
	  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
.PHONY: test-codec-alloc
test-codec-alloc: $(ALLOC_BIN)
	$(ALLOC_BIN) --jobs 1
TEST_TARGETS += test-codec-alloc

# Differential fuzz target: a replay binary (own main) for `make test`, and
# a libFuzzer build (clang) for `make fuzz-frame`.
FUZZ_FRAME_SRC := fuzz/fuzz_frame_decode.c
FUZZ_FRAME_CORPUS := fuzz/corpus/fuzz_frame_decode
FUZZ_FRAME_REPLAY := $(BUILD)/fuzz/fuzz_frame_decode_replay
FUZZ_FRAME_BIN := $(BUILD)/fuzz/fuzz_frame_decode
$(FUZZ_FRAME_REPLAY): $(OBJ)/fuzz/fuzz_frame_decode_replay.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)
$(OBJ)/fuzz/fuzz_frame_decode_replay.o: $(FUZZ_FRAME_SRC) $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DHO_FUZZ_REPLAY_MAIN -MMD -MP -c -o $@ $<
.PHONY: test-fuzz-frame-replay fuzz-frame
test-fuzz-frame-replay: $(FUZZ_FRAME_REPLAY)
	$(FUZZ_FRAME_REPLAY) $(FUZZ_FRAME_CORPUS)
TEST_TARGETS += test-fuzz-frame-replay

FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1
$(FUZZ_FRAME_BIN): $(FUZZ_FRAME_SRC) $(filter ref/lib/wire/%,$(LIB_SRCS)) $(PBC_C) $(NPB_C) $(GEN_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter $(FUZZ_FLAGS) -o $@ \
	  $(FUZZ_FRAME_SRC) $(filter ref/lib/wire/%,$(LIB_SRCS)) $(PBC_C) $(NPB_C) $(LIBDEPS)
fuzz-frame: $(FUZZ_FRAME_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus-frame
	$(FUZZ_FRAME_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=70000 \
	  -artifact_prefix=$(BUILD)/fuzz/ -dict=fuzz/fuzz_frame_decode.dict \
	  $(BUILD)/fuzz/corpus-frame $(FUZZ_FRAME_CORPUS)

# Benchmark: ns per encode/decode and heap allocations per operation.
BENCH_CODEC_BIN := $(BUILD)/bench/bench_codec
$(BENCH_CODEC_BIN): $(OBJ)/conformance/bench/bench_codec.o $(OBJ)/ref/bin/cli.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS)
.PHONY: bench-codec
bench-codec: $(BENCH_CODEC_BIN)
	$(BENCH_CODEC_BIN)
