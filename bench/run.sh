#!/usr/bin/env bash
# Tern against NATS JetStream, Redis Streams and the disk, in one run on this machine (issue 9):
# produce, consume and end-to-end latency, with default durability and with an fsync before
# every acknowledgement. Prints a table of ratios and writes it, with the machine, the versions
# and the commands, to --out. See bench/README.md.
#
# Everything listens on 127.0.0.1 on free ports; data goes to one temporary directory; every
# process started here is stopped at exit, and every measurement has a time limit.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [--quick] [--duration 10s] [--rounds 1] [--backlog N] [--big-backlog N] [--out bench/RESULTS.md] [--nats-server PATH]

  --quick         2 s runs, a 50,000-message backlog, smaller fio runs: about 3-4 minutes
  --duration D    length of each produce run and of each latency measurement (default 10s; 2s with --quick)
  --rounds N      run each produce and latency workload (and the scale runs) N times, the
                  systems taking turns in a rotating order, and report each one's median (default 1);
                  on a shared machine the medians of 3 rounds of 5s move less between runs
                  than one round of 10s
  --backlog N     messages (1 KiB) stored and then consumed (default 1000000; 50000 with --quick)
  --big-backlog N Tern alone: a backlog of N messages (1 KiB), whose first and last tenth are
                  each consumed, to compare reading from its start and from its tail (default
                  10000000, about 10 GB of disk; 500000 with --quick; 0 skips it)
  --out FILE      where to write the results (default bench/RESULTS.md)
  --nats-server P the nats-server to use (default: $NATS_SERVER, else nats-server v2.15.2 built
                  with go install into ~/.cache/tern-bench/bin, else Debian's)
EOF
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
invocation="bench/run.sh${*:+ $*}"
quick=0
duration=""
rounds=1
backlog=""
big=""
out="$root/bench/RESULTS.md"
nats_bin=${NATS_SERVER:-}
nats_version=v2.15.2 # the newest nats-server on the Go module proxy when this was written
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --duration) duration=${2:?--duration needs a value}; shift ;;
    --duration=*) duration=${1#*=} ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift ;;
    --rounds=*) rounds=${1#*=} ;;
    --backlog) backlog=${2:?--backlog needs a value}; shift ;;
    --backlog=*) backlog=${1#*=} ;;
    --big-backlog) big=${2:?--big-backlog needs a value}; shift ;;
    --big-backlog=*) big=${1#*=} ;;
    --out) out=${2:?--out needs a value}; shift ;;
    --out=*) out=${1#*=} ;;
    --nats-server) nats_bin=${2:?--nats-server needs a value}; shift ;;
    --nats-server=*) nats_bin=${1#*=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
if ((quick)); then
  duration=${duration:-2s} backlog=${backlog:-50000} big=${big:-500000}
  lat_warmup=1s fio_seq_size=256M fio_sync_secs=2
else
  duration=${duration:-10s} backlog=${backlog:-1000000} big=${big:-10000000}
  lat_warmup=2s fio_seq_size=1G fio_sync_secs=5
fi
[[ $duration =~ ^([0-9]+)(s|m)$ ]] || { echo "--duration $duration: want seconds or minutes, e.g. 10s" >&2; exit 2; }
dur_s=${BASH_REMATCH[1]}
[[ ${BASH_REMATCH[2]} == m ]] && dur_s=$((dur_s * 60))
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds $rounds: want a positive number" >&2; exit 2; }
[[ $backlog =~ ^[1-9][0-9]*$ ]] || { echo "--backlog $backlog: want a positive number" >&2; exit 2; }
[[ $big =~ ^(0|[1-9][0-9]*)$ ]] || { echo "--big-backlog $big: want a number" >&2; exit 2; }
[[ $out == /* ]] || out="$PWD/$out"
sizes=(128 1024 4096)
producers=(1 16)
lat_rate=10000
lat_size=1024

log() { printf '== %s\n' "$*" >&2; }

# --- tools ------------------------------------------------------------------------------------
missing=()
for t in redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools fio:fio jq:jq curl:curl; do
  command -v "${t%%:*}" >/dev/null || missing+=("${t#*:}")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null; }
fi
if [[ -z $nats_bin ]]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/tern-bench/bin
  nats_bin=$cache/nats-server
  if [[ ! -x $nats_bin ]]; then
    log "building nats-server $nats_version (go install, about a minute the first time)"
    mkdir -p "$cache"
    if ! (cd /tmp && GOBIN=$cache GOFLAGS=-buildvcs=false go install "github.com/nats-io/nats-server/v2@$nats_version") >&2; then
      command -v nats-server >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server >/dev/null
      nats_bin=$(command -v nats-server)
      log "go install failed: using $nats_bin"
    fi
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tern-bench.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results=$work/results # KEY VALUE lines
notes=$work/notes     # markdown bullets
cmds=$work/commands   # the commands, as run
touch "$results" "$notes" "$cmds"

# forget PID: drop a process that ended from pids, so that the exit trap cannot signal a
# process that later got the same pid.
forget() {
  local keep=() p
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  pids=("${keep[@]}")
}
record() { printf '%s %s\n' "$1" "$2" >>"$results"; }
note() { printf -- '- %s\n' "$*" >>"$notes"; log "note: $*"; }
# show CMD...: add CMD to the commands, the temporary directory written as $WORK.
show() {
  local line
  line=$(printf '%q ' "$@")
  line=${line% }
  printf '%s\n' "${line//"$work"/\$WORK}" >>"$cmds"
}
# track LIMIT_SECONDS CMD...: run CMD in the background under timeout, so that an interrupt or
# the exit trap can stop it, and wait for it; its output goes where the caller redirects it.
track() {
  local limit=$1 p rc=0
  shift
  timeout -k 5 "$limit" "$@" &
  p=$!
  pids+=("$p")
  wait "$p" || rc=$?
  forget "$p"
  return "$rc"
}
# run LIMIT_SECONDS CMD...: show CMD, then track it.
run() {
  show "${@:2}"
  track "$@"
}
# start LOGFILE CMD...: start a server in the background; its pid in $bg_pid.
start() {
  local logf=$1
  shift
  show "$@"
  "$@" >"$logf" 2>&1 &
  bg_pid=$!
  pids+=("$bg_pid")
}
# stop PID: SIGTERM, up to 15 s to exit, then SIGKILL.
stop() {
  local i
  if ! kill -TERM "$1" 2>/dev/null; then
    wait "$1" 2>/dev/null || true
    forget "$1"
    return 0
  fi
  for ((i = 0; i < 150; i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
picked=" "
# Ports come from below the kernel's ephemeral range, so that no outgoing connection takes one
# between the pick and the listen.
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range
port_lo=10000 port_span=$((eph_lo - 10000))
if ((port_span < 2000)); then port_lo=$((eph_lo > 40000 ? 20000 : 61000)) port_span=2000; fi
# free_port VAR: a loopback port nothing listens on and not picked before, into VAR.
free_port() {
  local p
  while :; do
    p=$((port_lo + RANDOM % port_span))
    [[ $picked == *" $p "* ]] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    picked+="$p "
    printf -v "$1" %s "$p"
    return
  done
}
# until_ok SECONDS CMD...: run CMD every 0.1 s until it succeeds; fail after SECONDS.
until_ok() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
# record_json KEY FILE: KEY.msgs, .mbps, .count, .failed, .p50, .p99 from a `-o json` result.
record_json() {
  jq -r --arg k "$1" '.rows[0] | "\($k).msgs \(.msgsPerSec)\n\($k).mbps \(.mbPerSec)\n\($k).count \(.messages)\n\($k).failed \(.failed)\n\($k).p50 \(.p50Ms)\n\($k).p99 \(.p99Ms)"' "$2" >>"$results"
  local fe
  fe=$(jq -r '.rows[0].firstError // empty' "$2")
  [[ -z $fe ]] || note "$1: first error: $fe"
  [[ $(jq -r '.rows[0].failed' "$2") == 0 ]] || note "$1: $(jq -r '.rows[0].failed' "$2") messages failed"
}

# --- builds -----------------------------------------------------------------------------------
log "building tern and jsbench"
(cd "$root" && go build -o "$work/tern" ./cmd/tern)
(cd "$root/bench/jsbench" && go build -o "$work/jsbench" .)
tern=$work/tern
jsbench=$work/jsbench

# --- the machine and the versions -------------------------------------------------------------
tern_version=${TERN_VERSION:-}
if [[ -z $tern_version ]] && command -v git >/dev/null; then
  tern_version=$(git -C "$root" describe --always --dirty 2>/dev/null || true)
fi
tern_version=${tern_version:-dev}
read -r fs_source fs_type < <(findmnt -no SOURCE,FSTYPE -T "$work")
disk_dev=$(basename "$fs_source")
rota=$(cat "/sys/block/$disk_dev/queue/rotational" 2>/dev/null || echo "?")
machine=(
  "nproc: $(nproc)"
  "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  "kernel: $(uname -sr)"
  "disk: $fs_source ($fs_type, rotational=$rota), $(df -h --output=size "$work" | tail -1 | tr -d ' ') — the data directories and fio's files are all in $(dirname "$work")"
  "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
)
nats_ver=$("$nats_bin" --version 2>&1 | head -1 | sed 's/^nats-server: //')
versions=(
  "tern: $tern_version ($(cd "$root" && go list -m))"
  "nats-server: $nats_ver ($nats_bin); client nats.go $(awk '$1 == "require" && $2 ~ /nats.go$/ {print $3}' "$root/bench/jsbench/go.mod")"
  "redis-server: $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), redis-benchmark $(redis-benchmark --version 2>/dev/null | awk '{print $2}')"
  "fio: $(fio --version)"
  "go: $(go version | awk '{print $3, $4}')"
)

# Does the JetStream server accept `sync_interval: always` (fsync before the PubAck)?
printf 'listen: 127.0.0.1:1\njetstream { store_dir: "%s", sync_interval: always }\n' "$work/probe" >"$work/probe.conf"
js_fsync=1
if ! probe=$("$nats_bin" -c "$work/probe.conf" -t 2>&1); then
  js_fsync=0
  note "JetStream fsync column not measured: $nats_ver rejects \`sync_interval: always\` ($(head -1 <<<"$probe" | sed "s|$work/||"))."
fi
if [[ -x /usr/sbin/nats-server && $nats_bin != /usr/sbin/nats-server ]]; then
  if probe=$(/usr/sbin/nats-server -c "$work/probe.conf" -t 2>&1); then :; else
    note "Debian's nats-server ($(/usr/sbin/nats-server --version 2>&1 | sed 's/^nats-server: //')) rejects \`sync_interval\` ($(head -1 <<<"$probe" | sed "s|$work/||")): it has no fsync-before-ack mode, so JetStream was measured with $nats_ver, built from the Go module proxy (both columns use it)."
  fi
fi
rm -rf "$work/probe" "$work/probe.conf"

# --- disk baseline ----------------------------------------------------------------------------
log "disk: fio sequential write ($fio_seq_size, O_DIRECT) and fdatasync rate (${fio_sync_secs}s)"
mkdir -p "$work/fio"
if run 300 fio --name=seqwrite --directory="$work/fio" --rw=write --bs=1M --size="$fio_seq_size" --direct=1 \
  --ioengine=psync --end_fsync=1 --output-format=json >"$work/fio-seq.json" 2>"$work/fio-seq.err"; then
  record disk.mbps "$(jq '.jobs[0].write.bw_bytes / 1e6' "$work/fio-seq.json")"
else
  note "fio sequential write failed: $(tail -1 "$work/fio-seq.err")"
fi
rm -rf "$work/fio"/*
if run 120 fio --name=fdatasync --directory="$work/fio" --rw=write --bs=4k --size=256M --fdatasync=1 \
  --runtime="$fio_sync_secs" --time_based --output-format=json >"$work/fio-sync.json" 2>"$work/fio-sync.err"; then
  record disk.fdsync "$(jq '.jobs[0].sync.lat_ns.N / (.jobs[0].write.runtime / 1000)' "$work/fio-sync.json")"
else
  note "fio fdatasync failed: $(tail -1 "$work/fio-sync.err")"
fi
rm -rf "$work/fio"

# --- the three servers ------------------------------------------------------------------------
# Each mode starts Tern, JetStream and Redis side by side and measures every workload on the
# three one after the other, so that the two numbers of a ratio are taken seconds apart: this
# shared machine's speed drifts by a third over minutes. A server idles while the others run.

tern_ready() { # NAMESRV BROKER: the NameServer lists the broker
  "$tern" admin --namesrv "$1" --timeout 1s cluster list | grep -q "$2"
}
tern_start() { # MODE: start tern dev; sets ns and tern_pid ("" if it did not start)
  local mode=$1 ns_port br_port extra=()
  [[ $mode == fsync ]] && extra=(--set flushDiskType=SYNC_FLUSH)
  free_port ns_port
  free_port br_port
  ns=127.0.0.1:$ns_port
  log "tern ($mode): tern dev ${extra[*]}"
  start "$work/tern-$mode.log" "$tern" dev --data "$work/tern-$mode" --namesrv-addr "$ns" --broker-addr "127.0.0.1:$br_port" \
    --http-addr off --log-level warn "${extra[@]}"
  tern_pid=$bg_pid
  if ! until_ok 30 tern_ready "$ns" "127.0.0.1:$br_port"; then
    note "tern ($mode) did not start: $(tail -3 "$work/tern-$mode.log" | tr '\n' ' ')"
    stop "$tern_pid"
    tern_pid=""
  fi
}
js_start() { # MODE: start nats-server -js; sets url and js_pid ("" if it did not start)
  local mode=$1 port mport sync=""
  [[ $mode == fsync ]] && sync=", sync_interval: always"
  free_port port
  free_port mport
  url=nats://127.0.0.1:$port
  printf 'listen: 127.0.0.1:%s\nhttp: 127.0.0.1:%s\njetstream { store_dir: "%s"%s }\n' \
    "$port" "$mport" "$work/js-$mode" "$sync" >"$work/js-$mode.conf"
  log "jetstream ($mode): $(tail -1 "$work/js-$mode.conf")"
  start "$work/js-$mode.log" "$nats_bin" -c "$work/js-$mode.conf"
  js_pid=$bg_pid
  if ! until_ok 30 curl -fsS "http://127.0.0.1:$mport/healthz?js-enabled-only=true"; then
    note "nats-server ($mode) did not start: $(tail -3 "$work/js-$mode.log" | tr '\n' ' ')"
    stop "$js_pid"
    js_pid=""
  fi
}
redis_start() { # MODE: start redis-server with AOF; sets rport and redis_pid ("" if it did not start)
  local mode=$1 fsync=everysec
  [[ $mode == fsync ]] && fsync=always
  free_port rport
  mkdir -p "$work/redis-$mode"
  log "redis ($mode): appendfsync $fsync"
  start "$work/redis-$mode.log" redis-server --bind 127.0.0.1 --port "$rport" --dir "$work/redis-$mode" \
    --appendonly yes --appendfsync "$fsync" --save "" --daemonize no
  redis_pid=$bg_pid
  if ! until_ok 30 redis-cli -p "$rport" ping; then
    note "redis-server ($mode) did not start: $(tail -3 "$work/redis-$mode.log" | tr '\n' ' ')"
    stop "$redis_pid"
    redis_pid=""
  fi
}

# The workloads, each on the servers of the current mode ($mode): a failure is noted.
tern_produce() { # SIZE PRODUCERS
  run $((dur_s + 120)) "$tern" bench produce --namesrv "$ns" --topic "P$1x$2" --size "$1" --producers "$2" \
    --duration "$duration" -o json >"$work/out.json" && record_json "tern.$mode.p$1x$2" "$work/out.json"
}
js_produce() { # SIZE PRODUCERS
  run $((dur_s + 120)) "$jsbench" produce -server "$url" -stream "P$1x$2" -size "$1" -producers "$2" \
    -duration "$duration" >"$work/out.json" && record_json "js.$mode.p$1x$2" "$work/out.json"
}
redis_produce() { redis_xadd "$mode" "$rport" "$1" "$2"; } # SIZE CLIENTS
tern_pipe() { # 4 KiB, 16 producers sending batches of 16
  run $((dur_s + 120)) "$tern" bench produce --namesrv "$ns" --topic Pipe --size 4096 --producers 16 --batch 16 \
    --duration "$duration" -o json >"$work/out.json" && record_json "tern.$mode.pipe4096" "$work/out.json"
}
js_pipe() { # 4 KiB, 16 asynchronous publishers with 16 PubAcks outstanding each
  run $((dur_s + 120)) "$jsbench" produce -server "$url" -stream Pipe -size 4096 -producers 16 -async 16 \
    -duration "$duration" >"$work/out.json" && record_json "js.$mode.pipe4096" "$work/out.json"
}
tern_latency() {
  run $((dur_s + 120)) "$tern" bench latency --namesrv "$ns" --topic Latency --size "$lat_size" --rate "$lat_rate" \
    --duration "$duration" --warmup "$lat_warmup" -o json >"$work/out.json" && record_json "tern.$mode.lat" "$work/out.json"
}
js_latency() {
  run $((dur_s + 120)) "$jsbench" latency -server "$url" -stream Latency -size "$lat_size" -rate "$lat_rate" \
    -duration "$duration" -warmup "$lat_warmup" >"$work/out.json" && record_json "js.$mode.lat" "$work/out.json"
}
tern_consume() { # store the backlog, then consume it
  run 1800 "$tern" bench produce --namesrv "$ns" --topic Backlog --size 1024 --producers 16 --batch 64 \
    --messages "$backlog" --duration 25m -o json >"$work/fill.json" &&
    run 1800 "$tern" bench consume --namesrv "$ns" --topic Backlog --duration 25m -o json >"$work/out.json" || return 1
  record_json "tern.$mode.consume" "$work/out.json"
  local got stored
  got=$(jq '.rows[0].messages' "$work/out.json")
  stored=$(jq '.rows[0].messages' "$work/fill.json")
  ((got >= backlog)) || note "tern consume received $got of $stored stored messages"
}
js_consume() { # jsbench consume stores its backlog itself
  run 3600 "$jsbench" consume -server "$url" -stream Backlog -size 1024 -messages "$backlog" -batch 500 -acks all \
    -duration 25m >"$work/out.json" && record_json "js.$mode.consume" "$work/out.json"
}

# each SYSTEMS WORKLOAD [ARGS...]: SYSTEM_WORKLOAD ARGS on each of SYSTEMS (tern js redis) whose
# server is up in this mode, one after the other.
each() {
  local sys
  for sys in $1; do
    local pid=${sys}_pid
    [[ -n ${!pid:-} ]] || continue
    log "$sys ($mode): $2 ${*:3}"
    "${sys}_$2" "${@:3}" || note "$sys ($mode) $2 ${*:3} failed"
  done
}

# rounds SYSTEMS WORKLOAD [ARGS...]: each, --rounds times, the first system of SYSTEMS moving
# to the end after every round, so that no system always runs first after a quiet spell or
# last in a busy one. Each round records its own sample; table.awk reports the median.
rounds() {
  local -a sys=($1)
  local r
  for ((r = 0; r < rounds; r++)); do
    each "${sys[*]}" "${@:2}"
    sys=("${sys[@]:1}" "${sys[0]}")
  done
}

# tern_scale: Tern alone, 8 queues against 2,500 topics x 4 queues, and the big backlog.
tern_scale() {
  log "tern ($mode): scale, 8 queues against 2,500 topics x 4 queues (creating the topics and a first message to each queue took 10-12 s here)"
  if run 600 "$tern" bench produce --namesrv "$ns" --topic Scale --topics 2500 --queues 4 --size 1024 --producers 16 \
    --duration 1s -o json >/dev/null; then
    local q r
    for ((r = 0; r < rounds; r++)); do # the two alternate; each round records one sample of each
      for q in q8 q10k; do
        local args=(--topic Scale8)
        [[ $q == q10k ]] && args=(--topic Scale --topics 2500 --queues 4)
        if run $((dur_s + 120)) "$tern" bench produce --namesrv "$ns" "${args[@]}" --size 1024 --producers 16 \
          --duration "$duration" -o json >"$work/out.json"; then
          record_json "tern.scale.$q" "$work/out.json"
        else
          note "tern scale run $q failed"
        fi
      done
    done
  else
    note "tern scale: creating 2,500 topics failed"
  fi
  if ((big > 0)); then
    local tenth=$((big / 10)) mid
    log "tern ($mode): a backlog of $big messages; consume its first and its last $tenth"
    if run 3600 "$tern" bench produce --namesrv "$ns" --topic Big --size 1024 --producers 16 --batch 64 \
      --messages $((big - tenth)) --duration 50m -o json >/dev/null &&
      mid=$(date +%s%3N) &&
      run 3600 "$tern" bench produce --namesrv "$ns" --topic Big --size 1024 --producers 16 --batch 64 \
        --messages "$tenth" --duration 50m -o json >/dev/null; then
      local r # head and tail alternate, each round a new group for each; table.awk reports medians
      for ((r = 0; r < rounds; r++)); do
        if run 1800 "$tern" bench consume --namesrv "$ns" --topic Big --messages "$tenth" --duration 25m \
          -o json >"$work/out.json"; then
          record_json "tern.big.start" "$work/out.json"
        else
          note "tern big backlog: consuming its first tenth failed"
        fi
        if run 1800 "$tern" bench consume --namesrv "$ns" --topic Big --from-time "$mid" --messages "$tenth" \
          --duration 25m -o json >"$work/out.json"; then
          record_json "tern.big.tail" "$work/out.json"
        else
          note "tern big backlog: consuming its last tenth failed"
        fi
      done
    else
      note "tern big backlog ($big messages) failed"
    fi
  fi
}

# redis_xadd MODE PORT SIZE CLIENTS: redis-benchmark runs a request count, not a duration, so a
# short run measures the rate and the real run sends rate x duration requests (at most 4 GB of
# payload: the stream is in memory). The stream is deleted before and after.
redis_xadd() {
  local mode=$1 port=$2 size=$3 c=$4 payload rps n
  payload=$(head -c "$size" /dev/zero | tr '\0' x)
  redis-cli -p "$port" DEL stream >/dev/null
  track 120 redis-benchmark -p "$port" -c "$c" -n $((c * 200 + 1000)) -P 1 --csv XADD stream '*' f "$payload" >"$work/redis.csv" || return 1
  rps=$(awk -F'","' 'NR == 2 {print int($2)}' "$work/redis.csv")
  ((rps > 0)) || return 1
  n=$((rps * dur_s))
  ((n > 4000000000 / size)) && n=$((4000000000 / size))
  ((n >= 1000)) || n=1000
  redis-cli -p "$port" DEL stream >/dev/null
  printf 'redis-benchmark -p %s -c %s -n %s -P 1 --csv XADD stream '\''*'\'' f "<%s bytes of x>"\n' "$port" "$c" "$n" "$size" >>"$cmds"
  track $((dur_s * 5 + 120)) redis-benchmark -p "$port" -c "$c" -n "$n" -P 1 --csv XADD stream '*' f "$payload" >"$work/redis.csv" || return 1
  # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  awk -F'","' -v k="redis.$mode.p${size}x$c" -v size="$size" 'NR == 2 {
    gsub(/"/, "", $8)
    printf "%s.msgs %s\n%s.mbps %s\n%s.count %s\n%s.p50 %s\n%s.p99 %s\n", k, $2, k, $2 * size / 1e6, k, n, k, $5, k, $7
  }' n="$n" "$work/redis.csv" >>"$results"
  redis-cli -p "$port" DEL stream >/dev/null
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$SECONDS
for mode in default fsync; do
  tern_pid="" js_pid="" redis_pid=""
  tern_start "$mode"
  if [[ $mode == default || $js_fsync == 1 ]]; then js_start "$mode"; fi
  redis_start "$mode"
  for s in "${sizes[@]}"; do
    for p in "${producers[@]}"; do
      rounds "tern js redis" produce "$s" "$p"
    done
  done
  if [[ $mode == default ]]; then rounds "tern js" pipe; fi
  rounds "tern js" latency
  if [[ $mode == default ]]; then
    each "js tern" consume # JetStream first: its backlog is gone (stream deleted) before Tern's scale runs
    [[ -z $tern_pid ]] || tern_scale
  fi
  for pid in "$tern_pid" "$js_pid" "$redis_pid"; do [[ -z $pid ]] || stop "$pid"; done
  rm -rf "$work/tern-$mode" "$work/js-$mode" "$work/redis-$mode"
done
machine+=("load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)")
elapsed=$((SECONDS - t0))

# --- report -----------------------------------------------------------------------------------
how_to_read() {
  cat <<'EOF'
## How to read

- Each row is one workload; Tern, JetStream and Redis ran it one right after the other (the
  three servers of a durability mode run side by side, each idle while the others are
  measured), with the same message size and the same number of synchronous producers (each
  waits for its acknowledgement before sending again). Tern/JetStream and Tern/Redis are Tern's value divided
  by the peer's: above 1 Tern is faster, except in the latency rows, where below 1 Tern is
  faster. "met" compares with issue 9's target on the same row.
- Default durability is each system's out-of-the-box setting: Tern ASYNC_FLUSH (acknowledged
  once in the page cache, flushed in the background), JetStream's default (file storage,
  acknowledged before its periodic fsync), Redis `appendfsync everysec`. "fsync before the
  ack" is Tern SYNC_FLUSH, JetStream `sync_interval: always`, Redis `appendfsync always`: a
  message is acknowledged only after an fsync/fdatasync that covers it, so an ack survives a
  power cut. Concurrent producers let a system cover many messages with one fsync (group
  commit); the last rows divide by the rate of fdatasync the disk can do alone.
- How the producers connect differs by design: `tern bench produce` runs N goroutines on one
  Tern client (one connection to the broker, requests multiplexed); `jsbench produce` opens one
  connection per publisher, as `nats bench` does; `redis-benchmark -c N` opens N connections.
- Bodies are random bytes. RocketMQ clients, Tern's included, zlib-compress bodies of 4 KiB
  and more by default (compressMsgBodyOverHowmuch), which costs the client about 200 µs per
  4 KiB message and saves nothing on random bytes; `tern bench` does not compress unless given
  `--compress-over`, as neither `nats bench` nor `redis-benchmark` compresses. Otherwise every
  system runs with its defaults except the durability setting named above.
- 4 KiB with messages in flight: a producer that does not wait for each acknowledgement, as a
  Kafka producer batches or a JetStream client publishes asynchronously. Tern's 16 producers
  each send batches of 16 messages (SEND_BATCH_MESSAGE, one acknowledgement per batch);
  JetStream's 16 publishers each keep 16 PubAcks outstanding. Issue 9's share of the disk is
  judged on this row: 16 synchronous producers sending one message at a time are bound by round
  trips and CPU long before the disk.
- Scaling: one synchronous producer waits a whole round trip (and, with fsync, a flush) for
  each acknowledgement, so it leaves the machine mostly idle; 16 × its rate is what 16 producers
  would reach if none slowed the others. The share of that each system reaches shows how far it
  keeps 16 producers from queueing behind each other on two cores (with fsync: how well one
  flush serves many of them). The target column shows the share of Tern's own one-producer rate
  that issue 9's target for 16 producers asks for, measured in this run.
- Big backlog: Tern stores --big-backlog messages into one topic of 8 queues, noting the time
  before the last tenth; a new push consumer reads the first tenth from the first offset, another
  the last tenth from that time (`--from-time`), each round with new groups (the first tenth is
  then read from the disk again: the broker evicts the log behind its readers). "The same rate"
  is read as within 10%.
- Scale: the 2,500 topics are created and each of their queues sent one message before the clock starts, so
  the client has their routes; the 8-queue and 10,000-queue runs follow each other on one broker.
- Every timed `tern bench` run (and its count of a backlog) starts once each master reports
  dispatchBehindBytes 0 (at most 2 minutes), so that no run shares the broker with the
  dispatch of what ran before it (before 2062125 the broker went on creating the 10,000
  queues' files for about 4.5 s after the scale warm-up; now a sender creates them).
- Consume: Tern's push consumer of a new group reads from the first offset; JetStream's durable
  pull consumer fetches 500 at a time and acks the last message of each fetch (AckAll: one
  cumulative ack, the counterpart of a RocketMQ offset commit). The rate runs from the first to
  the last message received. Redis has no counterpart here.
- Latency: one producer sends asynchronously at the fixed rate on an open loop (a late send does
  not delay the next one's schedule), one consumer receives; each body carries its send time,
  and latency = receive time - send time, over the messages sent after the warm-up. The
  "received per second" row shows whether the rate was sustained.
- Client, broker and load generator share the machine's cores, so every number includes the
  load generator's own CPU use; that is the same for every system.
- One run is one sample: on this shared 2-core VM ratios moved by up to a third between runs
  (the consume ratio was 1.69× in one full run and 1.23× in the next). Repeat the run before
  reading much into a ratio near its target. With `--rounds N` each produce row (and the 4 KiB
  row with messages in flight) is run N times, the systems taking turns in a rotating order,
  and shows each system's median: a busy spell then costs every system some of its rounds
  instead of one system its only run. The latency runs, the 8-queue and 10,000-queue runs and
  the big backlog's first and last tenth alternate N times too (the latency rows show the median
  p50, the median p99 and the median rate; the backlog is stored once, and each of its rounds
  reads it with new groups). The consume row runs once.
EOF
}

table=$(awk -v lat_rate="$lat_rate" -v backlog="$backlog" -v big="$big" -f "$root/bench/table.awk" "$results")
printf '\n%s\n' "$table"
mkdir -p "$(dirname "$out")"
{
  echo "# Tern vs NATS JetStream vs Redis Streams, and the disk"
  echo
  echo "Generated by \`$invocation\` on $started in ${elapsed}s: produce runs of $duration" \
    "($(((rounds > 1)) && echo "each row the median of $rounds rounds, the systems taking turns" || echo "one round"))," \
    "latency measured for $duration after a $lat_warmup warm-up, a backlog of $backlog messages of 1 KiB."
  echo "Every number comes from this one run on this machine, which may have been shared with other work" \
    "(see the load averages): compare the ratios, whose two numbers were measured one right after the other, rather than the absolute numbers with other runs."
  echo
  echo "## Machine"
  echo
  printf -- '- %s\n' "${machine[@]}"
  echo
  echo "## Versions"
  echo
  printf -- '- %s\n' "${versions[@]}"
  echo
  echo "## Results"
  echo
  echo "$table"
  echo
  how_to_read
  echo
  echo "## Notes from this run"
  echo
  if [[ -s $notes ]]; then cat "$notes"; else echo "- none: every measurement ran and no message failed."; fi
  echo
  echo "## Commands"
  echo
  echo "In the order they ran; \`\$WORK\` is the run's temporary directory, ports were picked free at run time."
  echo
  echo '```sh'
  cat "$cmds"
  echo '```'
} >"$out"
log "wrote $out"
