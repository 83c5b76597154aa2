#!/usr/bin/env bash
# Fault soak (issue 10): producers and push consumers against a `tern dev` broker that is
# SIGKILLed and restarted at random, with SYNC_FLUSH and then ASYNC_FLUSH. It fails if an
# acknowledged message is lost or damaged, and prints one "soak:" summary line per flush mode
# (acknowledged, consumed, duplicates, lost, restarts survived, broker peak RSS).
#
#   .ci/soak.sh           10 minutes (5 per flush mode), a kill every 20-60 s
#   .ci/soak.sh --ci      2 minutes (1 per flush mode), a kill every 10-20 s, at least 3
#                             each; then a 10 s overload run
#
# TERN_SOAK_* variables override the presets (see cmd/tern/reliability/soak_test.go); TERN_SOAK_OVERLOAD=1
# runs the overload test (cmd/tern/reliability/overload_test.go, TERN_OVERLOAD_DURATION, default 20s)
# afterwards, and prints its "overload:" line (peak RSS, SYSTEM_BUSY answers, recovery).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--ci" ]; then
  : "${TERN_SOAK_DURATION:=60s}" "${TERN_SOAK_KILL_MIN:=10s}" "${TERN_SOAK_KILL_MAX:=20s}" "${TERN_SOAK_RATE:=500}"
  : "${TERN_SOAK_OVERLOAD:=1}" "${TERN_OVERLOAD_DURATION:=10s}"
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--ci]" >&2
  exit 2
fi
: "${TERN_SOAK_DURATION:=5m}" "${TERN_SOAK_KILL_MIN:=20s}" "${TERN_SOAK_KILL_MAX:=60s}" "${TERN_SOAK_MIN_KILLS:=3}"
export TERN_SOAK_DURATION TERN_SOAK_KILL_MIN TERN_SOAK_KILL_MAX TERN_SOAK_MIN_KILLS
export TERN_SOAK_RATE TERN_SOAK_PRODUCERS TERN_SOAK_SIZE TERN_SOAK_BATCH TERN_SOAK_DRAIN TERN_OVERLOAD_DURATION

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
go test -tags soak -count=1 -timeout 60m -run '^TestFaultSoak$' -v ./cmd/tern/reliability/ >"$out" 2>&1 || status=$?
grep -E '^(soak:|--- |ok|FAIL)|soak_test.go' "$out" || true
if [ "$status" != 0 ]; then
  tail -n 60 "$out"
  echo "soak: FAILED"
  exit "$status"
fi
if [ "${TERN_SOAK_OVERLOAD:-}" = 1 ]; then
  go test -tags soak -count=1 -timeout 10m -run '^TestOverload$' -v ./cmd/tern/reliability/ >"$out" 2>&1 || status=$?
  grep -E '^(overload:|--- |ok|FAIL)|overload_test.go' "$out" || true
  [ "$status" = 0 ] || { tail -n 60 "$out"; exit "$status"; }
fi
echo "soak: ok"
