"""What the tutorial's tests share: the real ``syncd`` on a config directory,
and the tutorial's text taken apart (its YAML and bash blocks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "writing-a-connector.md"


def tutorial_part() -> str:
    """The tutorial itself: the page up to its reference sections."""
    return TUTORIAL.read_text().split("\n## Beyond the basics\n", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def whole_spec() -> str:
    """The block under "The whole spec", as a user would copy it."""
    [block] = blocks(tutorial_part().split("\n## The whole spec\n", 1)[1], "yaml")
    return block


def syncd(*args: str, cwd: Path, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real ``syncd`` in a child process, in ``cwd`` (where the tutorial's ``dev`` directory is)."""
    full_env = {**os.environ, **env}
    full_env.pop("SYNCD_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout)


def is_part_of(part: Any, whole: Any) -> bool:
    """Whether every key and value of ``part`` is in ``whole`` (maps compared
    key by key; anything else must be equal)."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and is_part_of(v, whole[k]) for k, v in part.items())
    return bool(part == whole)
