#!/bin/bash
# usage: fresh-run.sh BINDIR LABEL [ferry-bench args...] WORKLOAD [ARGS...]
# e.g.   crates/ferry-bench/scripts/fresh-run.sh target/release d1k direct --pairs 1000
# What BENCHMARKS.md does for every figure: a fresh data dir, a server with
# the bench settings, one short setup run (accounts, groups), a server
# restart on the same data, then the measured run. Prints the bench summary
# and the server's write_bytes (/proc/PID/io) over the measured run; the
# JSON lands in /tmp/out-LABEL.json, the server log in /tmp/server-LABEL.log.
set -u
BIN=$1; LABEL=$2; shift 2
DATA=/tmp/bench-data-$LABEL; rm -rf $DATA bench-state-$LABEL.json
PORT_H=${PORT_H:-18080}; PORT_T=${PORT_T:-18081}
if ss -ltn | grep -q ":$PORT_H "; then echo "port $PORT_H busy"; exit 1; fi
$BIN/ferry-server --print-config 2>/dev/null | grep -q register_per_ip && EXTRA_ENV="${EXTRA_ENV:-} FERRY_AUTH__REGISTER_PER_IP_PER_MINUTE=1000000"
ENV="FERRY_AUTH__ARGON2_MEMORY_KIB=1024 FERRY_AUTH__ARGON2_ITERATIONS=1 FERRY_AUTH__LOGIN_PER_IP_PER_MINUTE=1000000 FERRY_AUTH__LOGIN_PER_USERNAME_PER_MINUTE=100000 FERRY_LIMITS__FRAMES_PER_SECOND=100000 FERRY_GATEWAY__MAX_CONNECTIONS=300000 FERRY_GROUPS__MAX_MEMBERS=5000 FERRY_LOG=warn ${EXTRA_ENV:-}"
start() { env $ENV $BIN/ferry-server --http 127.0.0.1:$PORT_H --tcp 127.0.0.1:$PORT_T --data-dir $DATA > /tmp/server-$LABEL.log 2>&1 & PID=$!; for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT_H/healthz >/dev/null && return; sleep 0.1; done; echo "server did not start"; exit 1; }
stop() { kill $PID; wait $PID 2>/dev/null; }
B="$BIN/ferry-bench --server http://127.0.0.1:$PORT_H --tcp 127.0.0.1:$PORT_T --state bench-state-$LABEL.json"
start
$B --server-pid $PID "$@" --duration 1 > /tmp/setup-$LABEL.log 2>&1 || { echo "setup failed"; tail -5 /tmp/setup-$LABEL.log; }
stop; start
sleep ${SETTLE:-2}
metric() { curl -sf http://127.0.0.1:$PORT_H/metrics | awk -v m="$1" '$1==m{print $2}'; }
W0=$(awk '/^write_bytes/{print $2}' /proc/$PID/io); C0=$(metric ferry_commit_batches_total); N0=$(metric ferry_messages_committed_total)
$B --server-pid $PID --json /tmp/out-$LABEL.json "$@"
sleep ${TAIL:-2}
W1=$(awk '/^write_bytes/{print $2}' /proc/$PID/io); C1=$(metric ferry_commit_batches_total); N1=$(metric ferry_messages_committed_total)
echo "server write_bytes over run+${TAIL:-2}s: $((W1-W0))"
if [ -n "$C0" ] && [ -n "$C1" ]; then echo "message commits: $((C1-C0)), messages: $((N1-N0)), per commit: $(( (N1-N0) / (C1-C0 > 0 ? C1-C0 : 1) ))"; fi
stop
