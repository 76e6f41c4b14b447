"""The daemon's long-lived objects out of the garbage collector's way.

After start-up and after each reload, nearly everything alive is config
(typed specs, compiled expressions, plans) that lives until the next
reload; the collector would otherwise walk it again at each collection of
the oldest generation, while at rest a cycle's own objects die young.
``gc.freeze()`` moves what is alive now to the permanent generation, which
no collection visits.

Before freezing, what a reload left behind (the previous config, frozen
last time) is unfrozen and collected: frozen garbage in a reference cycle
would never be freed, and a daemon reloaded every few minutes for months
would grow.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_long_lived"]


def freeze_long_lived() -> None:
    """Collect, then freeze what is alive (a full collection: once at start, once a reload)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
