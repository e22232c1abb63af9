#!/bin/sh
# make demo-windows: the Windows programs under Wine through a real
# DuplicateHandle handoff and a forced fallback (a backend that refuses),
# with the programs' logs. Usage: mk/demo-windows.sh BINDIR WINEPREFIX
set -eu
BIN=$1
export WINEPREFIX="$2" WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml=
DIR=$(mktemp -d "${TMPDIR:-/tmp}/handoff-demo-win.XXXXXX")
PIDS=""
cleanup() {
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
  wineserver -k 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
n=$$
start() { # name log args...
  log=$1; exe=$2; shift 2
  wine "$BIN/$exe" "$@" --log-level debug >"$DIR/$log" 2>&1 &
  PIDS="$PIDS $!"
}
client() {
  i=0
  until out=$(wine "$BIN/handoff-client.exe" "$@" 2>&1); do
    i=$((i + 1)); [ $i -gt 50 ] && { echo "demo: client failed: $out" >&2; cat "$DIR"/*.log >&2; exit 1; }
    sleep 0.1
  done
  echo "  client: $out"
}
run() { # label backend-args
  label=$1; shift
  ep=demo-$n-$label-handoff bp=demo-$n-$label-pipe cl=demo-$n-$label-client
  start "$label-backend.log" handoff-backend.exe --handoff-endpoint "$ep" --backend-pipe "$bp" "$@"
  sleep 1
  start "$label-broker.log" handoff-broker.exe --listen "$cl" --handoff-endpoint "$ep" \
    --backend-pipe "$bp" --service echo --hello-rate 0
  sleep 1
  client --connect "$cl" --service echo --handoff --message "hello-from-$label"
  sleep 0.3
  echo "  broker:";  sed 's/^/    /' "$DIR/$label-broker.log"
  echo "  backend:"; sed 's/^/    /' "$DIR/$label-backend.log"
}
bold "1. Windows handoff: the broker duplicates the client pipe into the backend (DuplicateHandle)"
run handoff
bold "2. forced fallback: the backend refuses, closes the duplicate, the client reconnects to backend_pipe"
run refused --fault refuse
