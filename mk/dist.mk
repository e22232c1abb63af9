# make dist / test-dist (issue #15): a versioned source tarball of the
# tracked files, build/handoff-VERSION.tar.gz, that builds and tests on its
# own. In a git checkout it is `git archive HEAD` (reproducible: file times
# are the commit's; uncommitted changes are not in it, and dist says so);
# in an unpacked tarball, the tree minus build directories.
DIST_NAME := handoff-$(HO_VERSION)
DIST_TGZ := $(BUILD)/$(DIST_NAME).tar.gz

.PHONY: dist test-dist
dist:
	@mkdir -p $(BUILD)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git diff --quiet HEAD -- 2>/dev/null || \
	    echo "dist: uncommitted changes are not in the tarball (it packs HEAD $$(git rev-parse --short HEAD))"; \
	  git archive --format=tar.gz --prefix=$(DIST_NAME)/ -o $(DIST_TGZ) HEAD; \
	else \
	  tar -czf $(DIST_TGZ) --exclude=./build --exclude='./build-*' --exclude=__pycache__ \
	    --transform 's,^\.,$(DIST_NAME),' .; \
	fi
	@echo "dist: $(DIST_TGZ), $$(tar -tzf $(DIST_TGZ) | grep -vc '/$$') files, $$(wc -c < $(DIST_TGZ)) bytes"

# Unpack into a temporary directory (no .git there, no build tree), build
# everything with a clean make environment, run a quick subset of the tests
# (unit suites, the ABI list, the examples behind the broker), remove it.
test-dist: dist
	@d=$$(mktemp -d "$${TMPDIR:-/tmp}/ho-dist.XXXXXX"); trap 'rm -rf "$$d"' EXIT; \
	  tar -xzf $(DIST_TGZ) -C "$$d"; \
	  test -f "$$d/$(DIST_NAME)/Makefile" || { echo "test-dist: no $(DIST_NAME)/Makefile in the tarball"; exit 1; }; \
	  ! tar -tzf $(DIST_TGZ) | grep -E '^$(DIST_NAME)/(build|build-[^/]*)/|\.o$$|/gen/' || \
	    { echo "test-dist: build products in the tarball"; exit 1; }; \
	  cd "$$d/$(DIST_NAME)" && \
	  env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL $(MAKE) -s -j2 >build.log 2>&1 || \
	    { tail -n 30 build.log; echo "test-dist: the unpacked tarball does not build"; exit 1; }; \
	  env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL $(MAKE) -s test-unit test-abi test-examples \
	    >test.log 2>&1 || { tail -n 30 test.log; echo "test-dist: tests fail in the unpacked tarball"; exit 1; }; \
	  echo "test-dist: $(DIST_NAME).tar.gz unpacked, built and passed test-unit test-abi test-examples"
