#!/bin/bash -eu
# Build every fuzz target of handoff for OSS-Fuzz (or locally) into $OUT:
#   $OUT/<target>                    the fuzzer, linked with $LIB_FUZZING_ENGINE
#   $OUT/<target>.dict               its dictionary
#   $OUT/<target>.options            its libFuzzer options (max_len, timeout)
#   $OUT/<target>_seed_corpus.zip    its committed corpus (fuzz/corpus/<target>/)
#
# Environment (OSS-Fuzz sets all of it; locally the defaults apply):
#   CC CFLAGS              compiler and flags of the library and the targets
#                          (OSS-Fuzz: sanitizer + -fsanitize=fuzzer-no-link)
#   CXX CXXFLAGS           the link step (the engines are C++); default $CC $CFLAGS
#   LIB_FUZZING_ENGINE     the engine (-fsanitize=fuzzer, or an AFL++/honggfuzz .a)
#   FUZZING_ENGINE         libfuzzer (default) keeps the structure-aware mutator,
#                          which needs libFuzzer's LLVMFuzzerMutate; any other
#                          engine builds the targets without it (HO_PM_DISABLE)
#   OUT                    output directory (default build/oss-fuzz-out)
#   WORK                   scratch directory (default a fresh temporary one)
#   PROTOBUF_C_SRC         a protobuf-c source tree: its runtime is compiled with
#                          $CFLAGS (needed for MSan); otherwise -l:libprotobuf-c.a
#   PYTHON                 the Python with google.protobuf for nanopb's generator
#   NANOPB_SRC             a nanopb source tree: its runtime (and generator) is
#                          used; otherwise -l:libprotobuf-nanopb.a and the
#                          installed nanopb_generator.py
#
# Local check (issue #17):
#   CC=clang CFLAGS="-fsanitize=fuzzer-no-link,address" \
#   LIB_FUZZING_ENGINE=-fsanitize=fuzzer OUT=/tmp/out bash fuzz/build.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
CC=${CC:-clang}
CFLAGS=${CFLAGS:-}
CXX=${CXX:-$CC}
CXXFLAGS=${CXXFLAGS:-$CFLAGS}
LIB_FUZZING_ENGINE=${LIB_FUZZING_ENGINE:--fsanitize=fuzzer}
OUT=${OUT:-$ROOT/build/oss-fuzz-out}
FUZZING_ENGINE=${FUZZING_ENGINE:-libfuzzer}
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
B=$WORK/handoff-fuzz
rm -rf "$B"
mkdir -p "$B/gen" "$B/obj" "$OUT"

# ---- generated codecs (never committed: built from proto/) ------------------
protoc-c --c_out="$B/gen" -Iproto proto/handoff/v1/*.proto
PYTHON=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)}
NANOPB_GEN=$(command -v nanopb_generator.py || true)
if [ -n "${NANOPB_SRC:-}" ]; then NANOPB_GEN=$NANOPB_SRC/generator/nanopb_generator.py; fi
for p in proto/handoff/v1/*.proto; do
  "$PYTHON" "$NANOPB_GEN" -q -I proto -D "$B/gen" "$p"
done

# ---- the library, the codec runtimes ------------------------------------------
INC="-Iref/include -Iref/lib -I$B/gen"
DEFS="-std=c11 -D_GNU_SOURCE -DPB_ENABLE_MALLOC=1"
RUNTIME=""
if [ -n "${PROTOBUF_C_SRC:-}" ]; then
  INC="$INC -I$PROTOBUF_C_SRC"
  $CC $CFLAGS $DEFS -I"$PROTOBUF_C_SRC" -c "$PROTOBUF_C_SRC/protobuf-c/protobuf-c.c" -o "$B/obj/protobuf-c.o"
  RUNTIME="$RUNTIME $B/obj/protobuf-c.o"
else
  RUNTIME="$RUNTIME -l:libprotobuf-c.a"
fi
if [ -n "${NANOPB_SRC:-}" ]; then
  INC="$INC -I$NANOPB_SRC"
  for f in pb_common pb_encode pb_decode; do
    $CC $CFLAGS $DEFS -I"$NANOPB_SRC" -c "$NANOPB_SRC/$f.c" -o "$B/obj/$f.o"
    RUNTIME="$RUNTIME $B/obj/$f.o"
  done
else
  RUNTIME="$RUNTIME -l:libprotobuf-nanopb.a"
fi
objs=()
for src in ref/lib/*/*.c "$B"/gen/handoff/v1/*.c; do
  o=$B/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
  $CC $CFLAGS $DEFS $INC -c "$src" -o "$o"
  objs+=("$o")
done
ar rcs "$B/libhandoff-fuzz.a" "${objs[@]}"

# ---- the targets -----------------------------------------------------------------
TFLAGS=""
if [ "$FUZZING_ENGINE" != libfuzzer ]; then TFLAGS="-DHO_PM_DISABLE"; fi
n=0
for src in fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  $CC $CFLAGS $DEFS $TFLAGS $INC -c "$src" -o "$B/obj/$t.o"
  $CXX $CXXFLAGS "$B/obj/$t.o" "$B/libhandoff-fuzz.a" $RUNTIME $LIB_FUZZING_ENGINE -o "$OUT/$t"
  cp "fuzz/$t.dict" "$OUT/$t.dict"
  cp "fuzz/$t.options" "$OUT/$t.options"
  rm -f "$OUT/${t}_seed_corpus.zip"
  (cd "fuzz/corpus/$t" && zip -q -j "$OUT/${t}_seed_corpus.zip" ./*)
  n=$((n + 1))
done
echo "fuzz/build.sh: $n targets in $OUT"
