"""Running a shipped spec against a fake: through the engine, and through the real ``syncd check``.

Shared by the vendor spec tests (here) and the contract tests (tests/contracts/).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd._secret import Secret
from syncd.config import load_connector_file
from syncd.connector import Connector

SPECS = Path(__file__).resolve().parents[2] / "connectors.d"


def shipped(name: str, obj: str, *, secrets: dict[str, str], edit: Mapping[str, str] | None = None,
            scratch: Path | None = None, **settings: Any) -> Connector:
    """A connector for connectors.d/NAME.yaml's object, the secrets given as syncd passes them.

    ``edit`` {old: new}, with a ``scratch`` directory: the spec with the one
    occurrence of each *old* replaced, e.g. a vendor's 10,000-result cap made
    small enough for a quick test; everything else is the shipped spec."""
    given = {**settings, **{key: Secret(value) for key, value in secrets.items()}}
    path = SPECS / f"{name}.yaml"
    if edit:
        assert scratch is not None, "an edited spec is written to a scratch directory"
        text = path.read_text(encoding="utf-8")
        for old, new in edit.items():
            assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
            text = text.replace(old, new)
        path = scratch / path.name
        path.write_text(text, encoding="utf-8")
    return Connector(load_connector_file(path), obj, given)


def check(config_dir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the real ``syncd check`` (an empty config dir: only the shipped specs)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    return subprocess.run(
        [sys.executable, "-m", "syncd", "check", "-c", str(config_dir), *args, "--format", "json"],
        capture_output=True, text=True, env={**clean, **env}, cwd=config_dir, timeout=60,
    )
