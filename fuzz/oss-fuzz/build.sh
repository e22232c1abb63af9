#!/bin/bash -eu
# OSS-Fuzz entry point ($SRC/build.sh): everything is in the project's own
# fuzz/build.sh, which builds every target with $CC $CFLAGS
# $LIB_FUZZING_ENGINE into $OUT with its .dict, .options and
# _seed_corpus.zip. The codec runtimes come from the source trees the
# Dockerfile cloned.
export PROTOBUF_C_SRC=$SRC/protobuf-c
export NANOPB_SRC=$SRC/nanopb
export PYTHON=python3
bash "$SRC/handoff/fuzz/build.sh"
