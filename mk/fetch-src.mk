# Debian source packages for the builds that compile third-party runtimes
# themselves (issue #14 Windows cross build: protobuf-c and nanopb; issue
# #15 no-heap peer: nanopb with -DPB_NO_MALLOC): ONE tree, fetched once by
# mk/fetch-src.sh with ONE private `apt-get update`, shared by build/,
# build-san/ and build-windows/ (the sources do not depend on the build's
# flags). Nothing third-party is committed.
#
#   make fetch-src      unpack $(SRC_PKGS) under $(SRC_TREE)/
SRC_TREE ?= build-src
SRC_PKGS := nanopb protobuf-c
SRC_STAMP := $(SRC_TREE)/.fetched

.PHONY: fetch-src
fetch-src: $(SRC_STAMP)
$(SRC_STAMP): mk/fetch-src.sh | $(DEPS_STAMP)
	sh mk/fetch-src.sh $(SRC_TREE) $(SRC_PKGS)
	@touch $@
