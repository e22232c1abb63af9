# handoff — one entry point: build, test, demo, fuzz, bench, install.
#
#   make              library (static + shared) and programs
#   make test         every test (add SAN=1 for ASan+UBSan)
#   make demo         a real handoff and a forced fallback, traced
#   make compliance   requirement traceability report (spec/ vs code/tests)
#   make bench-*      benchmarks that print tables
#   make fuzz-*       libFuzzer campaigns (time-bounded)
#   make clean
#
# Build dependencies (Debian packages) are installed by mk/deps.sh when
# missing and running as root; otherwise it prints the apt-get line.
# Generated code lives only under $(BUILD)/gen and is never committed.

BUILD ?= build
SAN ?= 0
PYTHON ?= /usr/bin/python3

ifeq ($(SAN),1)
override BUILD := $(BUILD)-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

GEN := $(BUILD)/gen
OBJ := $(BUILD)/obj

CPPFLAGS := -Iref/include -Iref/lib -I$(GEN) -DPB_ENABLE_MALLOC=1 -D_GNU_SOURCE
WARN := -Wall -Wextra -Werror
CFLAGS := -std=c11 -O2 -g -fPIC $(WARN) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS) $(EXTRA_LDFLAGS)
LIBDEPS := -lprotobuf-c -l:libprotobuf-nanopb.a
CRITERION := -lcriterion

DEPS_STAMP := $(BUILD)/.deps-ok

# libFuzzer campaigns (make fuzz-*): compiler and length of one campaign.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600

# ---- generated codecs ------------------------------------------------------
PROTOS := $(wildcard proto/handoff/v1/*.proto)
PBC_C := $(PROTOS:proto/%.proto=$(GEN)/%.pb-c.c)
PBC_H := $(PROTOS:proto/%.proto=$(GEN)/%.pb-c.h)
NPB_C := $(PROTOS:proto/%.proto=$(GEN)/%.pb.c)
NPB_H := $(PROTOS:proto/%.proto=$(GEN)/%.pb.h)
GEN_HDRS := $(PBC_H) $(NPB_H)

# ---- library ---------------------------------------------------------------
LIB_SRCS := $(sort $(wildcard ref/lib/*/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(OBJ)/%.o) $(PBC_C:$(GEN)/%.c=$(OBJ)/gen/%.o) \
            $(NPB_C:$(GEN)/%.c=$(OBJ)/gen/%.o)
LIB_A := $(BUILD)/libhandoff.a
# Shared library: real file libhandoff.so.MAJOR.MINOR.PATCH, SONAME
# libhandoff.so.MAJOR, development link libhandoff.so (version.h).
HO_VERSION := $(shell sed -n 's/^\#define HO_VERSION_STRING "\(.*\)"/\1/p' ref/include/handoff/version.h)
HO_SOMAJOR := $(firstword $(subst ., ,$(HO_VERSION)))
LIB_SO := $(BUILD)/libhandoff.so
LIB_SONAME := libhandoff.so.$(HO_SOMAJOR)
LIB_SO_REAL := $(BUILD)/libhandoff.so.$(HO_VERSION)
LIB_MAP := ref/abi/libhandoff.map

# Fragments in mk/ append to these.
BINS :=
TEST_TARGETS :=
CLEAN_EXTRA :=

.PHONY: all lib deps test clean
all: lib bins

deps: $(DEPS_STAMP)
$(DEPS_STAMP): mk/deps.sh
	@sh mk/deps.sh
	@mkdir -p $(@D) && touch $@

$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<

$(GEN)/%.pb.c $(GEN)/%.pb.h: proto/%.proto proto/%.options | $(DEPS_STAMP)
	@mkdir -p $(GEN)
	$(PYTHON) /usr/bin/nanopb_generator.py -q -I proto -D $(GEN) $<

# Generated sources: the generators' own output style is not ours to lint.
$(OBJ)/gen/%.o: $(GEN)/%.c $(GEN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(OBJ)/%.o: %.c $(GEN_HDRS) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

lib: $(LIB_A) $(LIB_SO)
$(LIB_A): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
# Only HO_API functions are visible; the version script and --exclude-libs
# keep the generated code and the bundled nanopb runtime out of the ABI.
$(LIB_OBJS): CFLAGS += -fvisibility=hidden
$(LIB_SO_REAL): $(LIB_OBJS) $(LIB_MAP)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script,$(LIB_MAP) \
	  -Wl,--exclude-libs,ALL -Wl,--no-undefined -o $@ $(LIB_OBJS) $(LDFLAGS) $(LIBDEPS)
$(LIB_SO): $(LIB_SO_REAL)
	ln -sf $(notdir $(LIB_SO_REAL)) $(BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

# Keep generated files: they are intermediates make would otherwise delete.
.SECONDARY:

-include $(sort $(wildcard mk/*.mk))

.PHONY: bins
bins: $(BINS)

test: $(TEST_TARGETS)
	@echo "make test: all test targets passed ($(words $(TEST_TARGETS)) targets: $(TEST_TARGETS))"

clean:
	rm -rf build build-* $(CLEAN_EXTRA)


-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
