#!/bin/bash
# usage: cluster-run.sh BINDIR NODES LABEL [ferry-bench args...] WORKLOAD [ARGS...]
# e.g.   crates/ferry-bench/scripts/cluster-run.sh target/release 3 pg3 direct --pairs 1000
#
# What BENCHMARKS.md does for every cluster figure: a throw-away PostgreSQL
# (Debian's, in /tmp, durable: fsync and synchronous_commit on), a Redis
# without persistence, NODES ferry-server nodes on loopback (each its own
# node_id, all on that database and bus), one short setup run (accounts,
# groups), every node restarted, then the measured run with the clients
# dealt over the nodes (--nodes). NODES=1 is one node on PostgreSQL (no
# bus); compare with fresh-run.sh for the embedded SQLite node.
# Prints the bench summary, each node's and PostgreSQL's CPU seconds over
# the run, and the WAL bytes PostgreSQL wrote per committed message. The
# JSON lands in /tmp/out-LABEL.json, the logs in /tmp/cluster-LABEL/.
set -u
BIN=$1; NODES=$2; LABEL=$3; shift 3
DIR=/tmp/cluster-$LABEL
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PG_PORT=${PG_PORT:-25432}; REDIS_PORT=${REDIS_PORT:-26379}; BASE=${BASE_PORT:-18080}
rm -rf "$DIR" "bench-state-$LABEL.json"; mkdir -p "$DIR"; chmod 777 "$DIR"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "${REDIS_PID:-}" ] && kill "$REDIS_PID" 2>/dev/null
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $DIR/pg -m immediate stop" >/dev/null 2>&1
    wait 2>/dev/null
}
trap cleanup EXIT

# PostgreSQL: run as its own user (it refuses root).
su postgres -s /bin/sh -c "$PGBIN/initdb -D $DIR/pg -U postgres --auth=trust" >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log"; exit 1; }
cat >>"$DIR/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DIR'
max_connections = 200
shared_buffers = 1GB
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $DIR/pg -l $DIR/pg.log -w start" >/dev/null || { tail "$DIR/pg.log"; exit 1; }
psql() { "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -At "$@"; }
psql -c "CREATE DATABASE ferry" >/dev/null
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/ferry"

if [ "$NODES" -gt 1 ]; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$DIR/redis.log" 2>&1 &
    REDIS_PID=$!
    for i in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    BUS="FERRY_CLUSTER__BUS=redis FERRY_CLUSTER__BUS_URL=redis://127.0.0.1:$REDIS_PORT"
else
    BUS=""
fi

ENV="FERRY_AUTH__ARGON2_MEMORY_KIB=1024 FERRY_AUTH__ARGON2_ITERATIONS=1 FERRY_AUTH__LOGIN_PER_IP_PER_MINUTE=1000000 FERRY_AUTH__LOGIN_PER_USERNAME_PER_MINUTE=100000 FERRY_AUTH__REGISTER_PER_IP_PER_MINUTE=1000000 FERRY_LIMITS__FRAMES_PER_SECOND=100000 FERRY_GATEWAY__MAX_CONNECTIONS=300000 FERRY_GROUPS__MAX_MEMBERS=5000 FERRY_CALLS__TURN__ENABLED=false FERRY_LOG=warn FERRY_STORAGE__BACKEND=postgres FERRY_STORAGE__POSTGRES_URL=$PG_URL $BUS ${EXTRA_ENV:-}"
http() { echo $((BASE + 2 * $1)); }
tcp() { echo $((BASE + 2 * $1 + 1)); }
start() {
    PIDS=()
    for i in $(seq 0 $((NODES - 1))); do
        env $ENV FERRY_NODE_ID=$i FERRY_CLUSTER__NODE_NAME=node$i "$BIN/ferry-server" --http 127.0.0.1:$(http $i) \
            --tcp 127.0.0.1:$(tcp $i) --data-dir "$DIR/node$i" >>"$DIR/node$i.log" 2>&1 &
        PIDS+=($!)
    done
    for i in $(seq 0 $((NODES - 1))); do
        for t in $(seq 200); do curl -sf "http://127.0.0.1:$(http $i)/readyz" >/dev/null && break; sleep 0.1; done
        curl -sf "http://127.0.0.1:$(http $i)/readyz" >/dev/null || { echo "node $i not ready"; tail "$DIR/node$i.log"; exit 1; }
    done
}
stop() { for p in "${PIDS[@]}"; do kill "$p"; done; wait "${PIDS[@]}" 2>/dev/null; }
NODE_LIST=$(for i in $(seq 0 $((NODES - 1))); do printf "http://127.0.0.1:%s," "$(http $i)"; done | sed 's/,$//')
TCP_LIST=$(for i in $(seq 0 $((NODES - 1))); do printf "127.0.0.1:%s," "$(tcp $i)"; done | sed 's/,$//')
B="$BIN/ferry-bench --server http://127.0.0.1:$(http 0) --tcp 127.0.0.1:$(tcp 0) --state bench-state-$LABEL.json --nodes $NODE_LIST --nodes-tcp $TCP_LIST"

start
$B --server-pid "${PIDS[0]}" "$@" --duration 1 >"$DIR/setup.log" 2>&1 || { echo "setup failed"; tail -5 "$DIR/setup.log"; }
stop; start
sleep "${SETTLE:-2}"
# CPU seconds (user+system) of a set of processes.
cpu() { local t=0; for p in "$@"; do [ -r /proc/$p/stat ] && t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo "$t"; }
pg_pids() { pgrep -u postgres -f "postgres" | tr '\n' ' '; }
metric() { curl -sf "http://127.0.0.1:$(http "$1")/metrics" | awk -v m="$2" '$1==m{print $2}'; }
committed() { local n=0; for i in $(seq 0 $((NODES - 1))); do n=$((n + $(metric "$i" ferry_messages_committed_total | cut -d. -f1))); done; echo "$n"; }
WAL0=$(psql -c "SELECT wal_bytes FROM pg_stat_wal"); N0=$(committed)
C_NODES0=$(cpu "${PIDS[@]}"); C_PG0=$(cpu $(pg_pids)); C_REDIS0=$(cpu ${REDIS_PID:-})
$B --server-pid "${PIDS[0]}" --json "/tmp/out-$LABEL.json" "$@"
sleep "${TAIL:-2}"
WAL1=$(psql -c "SELECT wal_bytes FROM pg_stat_wal"); N1=$(committed)
C_NODES1=$(cpu "${PIDS[@]}"); C_PG1=$(cpu $(pg_pids)); C_REDIS1=$(cpu ${REDIS_PID:-})
HZ=$(getconf CLK_TCK)
MSGS=$((N1 - N0))
echo "messages committed (all nodes): $MSGS"
echo "CPU s over run+${TAIL:-2}s: nodes $(echo "scale=1; ($C_NODES1 - $C_NODES0) / $HZ" | bc), postgresql $(echo "scale=1; ($C_PG1 - $C_PG0) / $HZ" | bc), redis $(echo "scale=1; ($C_REDIS1 - $C_REDIS0) / $HZ" | bc)"
[ "$MSGS" -gt 0 ] && echo "WAL bytes per message: $(( (WAL1 - WAL0) / MSGS ))"
stop
