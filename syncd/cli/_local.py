"""What the commands that work on this machine's config and state share.

:func:`load` loads the config, or says why not and gives the exit code.
A command that only reads the state store (``status``, ``errors`` and
``conflicts`` listing, ``bulk status``) loads it with ``secrets=False``:
an operator's shell rarely has the daemon's credentials (systemd gives
them to the service alone), and reading what the store kept needs none.
:func:`existing_store` opens the state store only if there is one: reading
must never create an empty one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from syncd.cli._common import EXIT_CONFIG, EXIT_USAGE, error
from syncd.config import Config, ConfigError, load_config
from syncd.state import StateStore, open_state

__all__ = ["existing_store", "integration_config", "load"]


def load(args: argparse.Namespace, *, secrets: bool = True) -> Config | int:
    """The config of ``-c DIR``, or the exit code after saying why there is
    none. *secrets* False: settings whose secret cannot be resolved here are
    no error (nothing will use them)."""
    try:
        return load_config(args.config_dir, defer_secrets=not secrets)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except (FileNotFoundError, NotADirectoryError) as e:
        error(str(e))
        return EXIT_USAGE


def integration_config(args: argparse.Namespace, *, secrets: bool = True) -> Config | int:
    """:func:`load`, and ``args.integration`` must be one of its integrations
    (else exit 2, naming the ones there are)."""
    config = load(args, secrets=secrets)
    if isinstance(config, int):
        return config
    if args.integration not in config.integrations:
        error(f"no integration {args.integration!r} in {config.shown_directory or config.directory} "
              f"(configured: {', '.join(sorted(config.integrations)) or 'none'})")
        return EXIT_USAGE
    return config


@contextmanager
def existing_store(config: Config) -> Iterator[StateStore | None]:
    """The state store, or None when there is none yet (nothing synced)."""
    if config.daemon.state_url is None and not config.daemon.state_path.exists():
        yield None
        return
    with open_state(config.daemon.state_target()) as store:
        yield store
