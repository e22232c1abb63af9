# Allocation-failure test of the protobuf-c path (issue #17): every
# allocation of a decode or encode fails in turn; HO_ERR_NOMEM, no leak.
# protobuf-c is linked statically so that its own allocations are wrapped.
FAILMALLOC_BIN := $(BUILD)/test/codec_failmalloc
FAILMALLOC_OBJS := $(OBJ)/conformance/codec/test_failmalloc.o
$(FAILMALLOC_BIN): $(FAILMALLOC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(FAILMALLOC_OBJS) $(LIB_A) $(LDFLAGS) $(filter-out -lprotobuf-c,$(LIBDEPS)) \
	  -l:libprotobuf-c.a $(CRITERION) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
.PHONY: test-codec-failmalloc
test-codec-failmalloc: $(FAILMALLOC_BIN)
	$(FAILMALLOC_BIN) --jobs 1
TEST_TARGETS += test-codec-failmalloc
