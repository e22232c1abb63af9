# Benchmarks (issue #13). `make bench` runs every figure: the handoff bench
# (routes, placements, wake-ups and system calls, fresh client processes,
# cost per handoff, throughput, held sessions; writes $(BUILD)/bench/
# results.json and latency.png), then bench-token and bench-codec.
#
#   make bench QUICK=1     a ~20 s run of the handoff bench only
#   make bench-handoff     the handoff bench alone (QUICK=1, RUNS=N,
#                          BENCH_ITERS=N, BENCH_ONLY=latency,counters,...)
#   make bench-repeat      the latency part RUNS times (default 5): median
#                          and spread of the ratios per placement
#   make test-bench-smoke  a tiny run whose JSON must parse (part of make test)
# Figures never gate a test. Programs from conformance/bench/ (bench.h
# lists the files).
BENCH_DIR := $(BUILD)/bench
BENCH_BIN := $(BENCH_DIR)/bench_handoff
BENCH_CORES := $(BENCH_DIR)/bench_cores
BENCH_SRCS := $(filter-out %/bench_cores.c %/bench_codec.c %/bench_token.c,\
                $(sort $(wildcard conformance/bench/bench_*.c)))
BENCH_OBJS := $(BENCH_SRCS:%.c=$(OBJ)/%.o) $(OBJ)/conformance/integration/harness.o
BENCH_PROGS := $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-backend $(BUILD)/bin/handoff-client

$(BENCH_BIN): $(BENCH_OBJS) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS) -lpthread -lm

$(BENCH_CORES): $(OBJ)/conformance/bench/bench_cores.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(filter %.o,$^) $(LIB_A) $(LDFLAGS) $(LIBDEPS)

BENCH_ARGS := $(if $(filter 1,$(QUICK)),--quick) $(if $(RUNS),--runs $(RUNS)) \
              $(if $(BENCH_ITERS),--iters $(BENCH_ITERS)) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

.PHONY: bench bench-handoff bench-repeat test-bench-smoke
# One bench at a time (never two measuring in parallel under -j).
bench: $(BENCH_BIN) $(BENCH_CORES) $(BENCH_PROGS)
	@$(MAKE) --no-print-directory bench-handoff
ifneq ($(QUICK),1)
	@$(MAKE) --no-print-directory bench-token
	@$(MAKE) --no-print-directory bench-codec
endif

bench-handoff: $(BENCH_BIN) $(BENCH_CORES) $(BENCH_PROGS)
	HO_BIN_DIR=$(BUILD)/bin $(BENCH_BIN) --out $(BENCH_DIR) $(BENCH_ARGS)

bench-repeat: $(BENCH_BIN) $(BENCH_PROGS)
	HO_BIN_DIR=$(BUILD)/bin $(BENCH_BIN) --out $(BENCH_DIR)/repeat --only latency \
	  --runs $(or $(RUNS),5) $(if $(filter 1,$(QUICK)),--quick) $(if $(BENCH_ITERS),--iters $(BENCH_ITERS))

# The apparatus runs end to end and its JSON parses (no figure is judged).
test-bench-smoke: $(BENCH_BIN) $(BENCH_PROGS)
	@mkdir -p $(BUILD)/test
	HO_BIN_DIR=$(BUILD)/bin $(BENCH_BIN) --tiny --out $(BUILD)/test/bench-smoke \
	  --only latency,counters,fresh,cost,throughput,held >$(BUILD)/test/bench-smoke.log 2>&1 || \
	  { cat $(BUILD)/test/bench-smoke.log; exit 1; }
	$(PYTHON) -c 'import json,sys; d=json.load(open(sys.argv[1])); \
	  assert d["machine"]["cpu_model"] and d["placements"] and d["closing"], "incomplete"; \
	  print("bench smoke: results.json parses;", len(d["placements"]), "placements")' \
	  $(BUILD)/test/bench-smoke/results.json
ifneq ($(SAN),1)
TEST_TARGETS += test-bench-smoke
endif

# The bench programs take their options through ref/bin/cli.c (--help,
# --version, a named error and exit 2 for a bad argument).
$(OBJ)/conformance/bench/%.o: CPPFLAGS += -Iref/bin
$(BENCH_BIN) $(BENCH_CORES): $(OBJ)/ref/bin/cli.o
