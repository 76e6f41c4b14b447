"""An account's key: one per app account, and safe to show (status, metrics, the status page)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from syncd.config import load_config
from syncd.connector import Connector, account_key
from syncd.sampleapp import sample_integration, write_sample_config

SHIPPED = Path(__file__).parents[2] / "connectors.d" / "sampleapp.yaml"


@pytest.mark.anyio
async def test_a_secret_in_the_base_url_is_not_in_the_key(tmp_path: Path) -> None:
    # A spec may build its host from a secret setting (an account-specific
    # subdomain keyed by the API key): the key names the host without it.
    spec = yaml.safe_load(SHIPPED.read_text())
    spec["base_url"] = "{{ settings.url }}/{{ settings.token }}"
    write_sample_config(tmp_path, sample_integration("http://127.0.0.1:1", "http://127.0.0.1:2", name="pair"))
    (tmp_path / "connectors.d").mkdir(exist_ok=True)
    (tmp_path / "connectors.d" / "sampleapp.yaml").write_text(yaml.safe_dump(spec))
    config = load_config(tmp_path, environ={"LEFT_TOKEN": "left-secret-9", "RIGHT_TOKEN": "right-secret-7"})
    left, right = config.integrations["pair"].left, config.integrations["pair"].right
    spec_ = config.connectors["sampleapp"]

    key = account_key(spec_, left.settings)

    assert "left-secret-9" not in key and key.startswith("sampleapp@http://127.0.0.1:1/***#")
    assert account_key(spec_, right.settings) != key  # another account: another digest
    async with Connector(spec_, "contacts", left.settings) as connector:  # the key a connector counts under
        assert connector.account.key == key
        assert connector.base_url.endswith("/left-secret-9")  # requests still go where the spec says
