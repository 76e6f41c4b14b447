"""The daemon's long-lived objects frozen out of the collector's way
(``freeze_long_lived``, after start-up and after each reload), and what a
reload leaves behind still freed."""

from __future__ import annotations

import gc
import weakref

from syncd.daemon._long_lived import freeze_long_lived


class _Config:
    """Stands for a config: objects in a reference cycle, as compiled specs may be."""

    def __init__(self) -> None:
        self.me = self


def test_what_is_alive_is_frozen_and_a_dropped_config_is_still_freed() -> None:
    try:
        old = _Config()
        freeze_long_lived()  # start-up: the config frozen
        assert gc.get_freeze_count() > 0
        gone = weakref.ref(old)
        del old  # a reload drops it; its cycle keeps it alive until a collection
        gc.collect()
        assert gone() is not None  # frozen: no collection sees it (what freezing is for)
        freeze_long_lived()  # the reload's: unfreeze, collect, freeze again
        assert gone() is None  # freed, not frozen for good
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test process as it was
