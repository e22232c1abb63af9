# ABI boundary of libhandoff.so (issue #15): HO_API on every public
# declaration, -fvisibility=hidden, version script, SONAME, exported set
# pinned by ref/abi/libhandoff.symbols.
ABI_SYMBOLS := ref/abi/libhandoff.symbols
ABI_LINK_BIN := $(BUILD)/abi/abi_link

# Linked against the shared library only: internal symbols would not resolve.
$(ABI_LINK_BIN): conformance/abi/abi_link.c $(LIB_SO)
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(SANFLAGS) -Iref/include -o $@ $< -L$(BUILD) -lhandoff $(LDFLAGS)

.PHONY: test-abi abi-update api-mark
test-abi: $(LIB_SO) $(ABI_LINK_BIN)
	$(PYTHON) conformance/tools/check_abi.py $(LIB_SO_REAL) $(LIB_SONAME) $(ABI_SYMBOLS)
	@test "$$(readlink $(BUILD)/$(LIB_SONAME))" = "$(notdir $(LIB_SO_REAL))" \
	  || { echo "test-abi: $(BUILD)/$(LIB_SONAME) does not point at $(notdir $(LIB_SO_REAL))"; exit 1; }
	LD_LIBRARY_PATH=$(BUILD) $(ABI_LINK_BIN)

# After an intended API change: mark the headers, rebuild, rewrite the list.
api-mark:
	$(PYTHON) conformance/tools/api_mark.py
abi-update: api-mark
	$(MAKE) $(LIB_SO)
	$(PYTHON) conformance/tools/check_abi.py $(LIB_SO_REAL) $(LIB_SONAME) $(ABI_SYMBOLS) --update

TEST_TARGETS += test-abi
