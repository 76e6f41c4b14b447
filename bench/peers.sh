#!/usr/bin/env bash
# syncd against the peer readers (Airbyte's declarative source, dlt's
# rest_api, a bare httpx loop) on the same fake CRM, in one run of the
# shared harness (../shared/bench/peers). Ratios are of whole-process wall
# time in that run, so machine noise hits every tool alike.
#
#   bench/peers.sh [N]          N contacts (default 100000), REPEATS=3 rounds
#   REPEATS=1 TOOLS="raw-httpx dlt-iterate" bench/peers.sh 20000
#   bench/peers.sh --quick --json /tmp/read.json    # 20000 contacts, 1 round; figures for bench/all.py
#
# syncd runs from its own venv (/tmp/venv-syncd, a regular install of this
# checkout; SYNCD_VENV=DIR for another, e.g. one per worktree), like the
# peers' venvs under /tmp. REINSTALL=1 reinstalls this checkout into it.
# --json PATH writes the medians and ratios (bench/peers_json.py); a peer
# that could not run shows there as KEY_error with the reason.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PEERS="${PEERS:-$REPO/../shared/bench/peers}"
N="" JSON="" QUICK=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1; export REPEATS="${REPEATS:-1}" TOOLS="${TOOLS:-raw-httpx airbyte dlt-iterate}" ;;
    --json) JSON="$2"; shift ;;
    -*) echo "usage: bench/peers.sh [--quick] [--json PATH] [N]" >&2; exit 2 ;;
    *) N="$1" ;;
  esac
  shift
done
[[ -n $N ]] || N=$([[ $QUICK == 1 ]] && echo 20000 || echo 100000)
VENV="${SYNCD_VENV:-/tmp/venv-syncd}"
if [[ ! -x $VENV/bin/python || ${REINSTALL:-0} == 1 ]]; then
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$REPO"
fi
[[ -d $PEERS ]] || { echo "the peers' harness is not at $PEERS (set PEERS=DIR)" >&2; exit 1; }
export RESULTS_DIR="${RESULTS_DIR:-/tmp/syncd-peer-results}"
if [[ -n $JSON ]]; then  # a folder of its own: its one run-*.jsonl is this run's
  RESULTS_DIR="$(mktemp -d /tmp/syncd-peer-results.XXXXXX)"
  trap 'rm -rf "$RESULTS_DIR"' EXIT
fi
export TOOLS="${TOOLS:-raw-httpx raw-httpx-orjson airbyte dlt-iterate}"
export EXTRA_TOOLS="syncd|$VENV/bin/python $HERE/read_all.py"
(cd "$PEERS" && ./run_all.sh "$N")
if [[ -n $JSON ]]; then
  flags="--json $JSON $N"
  if [[ $QUICK == 1 ]]; then flags="--quick $flags"; fi
  "$VENV/bin/python" "$HERE/peers_json.py" --n "$N" --out "$JSON" --command "bench/peers.sh $flags" \
    "$RESULTS_DIR"/run-*.jsonl
fi
