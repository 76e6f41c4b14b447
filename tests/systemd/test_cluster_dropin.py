"""systemd/syncd-cluster.conf.example: a valid drop-in for the shipped unit, as docs/cluster.md uses it."""

from __future__ import annotations

import re
from pathlib import Path

from test_unit import _install, _unit_text, _verify

REPO = Path(__file__).resolve().parents[2]
DROPIN = REPO / "systemd" / "syncd-cluster.conf.example"


def test_the_cluster_dropin_is_valid_with_the_unit(tmp_path: Path) -> None:
    assert _verify(_install(tmp_path, _unit_text(), {"cluster.conf": DROPIN.read_text()})) == []


def test_the_cluster_dropin_loads_the_credentials_the_doc_references() -> None:
    loaded = re.findall(r"^LoadCredential=(\S+)$", DROPIN.read_text(), re.M)
    assert loaded == ["syncd-db-url", "syncd-token-key"]
    doc = (REPO / "docs" / "cluster.md").read_text()
    assert "${cred:syncd-db-url}" in doc and "/etc/credstore/syncd-db-url" in doc
    assert "systemd/syncd-cluster.conf.example" in doc
    # the header's install line puts it where systemd reads drop-ins of syncd.service
    assert "/etc/systemd/system/syncd.service.d/cluster.conf" in DROPIN.read_text()
