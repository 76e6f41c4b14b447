#!/usr/bin/env bash
# Before and after a change, in one run: the read (bench/peers.sh's harness
# and bench/read_stages.py) and the sync cycle (bench/sync_cycle.py) of an
# earlier revision against this checkout, alternating, so that machine
# noise hits both alike. Each revision runs from a venv of its own, a
# regular install, like the peers'.
#
#   bench/compare.sh REV [N]      REV: the revision before (e.g. main~3); N contacts (default 100000)
#   REPEATS=5 ROUNDS=5 CYCLES=3 bench/compare.sh 6f8cba6
#
# Prints three tables: whole-process reads against a bare httpx loop
# (median of REPEATS), the in-process read against a bare sync httpx loop
# (median of ROUNDS, each revision twice), and sync cycles at N (median of
# CYCLES). Only reads against raw-httpx run here; airbyte and dlt are
# bench/peers.sh's.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
REV="${1:?usage: bench/compare.sh REV [N]}"
N="${2:-100000}"
PEERS="${PEERS:-$REPO/../shared/bench/peers}"
WORK="${COMPARE_DIR:-/tmp/syncd-compare}"
BEFORE="$WORK/before"
mkdir -p "$WORK"

rm -rf "$BEFORE" "$WORK/fakecrm.port" && mkdir -p "$BEFORE"
git -C "$REPO" archive "$REV" | tar -x -C "$BEFORE"
for side in before after; do
  src="$BEFORE"; [[ $side == after ]] && src="$REPO"
  python3 -m venv --clear "$WORK/venv-$side"
  "$WORK/venv-$side/bin/pip" install -q --disable-pip-version-check "$src"
done
PY_BEFORE="$WORK/venv-before/bin/python"
PY_AFTER="$WORK/venv-after/bin/python"

echo "== whole-process read of $N contacts, against raw httpx (shared harness)"
(
  export RESULTS_DIR="$WORK/peer-results" REPEATS="${REPEATS:-5}" TOOLS="raw-httpx"
  export EXTRA_TOOLS="syncd-before|$PY_BEFORE $BEFORE/bench/read_all.py
syncd-after|$PY_AFTER $REPO/bench/read_all.py"
  cd "$PEERS" && ./run_all.sh "$N"
)

echo "== in-process read of $N contacts, against a bare sync httpx loop (before, after, before, after)"
# One fake CRM for both revisions' runs (read_stages.py would start its own).
python3 "$PEERS/fakecrm.py" --n "$N" --port 0 --port-file "$WORK/fakecrm.port" >/dev/null 2>&1 &
crm=$!
trap 'kill $crm 2>/dev/null || true' EXIT
for _ in $(seq 600); do [[ -s "$WORK/fakecrm.port" ]] && break; sleep 0.1; done
export FAKECRM_URL="http://127.0.0.1:$(cat "$WORK/fakecrm.port")" FAKECRM_TOKEN=test-token
for side in before after before after; do
  if [[ $side == before ]]; then py=$PY_BEFORE; dir=$BEFORE; else py=$PY_AFTER; dir=$REPO; fi
  echo "-- $side"
  (cd "$WORK" && FAKECRM_N="$N" ROUNDS="${ROUNDS:-5}" "$py" "$dir/bench/read_stages.py" sync-httpx syncd)
done
kill $crm; unset FAKECRM_URL FAKECRM_TOKEN

echo "== sync cycles at $N"
"$PY_AFTER" "$HERE/sync_cycle.py" --sizes "$N" --repeats "${CYCLES:-3}" --steady "${STEADY:-7}" --baseline "$PY_BEFORE"
