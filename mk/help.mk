# make help: one line per target, from mk/targets.txt (the one list of
# targets; test-make-help fails when a .PHONY target is missing there).
.PHONY: help test-make-help
help:
	@awk -F'\t' '!/^#/ && NF == 2 { printf "  make %-26s %s\n", $$1, $$2 }' mk/targets.txt
test-make-help:
	$(PYTHON) conformance/tools/check_make_help.py .
ifneq ($(SAN),1)
TEST_TARGETS += test-make-help
endif
