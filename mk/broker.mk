# Reference broker (issue #5): handoff-broker, its integration tests and the
# demo (the benchmarks: mk/bench.mk). The sans-I/O core lives in ref/lib/broker/ and is
# part of libhandoff like every ref/lib/*/*.c.
BROKER_BIN := $(BUILD)/bin/handoff-broker
BINS += $(BROKER_BIN)

BROKER_OBJS := $(OBJ)/ref/bin/handoff-broker.o $(OBJ)/ref/bin/handoff-broker-loop.o \
  $(OBJ)/ref/bin/broker_flags.o $(OBJ)/ref/bin/cli.o

$(BROKER_BIN): $(BROKER_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(BROKER_OBJS) $(LIB_A) $(LDFLAGS) $(LIBDEPS)

.PHONY: broker-bins
broker-bins: $(BROKER_BIN)

# ---- integration tests: real processes (conformance/integration) ----------
HX_OBJS := $(OBJ)/conformance/integration/harness.o
ITEST_BIN := $(BUILD)/test/integration
ALL_PROGS := $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-backend

$(ITEST_BIN): $(OBJ)/conformance/integration/test_integration.o $(HX_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS) -lpthread

.PHONY: test-integration
test-integration: $(ITEST_BIN) $(ALL_PROGS)
	HO_BIN_DIR=$(BUILD)/bin $(ITEST_BIN)
TEST_TARGETS += test-integration

# ---- demo: a real handoff and forced fallbacks, traced (mk/demo.sh) --------
.PHONY: demo
demo: $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-backend $(BUILD)/bin/handoff-client
	@sh mk/demo.sh $(BUILD)/bin

# ---- hardening: the defects of the attack run, with real processes --------
# (issue #11; Python driving the plain reference programs: plain run only)
.PHONY: test-hardening
test-hardening: $(ALL_PROGS) $(BUILD)/bin/handoff-client
	$(PYTHON) conformance/system/test_hardening.py $(BUILD)/bin
ifneq ($(SAN),1)
TEST_TARGETS += test-hardening
endif
