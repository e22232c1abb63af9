# make install / uninstall with the GNU directory variables (issue #15).
# DESTDIR is honoured; every file installed is listed so uninstall removes
# exactly those (and the directories it made, when empty).
PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR ?= $(EXEC_PREFIX)/bin
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
DATADIR ?= $(DATAROOTDIR)
MANDIR ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install

PC_FILE := $(BUILD)/handoff.pc
INSTALL_BINS := $(BROKER_BIN) $(BACKEND_BIN) $(CLIENT_BIN) $(CONFORM_BIN)
HO_HEADERS := $(sort $(wildcard ref/include/handoff/*.h))
HO_SHARE := $(DESTDIR)$(DATADIR)/handoff

# The .pc file records the install directories of this make run.
$(PC_FILE): ref/handoff.pc.in ref/include/handoff/version.h FORCE
	@mkdir -p $(@D)
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(HO_VERSION)|' $< > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
FORCE: # no recipe, no file: the .pc rule always runs (it rewrites only on change)

.PHONY: install uninstall test-install
install: lib $(INSTALL_BINS) $(PC_FILE)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(INCLUDEDIR)/handoff $(HO_SHARE)/proto/handoff/v1 $(HO_SHARE)/spec \
	  $(HO_SHARE)/vectors $(HO_SHARE)/examples
	$(INSTALL) -m 644 $(HO_HEADERS) $(DESTDIR)$(INCLUDEDIR)/handoff/
	$(INSTALL) -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(LIB_SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO_REAL)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libhandoff.so
	$(INSTALL) -m 644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(wildcard proto/handoff/v1/*.proto proto/handoff/v1/*.options) \
	  $(HO_SHARE)/proto/handoff/v1/
	$(INSTALL) -m 644 $(wildcard spec/*.md spec/*.txt) $(HO_SHARE)/spec/
	$(INSTALL) -m 644 $(wildcard conformance/vectors/*) $(HO_SHARE)/vectors/
	$(INSTALL) -m 644 $(wildcard ref/examples/*.c) $(HO_SHARE)/examples/
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/handoff/,$(notdir $(HO_HEADERS)))
	rm -f $(DESTDIR)$(LIBDIR)/libhandoff.a $(DESTDIR)$(LIBDIR)/libhandoff.so \
	  $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) $(DESTDIR)$(LIBDIR)/$(notdir $(LIB_SO_REAL)) \
	  $(DESTDIR)$(PKGCONFIGDIR)/handoff.pc
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS)))
	rm -rf $(HO_SHARE)
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_PAGES)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/handoff 2>/dev/null

# Install into a scratch DESTDIR with PREFIX=/usr, build a program with only
# `pkg-config --cflags --libs handoff` (and --static), run it against the
# installed library, run the installed programs; build the example backend
# (as installed: share/handoff/examples/embed_backend.c) the same two ways and run each behind the
# installed broker with the installed client (one handoff, judged by an
# echoed nonce); then uninstall and check nothing of ours is left.
INSTALL_TEST_DIR := $(BUILD)/install-test
# The example backend linked -static (no shared object at all); ASan cannot
# link statically, so SAN=1 builds it sanitized and dynamic, from the same
# `pkg-config --static` line.
ifeq ($(SAN),1)
EMBED_STATIC := $(SANFLAGS)
EMBED_STATIC_CHECK := true
else
EMBED_STATIC := -static
EMBED_STATIC_CHECK := ! ldd $$d/embed_static >/dev/null 2>&1
endif
test-install: lib $(INSTALL_BINS)
	@rm -rf $(INSTALL_TEST_DIR) && mkdir -p $(INSTALL_TEST_DIR)
	@$(MAKE) --no-print-directory -s install DESTDIR=$(abspath $(INSTALL_TEST_DIR))/root PREFIX=/usr \
	  PC_FILE=$(INSTALL_TEST_DIR)/handoff.pc
	@PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=$(INSTALL_TEST_DIR)/root/usr/lib/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig \
	  PKG_CONFIG_SYSROOT_DIR=$(abspath $(INSTALL_TEST_DIR))/root sh -ec '\
	  d=$(abspath $(INSTALL_TEST_DIR)); \
	  test "$$(pkg-config --modversion handoff)" = "$(HO_VERSION)"; \
	  $(CC) $(SANFLAGS) -o $$d/dyn conformance/abi/abi_link.c $$(pkg-config --cflags --libs handoff); \
	  $(CC) $(SANFLAGS) -o $$d/static conformance/abi/abi_link.c $$(pkg-config --cflags handoff) \
	    -Wl,-Bstatic $$(pkg-config --libs-only-L handoff) -lhandoff -Wl,-Bdynamic \
	    $$(pkg-config --static --libs-only-l handoff | sed "s/-lhandoff//"); \
	  LD_LIBRARY_PATH=$$d/root/usr/lib $$d/dyn; $$d/static; \
	  ! ldd $$d/static | grep -q libhandoff; \
	  LD_LIBRARY_PATH=$$d/root/usr/lib ldd $$d/dyn | grep -q "libhandoff.so.$(HO_SOMAJOR) => $$d/root/usr/lib/libhandoff.so.$(HO_SOMAJOR)"; \
	  for b in $(notdir $(INSTALL_BINS)); do $$d/root/usr/bin/$$b --help >/dev/null 2>&1 || { echo "test-install: $$b --help failed"; exit 1; }; done; \
	  $(CC) $(SANFLAGS) -o $$d/embed_dyn $$d/root/usr/share/handoff/examples/embed_backend.c $$(pkg-config --cflags --libs handoff); \
	  $(CC) $(EMBED_STATIC) -o $$d/embed_static $$d/root/usr/share/handoff/examples/embed_backend.c $$(pkg-config --static --cflags --libs handoff); \
	  LD_LIBRARY_PATH=$$d/root/usr/lib ldd $$d/embed_dyn | grep -q "libhandoff.so.$(HO_SOMAJOR) => $$d/root/usr/lib/libhandoff.so.$(HO_SOMAJOR)"; \
	  $(EMBED_STATIC_CHECK); \
	  for e in embed_dyn embed_static; do \
	    LD_LIBRARY_PATH=$$d/root/usr/lib sh conformance/system/test_embed.sh --quick $$d/$$e \
	      $$d/root/usr/bin/handoff-broker $$d/root/usr/bin/handoff-client >$$d/$$e.log 2>&1 || \
	      { echo "test-install: $$e behind the installed broker:"; cat $$d/$$e.log; exit 1; }; \
	  done'
	@$(MAKE) --no-print-directory -s uninstall DESTDIR=$(abspath $(INSTALL_TEST_DIR))/root PREFIX=/usr
	@left=$$(find $(INSTALL_TEST_DIR)/root -type f -o -type l); \
	  test -z "$$left" || { echo "test-install: uninstall left: $$left"; exit 1; }
	@echo "test-install: installed, built with pkg-config (shared and --static), ran; the example backend built the same two ways served a handoff behind the installed broker; uninstalled clean"
	@rm -rf $(INSTALL_TEST_DIR)

TEST_TARGETS += test-install
