#!/bin/sh
# make demo: run the reference broker, backend and client through a real
# handoff and a forced fallback, in a private 0700 directory, and show what
# happened. Usage: mk/demo.sh BINDIR
set -eu
BIN=${1:-build/bin}
for p in handoff-broker handoff-backend handoff-client; do
  [ -x "$BIN/$p" ] || { echo "demo: $BIN/$p missing (run: make demo)" >&2; exit 1; }
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/handoff-demo.XXXXXX")
chmod 700 "$DIR"
PIDS=""
cleanup() {
  for pid in $PIDS; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# Bold titles only on a terminal: a file or a pipe gets plain text.
if [ -t 1 ]; then
  bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
else
  bold() { printf '\n%s\n' "$*"; }
fi
# Wait until a socket path exists (the programs create them atomically).
wait_for() {
  i=0
  while [ ! -S "$1" ]; do
    i=$((i + 1)); [ $i -gt 500 ] && { echo "demo: $1 did not appear" >&2; exit 1; }
    sleep 0.01
  done
}
# The log lines added since marks $2 (broker log $1) and $4 (backend log
# $3), merged in time order, as "+MICROSECONDS  who: event".
since() {
  { tail -n +"$(( $2 + 1 ))" "$1"; tail -n +"$(( $4 + 1 ))" "$3"; } |
    grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z ' | sort -k1,1 |
    awk '{ split(substr($1, 12, 15), t, /[:.]/);
           us = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000000 + t[4]; if (us < last) us += 86400000000;
           last = us; if (NR == 1) t0 = us;
           who = $2; sub(/\[[0-9]+\]$/, "", who); $1 = ""; $2 = "";
           sub(/^ +/, ""); sub(/^level=[a-z]+ /, ""); printf "      +%6d us  %-15s %s\n", us - t0, who, $0 }'
}
lines() { wc -l < "$1" | tr -d ' '; }

# start NAME BACKEND_ARGS -- BROKER_ARGS : a backend and a broker in $DIR/NAME
start() {
  name=$1; shift
  d="$DIR/$name"; mkdir -p "$d"; chmod 700 "$d"
  bargs=""; while [ "$1" != "--" ]; do bargs="$bargs $1"; shift; done; shift
  # shellcheck disable=SC2086
  : >"$d/exec.log"
  "$BIN/handoff-backend" --handoff-endpoint "$d/handoff.sock" --backend-pipe "$d/backend.sock" \
    --log-level info --exec-log "$d/exec.log" $bargs 2>"$d/backend.log" >"$d/backend.out" &
  PIDS="$PIDS $!"; BACKEND_PID=$!
  wait_for "$d/handoff.sock"; wait_for "$d/backend.sock"
  # shellcheck disable=SC2086
  "$BIN/handoff-broker" --listen "$d/broker.sock" --handoff-endpoint "$d/handoff.sock" \
    --backend-pipe "$d/backend.sock" --log-level debug "$@" 2>"$d/broker.log" &
  PIDS="$PIDS $!"; BROKER_PID=$!
  wait_for "$d/broker.sock"
}

# The value of NAME= in a line ("" when absent).
field() { printf '%s\n' "$2" | sed -n "s/^\(.* \)\{0,1\}$1=\([^ ]*\).*/\2/p" | head -n 1; }
# Quote what a shell would need quoted, for a command line that can be copied.
quote() { for a in "$@"; do case $a in *[!A-Za-z0-9_./:=-]*) printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac; done; }

# route TITLE DIR CLIENT_ARGS... (the backend's --exec-log: $EXEC, default DIR/exec.log)
route() {
  title=$1; d=$2; shift 2
  ex=${EXEC:-$d/exec.log}
  bold "$title"
  echo "   \$ handoff-client$(quote --connect "$d/broker.sock" --service echo "$@")"
  mb=$(lines "$d/broker.log"); mk=$(lines "$d/backend.log"); me=$(lines "$ex")
  st=0; out=$("$BIN/handoff-client" --connect "$d/broker.sock" --service echo "$@" 2>&1) || st=$?
  echo "   client : $out"
  sleep 0.05 # let the broker log the ACK it reads after the client is done
  # What the backend itself recorded serving ("ROUTE<TAB>REQUEST"), and the
  # echo the client compared byte for byte (it exits 3 on a mismatch).
  served=$(tail -n +"$((me + 1))" "$ex" | head -n 1)
  msg=""; prev=""; for a in "$@"; do [ "$prev" = --message ] && msg=$a; prev=$a; done
  if [ "$st" -eq 0 ] && [ -n "$served" ]; then
    echo "   echoed : \"$msg\" (the client compared the echo byte for byte; the backend's --exec-log: route $(printf '%s' "$served" | cut -f1), \"$(printf '%s' "$served" | cut -f2-)\")"
  else
    echo "   echoed : nothing (client exit status $st)"
  fi
  # The client names what it observed, the broker why it sent the client
  # to backend_pipe: print both names when they differ.
  creason=$(field reason "$out")
  breason=$(tail -n +"$((mb + 1))" "$d/broker.log" | grep ' route=' | head -n 1)
  breason=$(field reason "$breason")
  if [ -n "$creason" ] && [ -n "$breason" ] && [ "$creason" != "$breason" ]; then
    echo "   names  : one fallback, two names: the client reports reason=$creason (what it saw arrive), the broker logs reason=$breason (why it sent the client to backend_pipe)"
  fi
  echo "   trace (broker and backend logs, merged):"
  since "$d/broker.log" "$mb" "$d/backend.log" "$mk"
}

echo "handoff demo — working directory $DIR (mode 0700), programs from $BIN"

start ok --ready-mode backend --
route "1. Handoff, legacy v1 ordering (the broker writes ready after the ACK; the ACK declares backend-ready)" "$DIR/ok" \
  --handoff --message "hello, legacy"
route "2. Handoff, backend-ready mode + early data (declared in the first ACK, READY-36)" "$DIR/ok" \
  --handoff --backend-ready --early-data --message "hello through a handed-off connection"
route "3. Client that does not opt in: Negotiated without token, reconnect" "$DIR/ok" \
  --message "hello, plain"
kill -TERM "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true
bold "   broker counters at exit (route 1-3)"
sed -n '/counters (exit)/,$p' "$DIR/ok/broker.log" | sed 's/^/      /'

start refuse --fault refuse --
route "4. Forced fallback: the backend refuses every offer (--fault refuse)" "$DIR/refuse" \
  --handoff --message "served anyway, by backend_pipe"

start crash --fault crash-before-ack --
# The crashing backend takes its backend_pipe with it: point the broker at a
# healthy backend for the fallback.
mkdir -p "$DIR/healthy"
: >"$DIR/healthy/exec.log"
"$BIN/handoff-backend" --handoff-endpoint "$DIR/healthy/handoff.sock" \
  --backend-pipe "$DIR/healthy/backend.sock" --exec-log "$DIR/healthy/exec.log" \
  2>"$DIR/healthy/backend.log" >/dev/null &
PIDS="$PIDS $!"
wait_for "$DIR/healthy/backend.sock"
kill -TERM "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true
"$BIN/handoff-broker" --listen "$DIR/crash/broker2.sock" --handoff-endpoint "$DIR/crash/handoff.sock" \
  --backend-pipe "$DIR/healthy/backend.sock" --log-level debug 2>"$DIR/crash/broker.log" &
PIDS="$PIDS $!"; BROKER_PID=$!
wait_for "$DIR/crash/broker2.sock"
ln -s broker2.sock "$DIR/crash/broker.sock" 2>/dev/null || true
EXEC="$DIR/healthy/exec.log" route "5. Forced fallback: the backend dies before its ACK (--fault crash-before-ack)" \
  "$DIR/crash" --handoff --message "served anyway, by another backend"

bold "Stopping everything (SIGTERM; sockets unlinked, nothing left behind)"
cleanup
trap - EXIT INT TERM
echo "   done: $DIR removed"
