#!/bin/sh
# Which heap functions an archive or object references (undefined symbols):
# the first step of the no-heap peer (issue #15 item 5). The no-heap nanopb
# runtime (built with -DPB_NO_MALLOC from Debian's source) must reference
# none of malloc/calloc/realloc/free; as the positive control, the same
# check run on Debian's binary runtime (built with malloc) must find some,
# so a checker that sees nothing cannot pass.
#
#   sh check_no_heap_syms.sh NOHEAP.a CONTROL.a
set -eu
[ $# -eq 2 ] || { echo "usage: $0 NOHEAP.a CONTROL.a" >&2; exit 2; }
heap() { nm -u "$1" | awk '$1=="U" && $2 ~ /^(malloc|calloc|realloc|free|reallocarray|aligned_alloc|posix_memalign)$/ {print $2}' | sort -u; }
[ -s "$1" ] || { echo "FAIL no-heap archive $1 missing or empty" >&2; exit 1; }
[ -s "$2" ] || { echo "FAIL control archive $2 missing or empty" >&2; exit 1; }
got=$(heap "$1")
ctl=$(heap "$2")
n_got=$(printf '%s' "$got" | grep -c . || true)
n_ctl=$(printf '%s' "$ctl" | grep -c . || true)
echo "heap symbols: $(basename $1) $n_got [$(echo $got)], control $(basename $2) $n_ctl [$(echo $ctl)]"
[ "$n_ctl" -gt 0 ] || { echo "FAIL positive control: no heap symbol seen in $2" >&2; exit 1; }
[ "$n_got" -eq 0 ] || { echo "FAIL $1 references heap functions: $got" >&2; exit 1; }
echo "PASS $(basename $1): no heap references (control sees $n_ctl)"
