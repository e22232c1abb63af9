# No-heap peer library (issue #15 item 5, DESIGN §2 and §4 "Memory"): the
# backend core of libhandoff (the same backend_core.c, not a second core) on
# the nanopb codec and caller-provided memory, as a static archive with no
# heap function anywhere in it.
#
#   make nohp-runtime       $(NOHP_RT_LIB): the nanopb runtime compiled from
#                           Debian's `nanopb` source package (mk/fetch-src.mk;
#                           Debian's binary runtime is built with malloc)
#   make nohp-lib           $(NOHP_LIB): backend core, replay set (token
#                           store), wire layer with the nanopb codec only,
#                           generated nanopb code, arena allocator, Unix
#                           transport and listener helpers, the runtime above
#   make size-peer          .text/.data/.bss of the library (`size`), and the
#                           largest stack frames (-fstack-usage)
#   make test-nohp-runtime  the runtime and the library reference no heap
#                           function; the same check sees them in Debian's
#                           binary runtime and in libhandoff.a
#   make test-nohp-handoff  complete handoffs over real sockets and real
#                           SCM_RIGHTS, counted with --wrap=malloc,...: zero
#                           heap calls with the arena on $(NOHP_LIB); the same
#                           run on libhandoff.a with the default allocator
#                           counts some (positive control); stack high-water
#                           mark from a painted thread stack
#
# nanopb 0.4.7 has heap paths only under PB_ENABLE_MALLOC, which nothing here
# defines (codec_npb.c fails the build if it is); -DPB_NO_MALLOC is the
# marker the issue names, nanopb itself does not read it. HO_NO_HEAP makes
# the library's own code drop protobuf-c and the malloc default of
# ho_allocator (ref/lib/core/alloc.h, ref/lib/wire/codec.h).
NOHP_DIR := $(BUILD)/nohp
NOHP_OBJ := $(NOHP_DIR)/obj
NOHP_NPB := $(SRC_TREE)/nanopb
NOHP_RT_OBJS := $(NOHP_DIR)/rt/pb_common.o $(NOHP_DIR)/rt/pb_decode.o $(NOHP_DIR)/rt/pb_encode.o
NOHP_RT_LIB := $(NOHP_DIR)/libnanopb-nomalloc.a
NOHP_CONTROL_LIB := $(firstword $(wildcard /usr/lib/*/libprotobuf-nanopb.a) /usr/lib/x86_64-linux-gnu/libprotobuf-nanopb.a)

NOHP_LIB := $(BUILD)/libhandoff-nohp.a
NOHP_LIB_SRCS := ref/lib/backend/backend_core.c ref/lib/backend/replay.c ref/lib/core/token.c \
  ref/lib/core/arena.c ref/lib/wire/frame.c ref/lib/wire/msg.c ref/lib/wire/msg_check.c \
  ref/lib/wire/scan.c ref/lib/wire/error.c ref/lib/wire/codec_npb.c ref/lib/net/unix_xfer.c ref/lib/net/xfer_judge.c \
  ref/lib/net/unix_sock.c ref/lib/core/peer.c ref/lib/core/sideband.c
NOHP_OWN_OBJS := $(NOHP_LIB_SRCS:%.c=$(NOHP_OBJ)/%.o) $(NPB_C:$(GEN)/%.c=$(NOHP_OBJ)/gen/%.o)
NOHP_LIB_OBJS := $(NOHP_OWN_OBJS) $(NOHP_RT_OBJS)
# -Os with section GC in mind: what a constrained peer would build.
NOHP_CPPFLAGS := -Iref/include -Iref/lib -I$(GEN) -I$(NOHP_NPB) -DPB_NO_MALLOC=1 -DHO_NO_HEAP=1 \
  -D_GNU_SOURCE
NOHP_CFLAGS := -std=c11 -Os -g -ffunction-sections -fdata-sections -fstack-usage $(WARN) $(SANFLAGS)

.PHONY: nohp-runtime nohp-lib size-peer test-nohp-runtime test-nohp-handoff
nohp-runtime: $(NOHP_RT_LIB)
nohp-lib: $(NOHP_LIB)

# Third-party runtime: its warnings are not ours to fix; no sanitizers (it
# is Debian's code, measured and linked, not under test).
$(NOHP_DIR)/rt/pb_%.o: $(SRC_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -Os -ffunction-sections -fdata-sections -fstack-usage -I$(NOHP_NPB) \
	  -DPB_NO_MALLOC=1 -w -c -o $@ $(NOHP_NPB)/pb_$*.c

$(NOHP_RT_LIB): $(NOHP_RT_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# The generated code from $(GEN) (one generator run for every build),
# compiled against the runtime's headers.
$(NOHP_OBJ)/gen/%.o: $(GEN)/%.c $(GEN_HDRS) $(SRC_STAMP)
	@mkdir -p $(@D)
	$(CC) $(NOHP_CPPFLAGS) $(NOHP_CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(NOHP_OBJ)/%.o: %.c $(GEN_HDRS) $(SRC_STAMP)
	@mkdir -p $(@D)
	$(CC) $(NOHP_CPPFLAGS) $(NOHP_CFLAGS) -MMD -MP -c -o $@ $<

$(NOHP_LIB): $(NOHP_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

size-peer: $(NOHP_LIB)
	@echo "no-heap peer library $(NOHP_LIB) (nanopb $$(cat $(NOHP_NPB).version), -Os):"
	@size -t $(NOHP_LIB) | awk 'NR==1 || /TOTALS/ {print}'
	@echo "of which the nanopb runtime:"; size -t $(NOHP_RT_OBJS) | awk '/TOTALS/ {print}'
	@echo "largest stack frames (-fstack-usage, bytes):"
	@cat $(NOHP_LIB_OBJS:.o=.su) | sort -t'	' -k2 -n -r | head -n 6 | sed 's/^/  /'

test-nohp-runtime: $(NOHP_RT_LIB) $(NOHP_LIB) $(LIB_A)
	sh conformance/nohp/check_no_heap_syms.sh $(NOHP_RT_LIB) $(NOHP_CONTROL_LIB)
	sh conformance/nohp/check_no_heap_syms.sh $(NOHP_LIB) $(LIB_A)

# The handoff test: one object, two links. Wrapped heap functions count
# every call made from the test's and the libraries' own code (with or
# without ASan: __real_malloc is then ASan's). The control link needs
# libhandoff.a's dependencies; the no-heap link needs libc and libpthread.
NOHP_TEST_OBJ := $(OBJ)/conformance/nohp/test_nohp_handoff.o
NOHP_TEST_BIN := $(BUILD)/test/nohp_handoff
NOHP_TEST_CTL := $(BUILD)/test/nohp_handoff_control
NOHP_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free
$(NOHP_TEST_BIN): $(NOHP_TEST_OBJ) $(NOHP_LIB)
	@mkdir -p $(@D)
	$(CC) -o $@ $(NOHP_TEST_OBJ) $(NOHP_LIB) $(LDFLAGS) -Wl,--gc-sections -pthread $(NOHP_WRAP)
$(NOHP_TEST_CTL): $(NOHP_TEST_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) -o $@ $(NOHP_TEST_OBJ) $(LIB_A) $(LDFLAGS) $(LIBDEPS) -pthread $(NOHP_WRAP)

# Three runs: the no-heap library on the arena (zero; NULL refused), the
# full library on the arena (zero: every allocation of the backend path goes
# through the allocator there too), and the positive control, the full
# library with the default allocator (some).
test-nohp-handoff: $(NOHP_TEST_BIN) $(NOHP_TEST_CTL)
	$(NOHP_TEST_BIN) --allocator arena --expect zero --null-refused
	$(NOHP_TEST_CTL) --allocator arena --expect zero
	$(NOHP_TEST_CTL) --allocator default --expect some

-include $(shell find $(NOHP_OBJ) -name '*.d' 2>/dev/null)

# test-nohp-runtime runs no sanitized C (nm over archives): plain only.
# test-nohp-handoff runs the library's code under ASan+UBSan too.
ifneq ($(SAN),1)
TEST_TARGETS += test-nohp-runtime
endif
TEST_TARGETS += test-nohp-handoff
