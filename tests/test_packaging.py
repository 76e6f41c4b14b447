"""The wheel carries what an installed syncd needs beyond its code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_schemas_and_connector_specs(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("syncd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("syncd", "connector", "integration"):
        assert f"syncd/_data/schemas/{kind}.schema.json" in names
    shipped = {p.name for p in (REPO / "connectors.d").glob("*.yaml")}
    assert shipped and {f"syncd/_data/connectors.d/{n}" for n in shipped} <= names
    assert "syncd/sampleapp/__main__.py" in names
    # the status page's template and stylesheet, read with importlib.resources
    assert {"syncd/daemon/status.html", "syncd/daemon/status.css"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "syncd = syncd.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
