#!/bin/sh
# The embedding examples behind real programs (issue #15): the example
# backend (ref/examples/embed_backend.c) behind handoff-broker, reached by
# handoff-client and (optionally) the example client. Each case sends a
# fresh random nonce; it passes only when the client got the nonce back
# unchanged on the expected route AND the example backend's own record shows
# it served that nonce on that route (handoff or backend_pipe).
#
#   sh conformance/system/test_embed.sh [--quick] EMBED_BACKEND BROKER CLIENT [EMBED_CLIENT]
#
# --quick: one handoff only (make test-install, against installed programs).
# spec: XFER-25 XFER-26 FALLBACK-4 FALLBACK-24
set -eu
QUICK=0
[ "${1:-}" = "--quick" ] && { QUICK=1; shift; }
[ $# -ge 3 ] || { echo "usage: $0 [--quick] EMBED_BACKEND BROKER CLIENT [EMBED_CLIENT]" >&2; exit 2; }
EMBED=$1 BROKER=$2 CLIENT=$3 ECLIENT=${4:-}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/ho-embed.XXXXXX")
chmod 700 "$DIR"
PIDS=""
cleanup() {
  for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $PIDS; do wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
FAILS=0 PASSES=0
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }
pass() { echo "ok   $1"; PASSES=$((PASSES + 1)); }
nonce() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
wait_for() { # PATH PID
  i=0
  while [ ! -S "$1" ]; do
    kill -0 "$2" 2>/dev/null || { echo "test_embed: process for $1 exited"; cat "$DIR"/*.log; exit 1; }
    i=$((i + 1)); [ $i -le 500 ] || { echo "test_embed: $1 did not appear"; exit 1; }
    sleep 0.01
  done
}

"$EMBED" "$DIR/svc/handoff.sock" "$DIR/svc/backend.sock" >"$DIR/embed.out" 2>"$DIR/embed.log" &
EPID=$!; PIDS="$PIDS $EPID"
wait_for "$DIR/svc/handoff.sock" "$EPID"; wait_for "$DIR/svc/backend.sock" "$EPID"
"$BROKER" --listen "$DIR/broker.sock" --handoff-endpoint "$DIR/svc/handoff.sock" \
  --backend-pipe "$DIR/svc/backend.sock" --hello-rate 0 --log-level debug 2>"$DIR/broker.log" &
BPID=$!; PIDS="$PIDS $BPID"
wait_for "$DIR/broker.sock" "$BPID"
# A broker whose handoff endpoint nobody serves: every handoff it tries
# fails, and the client must still be served, through backend_pipe.
"$BROKER" --listen "$DIR/broker-dead.sock" --handoff-endpoint "$DIR/nobody/handoff.sock" \
  --backend-pipe "$DIR/svc/backend.sock" --hello-rate 0 --log-level debug 2>"$DIR/broker-dead.log" &
DPID=$!; PIDS="$PIDS $DPID"
wait_for "$DIR/broker-dead.sock" "$DPID"

# case NAME ROUTE(handoff|reconnect) SERVED_AS(handoff|backend_pipe) BROKER_SOCK CLIENT ARGS...
# CLIENT is "ref" (handoff-client) or "embed" (the example client).
case_() {
  name=$1 route=$2 served=$3 sock=$4 who=$5; shift 5
  n=$(nonce)
  if [ "$who" = ref ]; then
    out=$(timeout 20 "$CLIENT" --connect "$sock" --service echo --message "$n" "$@" 2>&1) && st=0 || st=$?
  else
    out=$(timeout 20 "$ECLIENT" "$sock" echo "$n" "$@" 2>&1) && st=0 || st=$?
  fi
  # handoff-client exits 0 only when the echo equals the message; the
  # example client also prints it.
  [ "$st" -eq 0 ] || { fail "$name" "client exit $st: $out"; return 0; }
  case "$out" in *"route=$route "*) ;; *) fail "$name" "want route=$route: $out"; return 0 ;; esac
  if [ "$who" = embed ]; then
    case "$out" in *"echo: $n"*) ;; *) fail "$name" "nonce not echoed: $out"; return 0 ;; esac
  fi
  # The backend prints the line before it writes the echo back.
  grep -qx "$served: $n" "$DIR/embed.out" ||
    { fail "$name" "backend did not serve $n as $served: $(cat "$DIR/embed.out")"; return 0; }
  pass "$name ($(echo "$out" | grep -o 'reason=[A-Za-z_]*' | head -n 1))"
}

case_ handoff-legacy handoff handoff "$DIR/broker.sock" ref --handoff
if [ "$QUICK" -eq 0 ]; then
  case_ handoff-backend-ready handoff handoff "$DIR/broker.sock" ref --handoff --backend-ready
  case_ handoff-early-data handoff handoff "$DIR/broker.sock" ref --handoff --backend-ready --early-data
  case_ fallback-not-requested reconnect backend_pipe "$DIR/broker.sock" ref
  case_ fallback-backend-unreachable reconnect backend_pipe "$DIR/broker-dead.sock" ref --handoff
  if [ -n "$ECLIENT" ]; then
    case_ example-client-handoff handoff handoff "$DIR/broker.sock" embed
    case_ example-client-plain reconnect backend_pipe "$DIR/broker.sock" embed plain
    case_ example-client-fallback reconnect backend_pipe "$DIR/broker-dead.sock" embed
  fi
fi

# Clean exit on SIGTERM: status 0 (and under ASan no leak), sockets unlinked.
kill -TERM "$EPID"
st=0; wait "$EPID" || st=$?
PIDS=$(echo "$PIDS" | sed "s/ $EPID\$//; s/ $EPID / /")
if [ "$st" -eq 0 ] && [ ! -e "$DIR/svc/handoff.sock" ] && [ ! -e "$DIR/svc/backend.sock" ]; then
  pass "sigterm-clean-exit"
else
  fail "sigterm-clean-exit" "status $st, log: $(cat "$DIR/embed.log")"
fi
echo "test_embed: $PASSES passed, $FAILS failed"
[ "$FAILS" -eq 0 ]
