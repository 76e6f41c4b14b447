"""What every command shares: exit codes, the config-directory option, errors."""

from __future__ import annotations

import argparse
import sys

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# `once` and `reset`: every cycle completed, but some records could not be
# read or written (kept, retried later); `errors --retry`: some retried
# records failed again; `bulk start`: done, some records not written. Its own code so that cron and
# monitoring see a cycle that created nothing; 3 is clear of sysexits
# (64-78) and of what shells make of signals and missing commands (126-165).
EXIT_RECORD_ERRORS = 3
EXIT_CONFIG = 78  # EX_CONFIG from sysexits.h: systemd units stop restarting on it
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C

# What each exit code means, as `syncd --help` prints it: a new code is one
# constant above and one line here.
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILED: "failed, the reason on stderr (for syncd validate: the config is invalid)",
    EXIT_USAGE: "bad usage: an unknown option or integration, no such config directory",
    EXIT_RECORD_ERRORS: "once, reset: every cycle completed, but some records could not be read or "
                        "written (kept, retried later: syncd errors INTEGRATION); errors --retry: some "
                        "retried records failed again; bulk start: done, but some records could not "
                        "be written",
    EXIT_CONFIG: "the config is invalid: every error on stderr as FILE:LINE:COL",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def add_config_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", metavar="DIR", dest="config_dir", default=None,
        help="config directory (default: $SYNCD_CONFIG, else /etc/syncd)",
    )


def error(message: str) -> None:
    print(f"syncd: error: {message}", file=sys.stderr)
