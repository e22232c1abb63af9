# No-heap peer (issue #15 item 5), first step: the nanopb runtime compiled
# from Debian's `nanopb` source package with -DPB_NO_MALLOC (Debian's binary
# runtime is built with malloc), fetched at build time by mk/fetch-src.sh;
# no third-party code is committed.
#
#   make nohp-runtime    $(NOHP_RT_LIB)
#   make size-peer       .text/.data/.bss of the no-heap runtime objects
#   make test-nohp-runtime  the runtime references no heap function, while
#                        the same check sees them in Debian's binary runtime
#
# Still to come (see the issue): the backend core on the static codec and
# caller-provided memory, libhandoff-peer.a, the counted zero-heap handoffs.
NOHP_DIR := $(BUILD)/nohp
NOHP_SRC := $(NOHP_DIR)/src
NOHP_SRC_STAMP := $(NOHP_SRC)/.nanopb-ok
NOHP_RT_OBJS := $(NOHP_DIR)/rt/pb_common.o $(NOHP_DIR)/rt/pb_decode.o $(NOHP_DIR)/rt/pb_encode.o
NOHP_RT_LIB := $(NOHP_DIR)/libnanopb-nomalloc.a
NOHP_CONTROL_LIB := $(firstword $(wildcard /usr/lib/*/libprotobuf-nanopb.a) /usr/lib/x86_64-linux-gnu/libprotobuf-nanopb.a)

.PHONY: nohp-runtime size-peer test-nohp-runtime
nohp-runtime: $(NOHP_RT_LIB)

$(NOHP_SRC_STAMP): mk/fetch-src.sh | $(DEPS_STAMP)
	sh mk/fetch-src.sh $(NOHP_SRC) nanopb
	@touch $@

# Third-party runtime: its warnings are not ours to fix; no sanitizers, it
# is measured, not run. PB_NO_MALLOC: pb_decode/pb_release lose every heap path.
$(NOHP_DIR)/rt/pb_%.o: $(NOHP_SRC_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -Os -ffunction-sections -fdata-sections -I$(NOHP_SRC)/nanopb \
	  -DPB_NO_MALLOC=1 -w -c -o $@ $(NOHP_SRC)/nanopb/pb_$*.c

$(NOHP_RT_LIB): $(NOHP_RT_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

size-peer: $(NOHP_RT_LIB)
	@echo "no-heap nanopb runtime $$(cat $(NOHP_SRC)/nanopb.version), -Os -DPB_NO_MALLOC:"
	@size -t $(NOHP_RT_OBJS)

test-nohp-runtime: $(NOHP_RT_LIB)
	sh conformance/nohp/check_no_heap_syms.sh $(NOHP_RT_LIB) $(NOHP_CONTROL_LIB)

# No sanitized C runs in it (nm over archives): plain `make test` only.
ifneq ($(SAN),1)
TEST_TARGETS += test-nohp-runtime
endif
