"""The broken-config corpus: what ``syncd validate`` says about each mistake.

Each ``tests/config/broken/NN-short-name/`` is a small config tree with one
kind of mistake (sometimes two) and an ``expected.txt`` holding the exact
stdout of::

    syncd validate -c tests/config/broken/NN-short-name

run from the repository root.  The DIR prefix is therefore not normalised
at all: FILE in ``expected.txt`` reads exactly as a user running that
command from the root would see it.  The corpus is self-contained: secret
references use ``${env:NAME:-default}`` (or are the mistake under test), and
the command runs with ``CREDENTIALS_DIRECTORY`` and ``SYNCD_CONFIG``
removed from its environment.  Connector names (``acme_*``) are chosen so
that the specs shipped with syncd never change a message.

Every case runs the real command, ``python -m syncd validate``, as its own
process; the processes run concurrently (one per CPU) in a module fixture.
After an intended change of wording, regenerate the files with
``SYNCD_UPDATE_EXPECTED=1 pytest tests/config/test_broken_configs.py`` and
review the diff.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "broken"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
UPDATE = os.environ.get("SYNCD_UPDATE_EXPECTED") == "1"


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CREDENTIALS_DIRECTORY", "SYNCD_CONFIG")
           and not k.startswith(("SYNCD_TEST_", "ACME_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def _validate(case: str) -> subprocess.CompletedProcess[str]:
    relative = CORPUS.relative_to(REPO) / case
    return subprocess.run(
        [sys.executable, "-m", "syncd", "validate", "-c", relative.as_posix()],
        cwd=REPO, env=_environment(), capture_output=True, text=True, encoding="utf-8",
        timeout=60,
    )


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(CASES, pool.map(_validate, CASES)))


def test_the_corpus_covers_enough_mistakes() -> None:
    assert len(CASES) >= 35
    numbers = [name.split("-", 1)[0] for name in CASES]
    assert len(set(numbers)) == len(numbers), "two cases share a number"


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_the_mistake(
    case: str, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = results[case]
    expected_file = CORPUS / case / "expected.txt"
    if UPDATE:
        expected_file.write_text(result.stdout, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == expected.splitlines()
    # A short count on stderr, never a traceback.
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("syncd: ")


def test_no_message_shows_a_secret_value(results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    # The literal secret of 31-secret-given-literally must not be echoed.
    assert "abc123" not in results["31-secret-given-literally"].stdout
