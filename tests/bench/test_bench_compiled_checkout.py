"""bench/figures.compile_checkout: the checkout measured against a baseline
install is byte-compiled as the install is, even where PYTHONDONTWRITEBYTECODE
is set (otherwise each bench process compiled its modules while measured)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_module_of_the_checkout_has_a_current_pyc_after_compile_checkout() -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", "import figures; figures.compile_checkout()"],
                   cwd=REPO / "bench", env={**env, "PYTHONPATH": str(REPO / "bench")}, check=True, timeout=120)
    stale = []
    for source in [*(REPO / "syncd").rglob("*.py"), *(REPO / "bench").glob("*.py")]:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
            stale.append(str(source.relative_to(REPO)))
    assert stale == []
