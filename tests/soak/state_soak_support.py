"""What tests/soak's crash and state-file suites share: the e2e helpers (two
sample apps joined in a config directory, the real ``syncd`` and ``syncd
run``), importable from here, and a way to run syncd without root's power
over file modes (so that a read-only state file is read-only to it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:  # the e2e helpers are modules of that folder (it has no __init__.py)
    sys.path.insert(0, _E2E)

from daemon_support import Daemon  # noqa: E402
from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN, Pair, by_email, duplicates  # noqa: E402

__all__ = ["LEFT_TOKEN", "RIGHT_TOKEN", "Daemon", "Pair", "by_email", "duplicates", "syncd_many", "syncd_unprivileged"]

# Root passes file modes by (CAP_DAC_OVERRIDE): without these capabilities, even root meets them.
_NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search", "--"]


def syncd_unprivileged(p: Pair, *args: str, timeout: float = 60,
                       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``syncd ARGS -c CONFIG`` as :meth:`Pair.syncd` runs it (with more *env*), but bound by file
    modes even as root."""
    prefix = _NO_OVERRIDE if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "syncd", *args, "-c", str(p.config)],
                          capture_output=True, text=True, env={**p.env(), **(env or {})}, timeout=timeout,
                          cwd=REPO)


# One process runs many syncd commands, each through syncd's own entry point (``syncd.cli.main``,
# what ``python -m syncd`` calls) with its stdout and stderr captured: starting Python and importing
# syncd takes seconds on a loaded machine, and the suites run dozens of commands that each end at once.
_DRIVER = """
import contextlib, io, json, sys
from syncd.cli import main
out = []
for argv in json.loads(sys.argv[1]):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    out.append([code, stdout.getvalue(), stderr.getvalue()])
print(json.dumps(out))
"""


def syncd_many(commands: list[list[str]], env: dict[str, str], *, unprivileged: bool = False,
               timeout: float = 120) -> list[tuple[int, str, str]]:
    """Each of *commands* (``syncd``'s arguments) run in turn in one new process: (exit code, stdout,
    stderr) of each. *unprivileged*: bound by file modes even as root. A command that does not end
    (a daemon that started) fails the call after *timeout*."""
    prefix = _NO_OVERRIDE if unprivileged and os.geteuid() == 0 else []
    result = subprocess.run([*prefix, sys.executable, "-c", _DRIVER, json.dumps(commands)], capture_output=True,
                            text=True, env=env, timeout=timeout, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    return [(code, out, err) for code, out, err in json.loads(result.stdout.splitlines()[-1])]
