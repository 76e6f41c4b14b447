#!/usr/bin/env bash
# syncd against the peer readers (Airbyte's declarative source, dlt's
# rest_api, a bare httpx loop) on the same fake CRM, in one run of the
# shared harness (../shared/bench/peers). Ratios are of whole-process wall
# time in that run, so machine noise hits every tool alike.
#
#   bench/peers.sh [N]          N contacts (default 100000), REPEATS=3 rounds
#   REPEATS=1 TOOLS="raw-httpx dlt-iterate" bench/peers.sh 20000
#
# syncd runs from its own venv (/tmp/venv-syncd, a regular install of this
# checkout; SYNCD_VENV=DIR for another, e.g. one per worktree), like the
# peers' venvs under /tmp. REINSTALL=1 reinstalls this checkout into it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
PEERS="${PEERS:-$REPO/../shared/bench/peers}"
N="${1:-100000}"
VENV="${SYNCD_VENV:-/tmp/venv-syncd}"
if [[ ! -x $VENV/bin/python || ${REINSTALL:-0} == 1 ]]; then
  python3 -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$REPO"
fi
export RESULTS_DIR="${RESULTS_DIR:-/tmp/syncd-peer-results}"
export TOOLS="${TOOLS:-raw-httpx raw-httpx-orjson airbyte dlt-iterate}"
export EXTRA_TOOLS="syncd|$VENV/bin/python $HERE/read_all.py"
cd "$PEERS"
./run_all.sh "$N"
