# Conformance runner (issues #9, #10): handoff-conform in its three modes,
# the Python example peers, the mutant self-test.
#   make conform [MODE=backend|broker|client] CMD="my-program {placeholders}"
#        [FEATURES="backend-ready multi-offer"] [MANIFEST=file.json] [CONFORM_ARGS=...]
#   make conform-selftest        every mutant against every case: the kill matrix
CONFORM_BIN := $(BUILD)/bin/handoff-conform
BINS += $(CONFORM_BIN)

CONFORM_SRCS := $(sort $(wildcard conformance/runner/*.c))
CONFORM_OBJS := $(CONFORM_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/gen/conform_reqs.o $(OBJ)/ref/bin/cli.o

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

# ---- the suite against the in-tree backends ----------------------------------
CONFORM_OUT := $(BUILD)/conform
CONFORM_MANIFESTS := conformance/runner/manifests
PY_BACKEND_DIR := conformance/peers/python
XMLLINT_JUNIT = xmllint --noout --schema conformance/runner/junit.xsd

# The reference backend in both ready modes: declarations from the
# manifests, the program of this build (build-san/ under SAN=1); every case
# passes (no expected-failure list).
REF_BACKEND_CMD = $(BACKEND_BIN) --handoff-endpoint {handoff_endpoint} --backend-pipe {backend_pipe} \
  --service {service} --log-level info --offer-timeout-ms {offer_timeout_ms} \
  --replay-capacity {replay_capacity} --ready-mode
.PHONY: test-conform-ref
test-conform-ref: $(CONFORM_BIN) $(BACKEND_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) backend -q --manifest $(CONFORM_MANIFESTS)/reference-backend-ready.json \
	  --junit $(CONFORM_OUT)/ref-backend-ready.xml --json $(CONFORM_OUT)/ref-backend-ready.json \
	  --failure-traces $(CONFORM_OUT)/traces -- $(REF_BACKEND_CMD) backend
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/ref-backend-ready.xml
ifneq ($(SAN),1)
	$(CONFORM_BIN) backend -q --manifest $(CONFORM_MANIFESTS)/reference-legacy.json \
	  --junit $(CONFORM_OUT)/ref-legacy.xml --json $(CONFORM_OUT)/ref-legacy.json \
	  --failure-traces $(CONFORM_OUT)/traces -- $(REF_BACKEND_CMD) legacy
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/ref-legacy.xml
endif
# Under SAN=1 the sanitized runner and reference backend run the
# backend-ready manifest only (the reduced form): the C is the same.
TEST_TARGETS += test-conform-ref

# Broker mode against the reference broker (the program of this build):
# every case passes.
# Under SAN=1 the reduced form: Hello table, handoff,
# bad ACKs.
REF_BROKER_CMD = $(BROKER_BIN) --listen {client_endpoint} --handoff-endpoint {handoff_endpoint} \
  --backend-pipe {backend_pipe} --service {service} --ack-timeout-ms {ack_timeout_ms} \
  --hello-timeout-ms {hello_timeout_ms} --hello-rate {hello_rate} \
  --failure-window-ms {failure_window_ms} --log-level info
ifeq ($(SAN),1)
REF_BROKER_RUN := --run broker.hello --run broker.handoff --run broker.ack
endif
.PHONY: test-conform-ref-broker
test-conform-ref-broker: $(CONFORM_BIN) $(BROKER_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) broker -q --manifest $(CONFORM_MANIFESTS)/reference-broker.json $(REF_BROKER_RUN) \
	  --junit $(CONFORM_OUT)/ref-broker.xml --json $(CONFORM_OUT)/ref-broker.json \
	  --failure-traces $(CONFORM_OUT)/traces -- $(REF_BROKER_CMD)
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/ref-broker.xml
TEST_TARGETS += test-conform-ref-broker

# Client mode against the reference client in four declaration sets (opt-out,
# legacy, backend-ready, coalesced reply with early data); under SAN=1 the
# last one only.
REF_CLIENT_CMD = $(CLIENT_BIN) --connect {client_endpoint} --service {service} --message {message} \
  --ready-timeout-ms {ready_timeout_ms}
REF_CLIENT_SETS := optout: legacy:--handoff ready:--handoff,--backend-ready \
  coalesced:--handoff,--backend-ready,--early-data,--coalesced-reply
ifeq ($(SAN),1)
REF_CLIENT_SETS := coalesced:--handoff,--backend-ready,--early-data,--coalesced-reply
endif
.PHONY: test-conform-ref-client
test-conform-ref-client: $(CONFORM_BIN) $(CLIENT_BIN)
	@mkdir -p $(CONFORM_OUT)
	@set -e; for s in $(REF_CLIENT_SETS); do name=$${s%%:*}; flags=$$(echo $${s#*:} | tr , ' '); \
	  m=$(CONFORM_MANIFESTS)/reference-client-$$name.json; [ $$name = legacy ] && m=$(CONFORM_MANIFESTS)/reference-client.json; \
	  echo "$(CONFORM_BIN) client -q --manifest $$m -- $(REF_CLIENT_CMD) $$flags"; \
	  $(CONFORM_BIN) client -q --manifest $$m --junit $(CONFORM_OUT)/ref-client-$$name.xml \
	    --failure-traces $(CONFORM_OUT)/traces -- $(REF_CLIENT_CMD) $$flags; \
	  $(XMLLINT_JUNIT) $(CONFORM_OUT)/ref-client-$$name.xml; done
TEST_TARGETS += test-conform-ref-client

# The Python example backend: every case passes, in both modes.
.PHONY: test-conform-python
test-conform-python: $(CONFORM_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) backend -q --manifest $(PY_BACKEND_DIR)/manifest.json \
	  --junit $(CONFORM_OUT)/python.xml --json $(CONFORM_OUT)/python.json \
	  --failure-traces $(CONFORM_OUT)/traces
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/python.xml
	$(CONFORM_BIN) backend -q --manifest $(PY_BACKEND_DIR)/manifest-legacy.json \
	  --junit $(CONFORM_OUT)/python-legacy.xml --failure-traces $(CONFORM_OUT)/traces
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/python-legacy.xml

# The Python example client (coalesced reply and legacy) and broker.
.PHONY: test-conform-python-client test-conform-python-broker
test-conform-python-client: $(CONFORM_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) client -q --manifest $(PY_BACKEND_DIR)/manifest-client.json \
	  --junit $(CONFORM_OUT)/python-client.xml --failure-traces $(CONFORM_OUT)/traces
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/python-client.xml
	$(CONFORM_BIN) client -q --manifest $(PY_BACKEND_DIR)/manifest-client-legacy.json \
	  --failure-traces $(CONFORM_OUT)/traces
test-conform-python-broker: $(CONFORM_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) broker -q --manifest $(PY_BACKEND_DIR)/manifest-broker.json \
	  --junit $(CONFORM_OUT)/python-broker.xml --failure-traces $(CONFORM_OUT)/traces
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/python-broker.xml

# The runner's own behaviour on bad input (usage, SUTs that do not start).
.PHONY: test-conform-runner
test-conform-runner: $(CONFORM_BIN) $(BACKEND_BIN)
	$(CONFORM_BIN) backend --self-check
	$(PYTHON) conformance/runner/test_runner.py $(BUILD)/bin

# Every mutant killed, stopping at each one's first kill.
.PHONY: test-conform-selftest
test-conform-selftest: $(CONFORM_BIN)
	$(PYTHON) conformance/mutants/selftest.py --quick --runner $(CONFORM_BIN) --out $(CONFORM_OUT)/selftest-quick

# Python drives these: plain run only.
ifneq ($(SAN),1)
TEST_TARGETS += test-conform-python test-conform-python-client test-conform-python-broker \
  test-conform-runner test-conform-selftest
endif

# The full kill matrix: every mutant of the three modes against every case
# of its mode (about half an hour with two jobs).
.PHONY: conform-selftest
conform-selftest: $(CONFORM_BIN)
	$(PYTHON) conformance/mutants/selftest.py --runner $(CONFORM_BIN) --out $(CONFORM_OUT)/selftest --jobs 2

# The one-liner for implementers:
#   make conform CMD="./my-backend --handoff {handoff_endpoint} --pipe {backend_pipe}" FEATURES="multi-offer"
#   make conform MANIFEST=my-backend.json
#   make conform MODE=broker CMD="./my-broker --listen {client_endpoint} --handoff {handoff_endpoint} ..."
#   make conform MODE=client CMD="./my-client {client_endpoint} {service} {message}"
FEATURES ?=
MANIFEST ?=
CMD ?=
CONFORM_ARGS ?=
MODE ?= backend
.PHONY: conform
conform: $(CONFORM_BIN)
	@if [ -z '$(CMD)' ] && [ -z '$(MANIFEST)' ]; then \
	  echo 'usage: make conform [MODE=backend|broker|client] CMD="your-program {placeholders}" [FEATURES="..."] [MANIFEST=file] [CONFORM_ARGS=...]'; \
	  echo '       (placeholders and options: $(CONFORM_BIN) $(MODE) --help)'; exit 2; fi
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) $(MODE) $(addprefix --feature ,$(FEATURES)) $(if $(MANIFEST),--manifest $(MANIFEST)) \
	  --junit $(CONFORM_OUT)/conform.xml --json $(CONFORM_OUT)/conform.json \
	  --failure-traces $(CONFORM_OUT)/traces $(CONFORM_ARGS) $(if $(CMD),-- $(CMD))

# The runner's usage errors and --version come from ref/bin/cli.c.
$(OBJ)/conformance/runner/main.o $(OBJ)/conformance/runner/decode.o: CPPFLAGS += -Iref/bin

# ---- decode mode: the decoder oracle (issue #17) -------------------------------
#   make conform-decode CMD="my-decoder {frame_type}" [N=100000] [SEED=...]
# The reference decoder as a SUT (handoff-conform decode --serve TYPE, C, so
# also under SAN=1 with fewer inputs), the Python peer decoder, the mutant
# decoders (each caught at its first disagreement).
DECODE_N ?= 20000
ifeq ($(SAN),1)
DECODE_N := 2000
endif
.PHONY: test-conform-decode-ref test-conform-decode-python test-conform-decode-selftest
test-conform-decode-ref: $(CONFORM_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) decode -q -n $(DECODE_N) --seed 1 --junit $(CONFORM_OUT)/decode-ref.xml \
	  -- $(CONFORM_BIN) decode --serve {frame_type}
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/decode-ref.xml
TEST_TARGETS += test-conform-decode-ref

test-conform-decode-python: $(CONFORM_BIN)
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) decode -q -n 2000 --seed 1 --manifest $(PY_BACKEND_DIR)/manifest-decode.json \
	  --junit $(CONFORM_OUT)/decode-python.xml --json $(CONFORM_OUT)/decode-python.json
	$(XMLLINT_JUNIT) $(CONFORM_OUT)/decode-python.xml

test-conform-decode-selftest: $(CONFORM_BIN)
	$(PYTHON) conformance/mutants/decoder_selftest.py --runner $(CONFORM_BIN) -n 2000 \
	  --out $(CONFORM_OUT)/decoder-selftest

# The decode mode's own behaviour: usage errors, SUTs that hang, die or
# answer garbage, the disagreement report, seeds, reports.
.PHONY: test-conform-decode-runner
test-conform-decode-runner: $(CONFORM_BIN)
	$(PYTHON) conformance/runner/test_decode.py $(BUILD)/bin

ifneq ($(SAN),1)
TEST_TARGETS += test-conform-decode-python test-conform-decode-selftest test-conform-decode-runner
endif

# 100 000 mutated inputs through the reference and the Python peer (timed).
.PHONY: conform-decode-full
conform-decode-full: $(CONFORM_BIN)
	time $(CONFORM_BIN) decode -q -n 100000 --seed 1 -- $(CONFORM_BIN) decode --serve {frame_type}
	time $(CONFORM_BIN) decode -q -n 100000 --seed 1 --manifest $(PY_BACKEND_DIR)/manifest-decode.json

N ?= 10000
SEED ?=
.PHONY: conform-decode
conform-decode: $(CONFORM_BIN)
	@if [ -z '$(CMD)' ] && [ -z '$(MANIFEST)' ]; then \
	  echo 'usage: make conform-decode CMD="your-decoder {frame_type}" [N=100000] [SEED=S] [MANIFEST=file]'; exit 2; fi
	@mkdir -p $(CONFORM_OUT)
	$(CONFORM_BIN) decode -n $(N) $(if $(SEED),--seed $(SEED)) $(if $(MANIFEST),--manifest $(MANIFEST)) \
	  --junit $(CONFORM_OUT)/decode.xml --json $(CONFORM_OUT)/decode.json $(CONFORM_ARGS) $(if $(CMD),-- $(CMD))
