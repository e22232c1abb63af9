# Embedding examples (issue #15): complete programs under ref/examples/,
# compiled as a user would (public headers only, no _GNU_SOURCE), quoted in
# handoff/backend.h and handoff/client.h byte for byte, and run behind the
# reference broker with the reference client (make test-examples).
EXAMPLES := $(BUILD)/examples/embed_backend $(BUILD)/examples/embed_client
BINS += $(EXAMPLES)

$(BUILD)/examples/%: ref/examples/%.c $(LIB_A) $(wildcard ref/include/handoff/*.h)
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -g $(WARN) -Wpedantic $(SANFLAGS) -Iref/include -o $@ $< $(LIB_A) \
	  $(LDFLAGS) $(LIBDEPS)

.PHONY: examples test-examples
examples: $(EXAMPLES)
test-examples: $(EXAMPLES) $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-client
	$(PYTHON) conformance/tools/check_excerpts.py
	sh conformance/system/test_embed.sh $(BUILD)/examples/embed_backend $(BUILD)/bin/handoff-broker \
	  $(BUILD)/bin/handoff-client $(BUILD)/examples/embed_client
TEST_TARGETS += test-examples
