# Windows transport (issue #14): cross build with mingw-w64, tests under Wine.
#
#   make windows        the protobuf-c and nanopb runtimes (from Debian's source
#                       packages, unpacked under $(SRC_TREE) by
#                       mk/fetch-src.mk, shared with the no-heap peer), the
#                       generated codecs (same protoc-c and
#                       nanopb generator as the Linux build, in $(WIN_GEN)), the
#                       portable library plus the Windows transport
#                       ($(WIN_LIB)), the programs and the test programs (.exe)
#   make test-windows   the Windows tests under Wine (WINEPREFIX in the build
#                       directory, WINEDEBUG=-all); no sanitized C, so only in
#                       the plain `make test` (not under SAN=1)
#
# Nothing third-party is committed: sources come from `apt-get source` at
# build time; generated code only under $(WIN_GEN).

WIN_BUILD ?= build-windows
WIN_CC ?= x86_64-w64-mingw32-gcc
WIN_AR ?= x86_64-w64-mingw32-ar
WINE ?= wine
WIN_SRC := $(SRC_TREE)
WIN_GEN := $(WIN_BUILD)/gen
WIN_OBJ := $(WIN_BUILD)/obj
WIN_BIN := $(WIN_BUILD)/bin
WIN_SRC_STAMP := $(SRC_STAMP)
WIN_PREFIX := $(abspath $(WIN_BUILD))/wineprefix

WIN_CPPFLAGS := -Iref/include -Iref/lib -Iref/bin/win -I$(WIN_GEN) -I$(WIN_SRC)/protobuf-c \
  -I$(WIN_SRC)/nanopb \
  -DPB_ENABLE_MALLOC=1 -D_WIN32_WINNT=0x0A00 -DWIN32_LEAN_AND_MEAN -D__USE_MINGW_ANSI_STDIO=1
WIN_CFLAGS := -std=c11 -O2 -g $(WARN)
# Static: the .exe files need no mingw DLL next to them under Wine.
WIN_LDFLAGS := -static
# -lbcrypt: BCryptGenRandom (ho_random_os, spec: TOKEN-1); -ladvapi32: tokens
# and security descriptors (SEC-2).
WIN_LDLIBS := -lbcrypt -ladvapi32

# What of libhandoff builds for Windows: the wire layer, the token/ACK/
# fallback/queue core, the broker core (duplicate_handles), the backend core
# (no_sideband), the client core, and the Windows transport with the
# Windows client shell (ref/lib/net/win/, with what it shares with the Unix
# one: ref/lib/client/client_shell_common.c). Not: the Unix transport, the Unix
# backend shell and the Unix client shell.
WIN_LIB_SRCS := $(sort $(wildcard ref/lib/wire/*.c ref/lib/core/*.c ref/lib/broker/*.c \
  ref/lib/net/win/*.c)) ref/lib/backend/backend_core.c ref/lib/backend/replay.c \
  ref/lib/client/client_core.c ref/lib/client/client_shell_common.c
WIN_PBC_C := $(PROTOS:proto/%.proto=$(WIN_GEN)/%.pb-c.c)
WIN_NPB_C := $(PROTOS:proto/%.proto=$(WIN_GEN)/%.pb.c)
WIN_GEN_HDRS := $(WIN_PBC_C:.c=.h) $(WIN_NPB_C:.c=.h)
WIN_RT_OBJS := $(WIN_OBJ)/rt/protobuf-c.o $(WIN_OBJ)/rt/pb_common.o $(WIN_OBJ)/rt/pb_encode.o \
  $(WIN_OBJ)/rt/pb_decode.o
WIN_LIB_OBJS := $(WIN_LIB_SRCS:%.c=$(WIN_OBJ)/%.o) $(WIN_PBC_C:$(WIN_GEN)/%.c=$(WIN_OBJ)/gen/%.o) \
  $(WIN_NPB_C:$(WIN_GEN)/%.c=$(WIN_OBJ)/gen/%.o) $(WIN_RT_OBJS)
WIN_LIB := $(WIN_BUILD)/libhandoff.a

# Test programs (own main, "N passed, N failed" line) and programs.
WIN_TESTS := $(WIN_BIN)/test_win_transport.exe
WIN_TEST_INTEG := $(WIN_BIN)/test_win_integration.exe
WIN_PROGS := $(WIN_BIN)/handoff-broker.exe $(WIN_BIN)/handoff-backend.exe \
  $(WIN_BIN)/handoff-client.exe
WIN_SHELL_SRCS := $(wildcard ref/bin/win/*.c)

.PHONY: windows windows-src test-windows
windows: $(WIN_LIB) $(WIN_TESTS) $(WIN_TEST_INTEG) $(WIN_PROGS)

windows-src: $(WIN_SRC_STAMP)

$(WIN_GEN)/%.pb-c.c $(WIN_GEN)/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	@mkdir -p $(WIN_GEN)
	protoc-c --c_out=$(WIN_GEN) -Iproto $<

$(WIN_GEN)/%.pb.c $(WIN_GEN)/%.pb.h: proto/%.proto proto/%.options | $(DEPS_STAMP)
	@mkdir -p $(WIN_GEN)
	$(PYTHON) /usr/bin/nanopb_generator.py -q -I proto -D $(WIN_GEN) $<

# Third-party runtimes: their warnings are not ours to fix.
$(WIN_OBJ)/rt/protobuf-c.o: $(WIN_SRC_STAMP)
	@mkdir -p $(@D)
	$(WIN_CC) -std=c11 -O2 -I$(WIN_SRC)/protobuf-c -w -c -o $@ $(WIN_SRC)/protobuf-c/protobuf-c/protobuf-c.c
$(WIN_OBJ)/rt/pb_%.o: $(WIN_SRC_STAMP)
	@mkdir -p $(@D)
	$(WIN_CC) -std=c11 -O2 -I$(WIN_SRC)/nanopb -DPB_ENABLE_MALLOC=1 -w -c -o $@ $(WIN_SRC)/nanopb/pb_$*.c

$(WIN_OBJ)/gen/%.o: $(WIN_GEN)/%.c $(WIN_GEN_HDRS) $(WIN_SRC_STAMP)
	@mkdir -p $(@D)
	$(WIN_CC) $(WIN_CPPFLAGS) $(WIN_CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(WIN_OBJ)/%.o: %.c $(WIN_GEN_HDRS) $(WIN_SRC_STAMP)
	@mkdir -p $(@D)
	$(WIN_CC) $(WIN_CPPFLAGS) $(WIN_CFLAGS) -MMD -MP -c -o $@ $<

$(WIN_LIB): $(WIN_LIB_OBJS)
	@rm -f $@
	$(WIN_AR) rcs $@ $^

$(WIN_BIN)/test_win_%.exe: $(WIN_OBJ)/conformance/windows/test_win_%.o \
    $(WIN_OBJ)/conformance/windows/wintest.o $(WIN_LIB)
	@mkdir -p $(@D)
	$(WIN_CC) $(WIN_LDFLAGS) -o $@ $(filter %.o,$^) $(WIN_LIB) $(WIN_LDLIBS)

$(WIN_TEST_INTEG): $(WIN_OBJ)/conformance/windows/test_win_integration.o \
    $(WIN_OBJ)/conformance/windows/wintest.o $(WIN_LIB)
	@mkdir -p $(@D)
	$(WIN_CC) $(WIN_LDFLAGS) -o $@ $(filter %.o,$^) $(WIN_LIB) $(WIN_LDLIBS)

$(WIN_BIN)/handoff-%.exe: $(WIN_OBJ)/ref/bin/win/%.o $(WIN_OBJ)/ref/bin/win/winloop.o $(WIN_LIB)
	@mkdir -p $(@D)
	$(WIN_CC) $(WIN_LDFLAGS) -o $@ $(filter %.o,$^) $(WIN_LIB) $(WIN_LDLIBS)

# Flags, --help and (client) the echo rounds and report are shared with the
# Linux programs (ref/bin/cli.c and ref/bin/*_flags.c).
$(WIN_BIN)/handoff-client.exe: $(WIN_OBJ)/ref/bin/client_echo.o $(WIN_OBJ)/ref/bin/client_flags.o \
  $(WIN_OBJ)/ref/bin/cli.o
$(WIN_BIN)/handoff-broker.exe: $(WIN_OBJ)/ref/bin/broker_flags.o $(WIN_OBJ)/ref/bin/cli.o
$(WIN_BIN)/handoff-backend.exe: $(WIN_OBJ)/ref/bin/backend_flags.o $(WIN_OBJ)/ref/bin/cli.o

# The Wine prefix is created by the first program run in it (about 9 s cold).
WIN_RUN := WINEPREFIX=$(WIN_PREFIX) WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml= $(WINE)

test-windows: $(WIN_TESTS) $(WIN_TEST_INTEG) $(WIN_PROGS)
	@start=$$(date +%s); \
	for t in $(WIN_TESTS); do echo "== $$t"; $(WIN_RUN) $$t || exit 1; done; \
	echo "== $(WIN_TEST_INTEG)"; \
	$(WIN_RUN) $(WIN_TEST_INTEG) $(abspath $(WIN_BIN)) || exit 1; \
	echo "test-windows: passed in $$(( $$(date +%s) - start )) s (budget 180 s)"; \
	WINEPREFIX=$(WIN_PREFIX) wineserver -k 2>/dev/null || true

CLEAN_EXTRA += $(WIN_BUILD)

-include $(shell find $(WIN_OBJ) -name '*.d' 2>/dev/null)

# In `make test` when Wine is there or mk/deps.sh will install it (root with
# apt-get), never under SAN=1 (no sanitized C runs in it).
WIN_CAN_RUN := $(or $(shell command -v $(WINE) 2>/dev/null),$(and $(filter 0,$(shell id -u)),$(shell command -v apt-get 2>/dev/null)))
ifneq ($(SAN),1)
ifneq ($(WIN_CAN_RUN),)
TEST_TARGETS += test-windows
endif
endif

# A real Windows handoff and a forced fallback under Wine, traced.
.PHONY: demo-windows
demo-windows: $(WIN_PROGS)
	@sh mk/demo-windows.sh $(abspath $(WIN_BIN)) $(WIN_PREFIX)

# The Windows programs' command line under Wine (conformance/system/
# test_cli.py): --version, --help, an unknown and a missing flag.
.PHONY: test-cli-windows
test-cli-windows: $(WIN_PROGS)
	$(PYTHON) conformance/system/test_cli.py --win-bin $(WIN_BIN) --wine-prefix $(WIN_PREFIX)
	@WINEPREFIX=$(WIN_PREFIX) wineserver -k 2>/dev/null || true
ifneq ($(SAN),1)
ifneq ($(WIN_CAN_RUN),)
TEST_TARGETS += test-cli-windows
endif
endif
