"""``syncd reload``: ask the running daemon to reload its config, and wait.

Exit 0 when the new config is running, 78 when it is invalid (the daemon
keeps the previous one; the errors are printed), 1 when no daemon answers.
``ExecReload=`` in the systemd unit, so ``systemctl reload syncd`` fails
with the errors on a bad config.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from syncd.cli._common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, error
from syncd.cli._daemon_client import add_socket_arguments, daemon_call
from syncd.daemon import DaemonUnreachable


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "reload", help="make the running daemon reload its config, and say whether it worked",
        description="Ask the running daemon to validate and apply its config now. Only the "
                    "integrations whose config changed restart; an invalid config changes nothing.")
    add_socket_arguments(p)
    p.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="how long to wait for the daemon (default 120)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        code, body = daemon_call(args, "POST", "/v1/reload", timeout=args.timeout)
    except DaemonUnreachable as e:
        error(str(e))
        return EXIT_FAILED
    if code == 422:
        for line in body.get("errors", []):
            print(line, file=sys.stderr)
        error("reload failed: the daemon keeps running its previous config")
        return EXIT_CONFIG
    if code != 200:
        error(f"the daemon did not reload: {body.get('error', f'HTTP {code}')}")
        return EXIT_FAILED
    parts = [f"{what} {', '.join(body[what])}" for what in ("started", "restarted", "stopped") if body.get(what)]
    print(f"reloaded in {body.get('seconds', 0):.2f} s: {'; '.join(parts) or 'nothing changed'}")
    if body.get("restart_needed"):
        print(f"syncd: warning: changed settings need a restart to apply: {', '.join(body['restart_needed'])}",
              file=sys.stderr)
    return EXIT_OK
