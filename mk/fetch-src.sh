#!/bin/sh
# Fetch and unpack Debian source packages into a build directory, with a
# private apt configuration (no change to /etc/apt): the deb-src line is
# derived from the machine's own Debian source (deb822 or one-line), apt's
# lists and caches live under DEST/apt, and the sources unpack under
# DEST/<package>/. Called by mk/fetch-src.mk once for one tree shared by
# the Windows cross build (issue #14: protobuf-c and nanopb runtimes) and
# the no-heap nanopb build (issue #15). No third-party code is committed:
# this runs at build time.
#
#   sh mk/fetch-src.sh DEST PACKAGE...      e.g. build-src nanopb protobuf-c
#
# DEST/<package>/ is a stable name (the unpacked tree, version-free);
# DEST/<package>.version records the version that was unpacked. A package
# already unpacked is left alone, so a second run costs nothing.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DEST PACKAGE..." >&2; exit 2; }
dest=$1; shift
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

need=""
for p in "$@"; do [ -d "$dest/$p" ] || need="$need $p"; done
[ -z "$need" ] && exit 0

command -v apt-get >/dev/null 2>&1 || { echo "fetch-src: apt-get not found" >&2; exit 1; }
command -v dpkg-source >/dev/null 2>&1 || {
  echo "fetch-src: dpkg-source missing (Debian package dpkg-dev; mk/deps.sh installs it)" >&2; exit 1; }

# One deb-src line per Debian archive the machine already uses.
apt="$dest/apt"
mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc"
list="$apt/etc/sources.list"
: >"$list"
emit() { # uri suite components keyring
  if [ -n "$4" ]; then echo "deb-src [signed-by=$4] $1 $2 $3" >>"$list"
  else echo "deb-src $1 $2 $3" >>"$list"; fi
}
for f in /etc/apt/sources.list.d/*.sources; do
  [ -e "$f" ] || continue
  # deb822 stanzas: Types/URIs/Suites/Components/Signed-By
  awk 'BEGIN{RS=""; FS="\n"}
       { t=u=s=c=k="";
         for(i=1;i<=NF;i++){ l=$i; if(l ~ /^#/) continue;
           if(l ~ /^Types:/){sub(/^Types:[ \t]*/,"",l); t=l}
           else if(l ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",l); u=l}
           else if(l ~ /^Suites:/){sub(/^Suites:[ \t]*/,"",l); s=l}
           else if(l ~ /^Components:/){sub(/^Components:[ \t]*/,"",l); c=l}
           else if(l ~ /^Signed-By:/){sub(/^Signed-By:[ \t]*/,"",l); k=l} }
         if(t ~ /deb/ && u ~ /debian/) { n=split(s, ss, /[ \t]+/);
           for(j=1;j<=n;j++) print u "\t" ss[j] "\t" c "\t" k } }' "$f"
done >"$apt/etc/found"
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -e "$f" ] || continue
  sed -n 's/^deb[ \t]\{1,\}\(\[[^]]*\][ \t]\{1,\}\)\{0,1\}\([^ \t]*debian[^ \t]*\)[ \t]\{1,\}\([^ \t]\{1,\}\)[ \t]\{1,\}\(.*\)$/\2\t\3\t\4\t/p' "$f"
done >>"$apt/etc/found"
[ -s "$apt/etc/found" ] || {
  echo "fetch-src: no Debian apt source found to derive a deb-src line from" >&2; exit 1; }
sort -u "$apt/etc/found" | while IFS="$(printf '\t')" read -r uri suite comps key; do
  emit "$uri" "$suite" "$comps" "$key"
done

set -- -o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=/dev/null" \
       -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives" \
       -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Get::List-Cleanup=0" \
       -o "APT::Sandbox::User=root"
echo "fetch-src: apt-get update (deb-src, private lists under $apt)" >&2
apt-get "$@" -qq update >&2
work="$apt/download"
rm -rf "$work"; mkdir -p "$work"
# shellcheck disable=SC2086
(cd "$work" && apt-get "$@" -qq source --download-only $need) >&2
for p in $need; do
  dsc=$(ls "$work"/${p}_*.dsc 2>/dev/null | head -n 1)
  [ -n "$dsc" ] || { echo "fetch-src: no source package fetched for $p" >&2; exit 1; }
  ver=$(basename "$dsc" .dsc); ver=${ver#${p}_}
  rm -rf "$dest/$p.tmp"
  dpkg-source --no-check -q -x "$dsc" "$dest/$p.tmp" >&2
  mv "$dest/$p.tmp" "$dest/$p"
  rm -f "$dest"/${p}_*.orig.tar.* "$dest"/${p}_*.debian.tar.*
  echo "$ver" >"$dest/$p.version"
  echo "fetch-src: $p $ver unpacked in $dest/$p" >&2
done
