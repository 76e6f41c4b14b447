"""The one convention every bench script follows so that ``bench/all.py`` can run it.

A script accepts ``--json PATH`` and writes there a flat JSON object of
named figures plus ``"command"``, the command line that produced them. A
figure it could not measure (a peer tool that cannot run on this machine)
is left out, and ``"<key>_error"`` says why, so the table can say so.
"""

from __future__ import annotations

import compileall
import json
import shlex
import sys
from pathlib import Path
from typing import Any


def command_line() -> str:
    """This script's command line as one types it from the repository's root."""
    script = Path(sys.argv[0])
    return shlex.join([".venv/bin/python", f"bench/{script.name}", *sys.argv[1:]])


def write_figures(path: str | None, figures: dict[str, Any], command: str | None = None) -> None:
    """Write *figures* (rounded, for a readable file) and the command to *path*, if given."""
    if not path:
        return
    out = {key: round(value, 4) if isinstance(value, float) else value for key, value in figures.items()}
    out["command"] = command or command_line()
    Path(path).write_text(json.dumps(out, indent=1) + "\n")


def compile_checkout() -> None:
    """Byte-compile this checkout's ``syncd`` and ``bench`` where a module changed.

    A baseline revision is a regular install, byte-compiled by pip; this
    checkout is an editable one. Where ``PYTHONDONTWRITEBYTECODE`` is set
    (it is on these machines), no ``.pyc`` is ever written for it, so each
    process a bench starts compiled every module it imports, some inside the
    measured window: the same code measured against itself came out 1.27x.
    ``compileall`` writes them whatever that variable says; imports then read
    them (the variable stops only the writing)."""
    root = Path(__file__).resolve().parents[1]
    for part in ("syncd", "bench"):
        compileall.compile_dir(root / part, quiet=1)
