# Requirement traceability (spec/README.md §4): every requirement of spec/,
# its code sites (ref/) and its tests (conformance/, fuzz/, vectors).
#   make compliance              full report + $(BUILD)/compliance.json
#   make test-compliance         the same check, summary only (in make test)
#   make test-compliance-tool    self-test of the extractor on fixture specs
COMPLIANCE := conformance/tools/compliance.py
COMPLIANCE_JSON := $(BUILD)/compliance.json

.PHONY: compliance test-compliance test-compliance-tool
compliance:
	@mkdir -p $(BUILD)
	$(PYTHON) $(COMPLIANCE) --root . --json $(COMPLIANCE_JSON)

test-compliance: test-compliance-tool
	@mkdir -p $(BUILD)
	$(PYTHON) $(COMPLIANCE) --root . --quiet --json $(COMPLIANCE_JSON)

test-compliance-tool:
	$(PYTHON) conformance/tools/test_compliance.py

TEST_TARGETS += test-compliance

# spec/ field tables, registries and error names against proto/, the nanopb
# .options, wire.h and error.h; the v1 schema freeze (VER-3..VER-6).
.PHONY: test-spec-schema
test-spec-schema: | $(DEPS_STAMP)
	$(PYTHON) conformance/schema/check_spec_schema.py
TEST_TARGETS += test-spec-schema

# Drop exceptions that have become tested (never adds any): run it after
# adding tests, then commit spec/compliance-exceptions.txt.
.PHONY: compliance-prune
compliance-prune:
	$(PYTHON) $(COMPLIANCE) --root . --quiet --prune-stale

# System check against the reference programs: tokens never in logs (SEC-8),
# Negotiated independent of the client's version strings (VER-2), CAP-6.
.PHONY: test-token-secrecy
test-token-secrecy: $(BUILD)/bin/handoff-broker $(BUILD)/bin/handoff-backend
	$(PYTHON) conformance/system/test_token_secrecy.py $(BUILD)/bin
TEST_TARGETS += test-token-secrecy
