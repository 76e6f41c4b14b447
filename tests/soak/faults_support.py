"""What the faults and empty-read soak suites share: the e2e tests' pair of
sample apps and their real ``syncd run``, reused as they are.

The e2e helpers are modules of tests/e2e (imported by their bare names
there, as pytest puts that folder on ``sys.path``); a soak test collected
alone has it put there here, so that both import the same modules.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_E2E = str(Path(__file__).resolve().parents[1] / "e2e")
if _E2E not in sys.path:
    sys.path.insert(0, _E2E)

from daemon_support import Daemon  # noqa: E402
from e2e_support import LEFT_TOKEN, REPO, RIGHT_TOKEN, Pair  # noqa: E402

from syncd.sampleapp import AuthMode, SampleApp  # noqa: E402

__all__ = ["LEFT_TOKEN", "REPO", "RIGHT_TOKEN", "Daemon", "Pair", "errors_of", "make_pair", "running", "soak_seed"]


def soak_seed() -> int:
    """The seed of this run's random faults: ``$SYNCD_SOAK_SEED`` replays one,
    else a new one (printed, and in every failure message that needs it)."""
    given = os.environ.get("SYNCD_SOAK_SEED")
    seed = int(given) if given else random.SystemRandom().randrange(1 << 32)
    print(f"soak seed {seed} (replay: SYNCD_SOAK_SEED={seed})")
    return seed


def make_pair(sample_app: Callable[..., SampleApp], config: Path, *, left_n: int, right_n: int,
              **app: Any) -> Pair:
    """Two fresh sample apps (the e2e tests' tokens and seeds) joined in *config*;
    *app*: more of ``SampleApp``'s arguments, for both."""
    left = sample_app(n=left_n, auth=AuthMode.BEARER, token=LEFT_TOKEN, seed=1, **app)
    right = sample_app(n=right_n, auth=AuthMode.BEARER, token=RIGHT_TOKEN, seed=2, **app)
    return Pair(left, right, config)


@contextmanager
def running(p: Pair, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """The real ``syncd run`` on the pair's config (*env*: more environment),
    killed at the end if still running; its log must not hold a secret."""
    d = Daemon(p, env=env)
    try:
        yield d.ready()
    finally:
        d.close()
        log = d.text()
        assert LEFT_TOKEN not in log and RIGHT_TOKEN not in log, f"a secret is in {d.log_path}"


def errors_of(d: Daemon, name: str = "pair") -> list[dict[str, Any]]:
    """``syncd errors NAME --json``, asked of the running daemon."""
    result = d.cli("errors", name, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    errors: list[dict[str, Any]] = json.loads(result.stdout)
    return errors
