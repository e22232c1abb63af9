# Unit tests (Criterion): every conformance/unit/test_*.c in one binary.
UNIT_SRCS := $(sort $(wildcard conformance/unit/test_*.c))
UNIT_OBJS := $(UNIT_SRCS:%.c=$(OBJ)/%.o)
UNIT_BIN := $(BUILD)/test/unit
UNIT_EXTRA_OBJS ?=

$(UNIT_BIN): $(UNIT_OBJS) $(UNIT_EXTRA_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(UNIT_OBJS) $(UNIT_EXTRA_OBJS) $(LIB_A) $(LDFLAGS) $(LIBDEPS) $(CRITERION)

.PHONY: test-unit
test-unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2
TEST_TARGETS += test-unit
