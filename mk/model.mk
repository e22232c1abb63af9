# Model check of the handoff lifecycle (issue #16): spec/model/handoff.pml
# with spin — every scenario of the model (properties P1-P7 must hold),
# every variant (one rule removed: must yield a counterexample) and every
# finding run (rc1 as written where the model found a defect). Each
# counterexample is printed as a message sequence chart. spec/model/README.md.
#   make model-check                 everything (about a minute)
#   make model-check MODEL_ONLY=legacy,no-sweep    some runs (check.py --list)
MODEL_CHECK := spec/model/check.py
MODEL_ONLY ?=
MODEL_JOBS ?= 2

.PHONY: model-check
model-check: | $(DEPS_STAMP)
	$(PYTHON) $(MODEL_CHECK) --build $(BUILD)/model --jobs $(MODEL_JOBS) $(if $(MODEL_ONLY),--only $(MODEL_ONLY))

# spin and its pan verifiers run no sanitized C: plain make test only.
ifneq ($(SAN),1)
TEST_TARGETS += model-check
endif
