# Interop matrix (issues #8, #10): the C reference programs, the v1 test
# peers (conformance/peers/v1, Python standard library, behaving like the
# original running-process v1) and the spec's Python example broker and
# client (conformance/peers/python) in every broker x backend x client
# combination; verdicts from observation (served, route, executed twice,
# descriptors). Python only, no sanitized C: not in the SAN=1 run.
#   make interop-matrix   the full matrix, 200 clients in every cell
#   make test-interop     codec check of the peers + the quick matrix (every
#                         combination with 200 clients on the handoff route,
#                         40 per fallback cell, 20 per cell with a Python
#                         broker or client)
INTEROP := conformance/interop/run_matrix.py
INTEROP_PROGS := $(BROKER_BIN) $(BACKEND_BIN) $(CLIENT_BIN)

.PHONY: interop-matrix test-interop
interop-matrix: $(INTEROP_PROGS)
	$(PYTHON) conformance/peers/v1/test_v1wire.py
	PYTHON=$(PYTHON) $(PYTHON) $(INTEROP) --bin-dir $(BUILD)/bin --out $(BUILD)/interop

test-interop: $(INTEROP_PROGS)
	$(PYTHON) conformance/peers/v1/test_v1wire.py
	PYTHON=$(PYTHON) $(PYTHON) $(INTEROP) --quick --bin-dir $(BUILD)/bin --out $(BUILD)/interop-quick

ifneq ($(SAN),1)
TEST_TARGETS += test-interop
endif
CLEAN_EXTRA += conformance/peers/v1/__pycache__
