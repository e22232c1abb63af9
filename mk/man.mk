# Man pages (issue #15): handoff-broker(1), handoff-backend(1),
# handoff-client(1) and handoff-conform(1), generated at build time by
# Debian's help2man from the programs' own --help and --version (whose text
# comes from the option tables in ref/bin/*_flags.c and
# conformance/runner/usage.c), into $(BUILD)/man; never committed. make
# install puts them into $(MANDIR)/man1 (mk/install.mk).
#
#   make man         the pages
#   make test-man    each page renders without a groff warning and names
#                    every option its program's --help lists
MAN_DIR := $(BUILD)/man
MAN_PROGS := handoff-broker handoff-backend handoff-client handoff-conform
MAN_PAGES := $(MAN_PROGS:%=$(MAN_DIR)/%.1)
MAN_NAME_handoff-broker := hand accepted client connections to a backend (reference broker)
MAN_NAME_handoff-backend := adopt handed-off client connections and serve echo (reference backend)
MAN_NAME_handoff-client := connect through a handoff broker and use the echo service (reference client)
MAN_NAME_handoff-conform := conformance runner for the handoff wire protocol

$(MAN_DIR)/%.1: $(BUILD)/bin/% | $(DEPS_STAMP)
	@mkdir -p $(@D)
	help2man --no-info --section=1 --name='$(MAN_NAME_$*)' --output=$@.tmp $<
	@mv $@.tmp $@

# install.mk's recipe copies them (it comes first in the include order).
install: $(MAN_PAGES)

.PHONY: man test-man
man: $(MAN_PAGES)

test-man: $(MAN_PAGES) $(MAN_PROGS:%=$(BUILD)/bin/%)
	$(PYTHON) conformance/system/test_man.py $(BUILD)/bin $(MAN_DIR) $(MAN_PROGS)
TEST_TARGETS += test-man
