# Conformance runner (issue #9): handoff-conform, its Python example
# backend, the mutant self-test.
#   make conform CMD="my-backend --listen {handoff_endpoint} --pipe {backend_pipe}"
#        [FEATURES="backend-ready multi-offer"] [MANIFEST=file.json] [CONFORM_ARGS=...]
#   make conform-selftest        every mutant against every case: the kill matrix
CONFORM_BIN := $(BUILD)/bin/handoff-conform
BINS += $(CONFORM_BIN)

CONFORM_SRCS := $(sort $(wildcard conformance/runner/*.c))
CONFORM_OBJS := $(CONFORM_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/gen/conform_reqs.o

# The requirement sentences, extracted from spec/ by the compliance parser.
$(GEN)/conform_reqs.c: conformance/runner/gen_reqs.py conformance/tools/compliance.py $(wildcard spec/*.md)
	@mkdir -p $(@D)
	$(PYTHON) conformance/runner/gen_reqs.py spec $@
$(OBJ)/gen/conform_reqs.o: CPPFLAGS += -Iconformance/runner

$(CONFORM_BIN): $(CONFORM_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(CONFORM_OBJS) $(LIB_A) $(LDFLAGS) $(LIBDEPS)

.PHONY: conform-bin
conform-bin: $(CONFORM_BIN)
