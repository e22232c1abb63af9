#!/bin/sh
# libFuzzer flags of one target from fuzz/<target>.options (the OSS-Fuzz
# [libfuzzer] section) and its dictionary: lf_flags.sh <target>
t=$1
d=${0%/tools/*}
opt() { sed -n "s/^$1 *= *//p" "$d/$t.options" 2>/dev/null; }
max=$(opt max_len); to=$(opt timeout)
printf -- '-max_len=%s -timeout=%s -rss_limit_mb=2048 -dict=%s\n' "${max:-4096}" "${to:-10}" "$d/$t.dict"
