#!/bin/sh
# Install the Debian packages the build needs, when any is missing.
# As root on Debian: installs them with apt-get. Otherwise: prints the exact
# apt-get line and fails, so the build stops with a clear message.
# One line per package: "<package> <check>", where <check> is a command
# name (on PATH) or an absolute file path that the package provides.
set -eu
missing=""
while read -r pkg check; do
  case "$pkg" in ''|'#'*) continue ;; esac
  case "$check" in
    /*) [ -e "$check" ] || missing="$missing $pkg" ;;
    *) command -v "$check" >/dev/null 2>&1 || missing="$missing $pkg" ;;
  esac
done <<'LIST'
gcc                 gcc
make                make
pkg-config          pkg-config
python3             /usr/bin/python3
protobuf-compiler   protoc
protobuf-c-compiler protoc-c
libprotobuf-c-dev   /usr/include/protobuf-c/protobuf-c.h
nanopb              nanopb_generator.py
libnanopb-dev       /usr/include/pb.h
python3-protobuf    /usr/lib/python3/dist-packages/google/protobuf/__init__.py
libcriterion-dev    /usr/include/criterion/criterion.h
clang               clang
libclang-rt-14-dev  /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
valgrind            valgrind
strace              strace
gnuplot-nox         gnuplot
llvm-14             llvm-profdata-14
zip                 zip
procps              ps
dpkg-dev            dpkg-source
gcc-mingw-w64-x86-64 x86_64-w64-mingw32-gcc
wine                wine
wine64              /usr/lib/wine/wine64
libxml2-utils       xmllint
spin                spin
help2man            help2man
groff-base          groff
man-db              man
LIST
[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "deps: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >&2
  exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run as root:  $line" >&2
exit 1
