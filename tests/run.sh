#!/usr/bin/env bash
# The test command (README, and CI through .ci/run): installs what the tests
# need and is missing, then runs pytest in three workers; every argument goes
# to pytest (`bash tests/run.sh tests/e2e/test_metrics.py -x`).
#
# From the system (apt-get, as root or through sudo when there is one):
# - systemd: tests/systemd checks the unit with systemd-analyze (verify,
#   security --offline), which needs no running systemd, only the package;
# - chromium and chromium-driver: tests/e2e/test_status_page.py loads the
#   status page in headless Chromium through /usr/bin/chromedriver, so
#   nothing is downloaded at run time;
# - postgresql: the PostgreSQL state store's tests start a throwaway cluster
#   of their own (tests/pg_cluster.py: initdb + pg_ctl, on a free port of
#   127.0.0.1) and fail, never skip, without the server's binaries.
# Then a virtualenv in .venv with syncd and its test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# Where tests/pg_cluster.py looks: PATH, then Debian's versioned directory.
if ! command -v pg_ctl >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
    missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            echo "tests/run.sh: ${missing[*]} missing, and installing needs root (or sudo):" \
                 "apt-get install ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "tests/run.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
# Three workers (pytest-xdist) on two cores: the e2e tests mostly wait on
# processes and timers (two workers kept the cores 52 % busy). Work
# stealing: with the default split, one worker was left with a run of long
# e2e tests at the end while the others idled. `-n 0` after it runs the
# tests in this process (e.g. with --pdb).
exec .venv/bin/pytest -n 3 --dist worksteal "$@"
