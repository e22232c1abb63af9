# Allocation-failure test of the broker core (issue #17): its config takes
# no allocator, so the binary wraps malloc/calloc/realloc/free around the
# static library and every allocation of a broker session fails in turn.
BROKER_FAILMALLOC_BIN := $(BUILD)/test/broker_failmalloc
BROKER_FAILMALLOC_OBJS := $(OBJ)/conformance/broker/test_broker_failmalloc.o
$(BROKER_FAILMALLOC_BIN): $(BROKER_FAILMALLOC_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(BROKER_FAILMALLOC_OBJS) $(LIB_A) $(LDFLAGS) $(LIBDEPS) $(CRITERION) \
	  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
.PHONY: test-broker-failmalloc
test-broker-failmalloc: $(BROKER_FAILMALLOC_BIN)
	$(BROKER_FAILMALLOC_BIN) --jobs 1
TEST_TARGETS += test-broker-failmalloc
