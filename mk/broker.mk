# Reference broker (issue #5): handoff-broker, its integration tests, the
# demo and the benchmark. The sans-I/O core lives in ref/lib/broker/ and is
# part of libhandoff like every ref/lib/*/*.c.
BROKER_BIN := $(BUILD)/bin/handoff-broker
BINS += $(BROKER_BIN)

$(BROKER_BIN): $(OBJ)/ref/bin/handoff-broker.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(LIB_A) $(LDFLAGS) $(LIBDEPS)

.PHONY: broker-bins
broker-bins: $(BROKER_BIN)
