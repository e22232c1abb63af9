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

# make demo as a user sees it in a file (issue #15 item 7): exit 0, no
# escape codes when stdout is not a terminal, every echoed text shown, the
# client's and the broker's reason names side by side where they differ.
.PHONY: test-demo
test-demo: $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-backend $(BUILD)/bin/handoff-client
	@sh mk/demo.sh $(BUILD)/bin > $(BUILD)/demo.txt 2>&1 || { cat $(BUILD)/demo.txt; exit 1; }
	@! grep -q "$$(printf '\033')" $(BUILD)/demo.txt || { echo "test-demo: escape codes in a file"; exit 1; }
	@test "$$(grep -c '^   echoed : "' $(BUILD)/demo.txt)" -eq 5 || { echo "test-demo: want 5 echoed texts"; cat $(BUILD)/demo.txt; exit 1; }
	@awk '/^   names  : /{ n++; split($$0, a, "reason="); split(a[2], c, " "); split(a[3], b, " "); \
	  if (c[1] == b[1]) { print "test-demo: names line with one name: " $$0; bad = 1 } } \
	  /^   client : .*reason=/{ r++ } END { if (bad || r != 5) { print "test-demo: want 5 client reasons, got " r; exit 1 } }' \
	  $(BUILD)/demo.txt
	@echo "test-demo: plain text, 5 echoes shown, $$(grep -c "^   names  : " $(BUILD)/demo.txt) differing reason names explained"
TEST_TARGETS += test-demo
