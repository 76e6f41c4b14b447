"""End-to-end runs against the vendor fakes (tests/connector_specs/, tests/contracts/).

Importing this module makes those fakes importable by module name
(``from fake_birdsend import FakeBirdSend``), as their own tests import them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
for _folder in ("connector_specs", "contracts"):
    if str(TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(TESTS / _folder))

WRITES = ("POST", "PATCH", "PUT", "DELETE")


def syncd_once(config: Path, env: Mapping[str, str], secrets: Iterable[str]) -> dict[str, Any]:
    """The real ``syncd once --json`` on *config*, with *env* added (the
    secrets its settings reference); its one integration's summary. None of
    *secrets* may appear in what it prints."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    result = subprocess.run([sys.executable, "-m", "syncd", "once", "--json", "-c", str(config)],
                            capture_output=True, text=True, env={**clean, **env}, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for secret in secrets:
        assert secret not in result.stdout + result.stderr
    [summary] = json.loads(result.stdout)
    return summary
