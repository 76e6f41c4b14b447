"""End-to-end helpers: two sample apps joined by an integration, and the real ``syncd``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.sampleapp import AuthMode, SampleApp

REPO = Path(__file__).resolve().parents[2]
LEFT_TOKEN = "left-secret-token-0123"
RIGHT_TOKEN = "right-secret-token-4567"

FIELDS = """\
  - {left: email, right: email}
  - {left: first_name, right: first_name}
  - {left: last_name, right: last_name}
  - {left: phone, right: phone, direction: left_to_right}
"""


@dataclass
class Pair:
    """Two fake apps joined by one integration in a config directory."""

    left: SampleApp
    right: SampleApp
    config: Path
    name: str = "pair"

    def write(self, extra: str = "", fields: str = FIELDS, create: str = "both",
              conflict: str = "newest_wins") -> None:
        (self.config / "integrations.d").mkdir(parents=True, exist_ok=True)
        (self.config / "syncd.yaml").write_text("state: {path: state/syncd.db}\n")
        (self.config / "integrations.d" / "pair.yaml").write_text(f"""\
integration: {self.name}
left:
  connector: sampleapp
  object: contacts
  settings: {{url: "{self.left.url}", token: "${{env:LEFT_TOKEN}}"}}
right:
  connector: sampleapp
  object: contacts
  settings: {{url: "{self.right.url}", token: "${{env:RIGHT_TOKEN}}"}}
match: {{left: email, right: email}}
create: {create}
conflict: {conflict}
fields:
{fields}{extra}""")

    def syncd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LEFT_TOKEN": LEFT_TOKEN, "RIGHT_TOKEN": RIGHT_TOKEN}
        env.pop("SYNCD_CONFIG", None)
        return subprocess.run([sys.executable, "-m", "syncd", *args, "-c", str(self.config)],
                              capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)

    def once(self, *args: str) -> dict[str, Any]:
        """``syncd once --json``; the one integration's summary."""
        result = self.syncd("once", "--json", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        [summary] = json.loads(result.stdout)
        assert LEFT_TOKEN not in result.stdout + result.stderr
        assert RIGHT_TOKEN not in result.stdout + result.stderr
        return summary


def emails(app: SampleApp) -> list[str]:
    return sorted(c["email"].lower() for c in app.store.all() if c.get("email"))


def by_email(app: SampleApp) -> dict[str, dict[str, Any]]:
    return {c["email"].lower(): c for c in app.store.all() if c.get("email")}


