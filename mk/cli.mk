# The command line of every program (issue #15): ref/bin/cli.c gives the
# programs of ref/bin/ (Linux and Windows), handoff-conform and the bench
# programs one --help/--version, one error prefix and exit status 2 with
# "Try 'PROG --help'." for a usage error; ref/bin/*_flags.c hold the option
# tables shared by the Linux and the Windows programs.
#
#   make test-cli   every Linux program and bench program: --version, -h,
#                   --help, unknown and missing flags, bad numbers; broker and
#                   backend counters in one format on stderr (Python; runs
#                   the build's programs, sanitized under SAN=1)
#   (the Windows programs under Wine: test-cli-windows, mk/windows.mk)
CLI_TEST_PROGS := $(addprefix $(BUILD)/bin/,handoff-broker handoff-backend handoff-client \
  handoff-conform) $(addprefix $(BUILD)/bench/,bench_token bench_codec bench_cores bench_handoff)

.PHONY: test-cli
test-cli: $(CLI_TEST_PROGS)
	$(PYTHON) conformance/system/test_cli.py $(BUILD)/bin $(BUILD)/bench
TEST_TARGETS += test-cli
