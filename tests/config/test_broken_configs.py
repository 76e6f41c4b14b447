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

Every case runs the real command in a subprocess.  Starting one Python per
case would cost about half a second each, so the cases run as a batch: one
``python`` process runs ``syncd``'s ``__main__`` (exactly what ``python -m
syncd`` runs) once per case with ``sys.argv = ["syncd", "validate", "-c",
DIR]``, capturing stdout, stderr and the exit status of each.  A few cases
also run as their own ``python -m syncd validate`` process, to show that
the batch sees what a user sees.

After an intended change of wording, regenerate the files with
``SYNCD_UPDATE_EXPECTED=1 pytest tests/config/test_broken_configs.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
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


# Runs `python -m syncd validate -c DIR` for each DIR given, in one process,
# and prints {DIR: {"code", "stdout", "stderr"}} as JSON.
_BATCH = """
import contextlib, io, json, runpy, sys
results = {}
for directory in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["syncd", "validate", "-c", directory]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module("syncd", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    results[directory] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
sys.stdout.write(json.dumps(results))
"""


def _relative(case: str) -> str:
    return (CORPUS.relative_to(REPO) / case).as_posix()


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    batch = subprocess.run(
        [sys.executable, "-c", _BATCH, *map(_relative, CASES)],
        cwd=REPO, env=_environment(), capture_output=True, text=True, encoding="utf-8",
        timeout=120,
    )
    assert batch.returncode == 0, batch.stderr
    raw = json.loads(batch.stdout)
    return {case: Result(**raw[_relative(case)]) for case in CASES}


def test_the_batch_sees_what_the_command_line_sees(results: dict[str, Result]) -> None:
    for case in (CASES[0], "31-secret-given-literally", CASES[-1]):
        alone = subprocess.run(
            [sys.executable, "-m", "syncd", "validate", "-c", _relative(case)],
            cwd=REPO, env=_environment(), capture_output=True, text=True, encoding="utf-8",
            timeout=60,
        )
        assert Result(alone.returncode, alone.stdout, alone.stderr) == results[case]


def test_the_corpus_covers_enough_mistakes() -> None:
    assert len(CASES) >= 35
    numbers = [name.split("-", 1)[0] for name in CASES]
    assert len(set(numbers)) == len(numbers), "two cases share a number"


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_the_mistake(case: str, results: dict[str, Result]) -> None:
    result = results[case]
    expected_file = CORPUS / case / "expected.txt"
    if UPDATE:
        expected_file.write_text(result.stdout, encoding="utf-8")
    expected = expected_file.read_text(encoding="utf-8")
    assert result.code == 1, result.stderr
    assert result.stdout.splitlines() == expected.splitlines()
    # A short count on stderr, never a traceback.
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("syncd: ")


def test_no_message_shows_a_secret_value(results: dict[str, Result]) -> None:
    # The literal secret of 31-secret-given-literally must not be echoed.
    assert "abc123" not in results["31-secret-given-literally"].stdout
