"""The deletion guard: may the records a full read missed be taken as deleted?

Usually yes. But a side that reads no records at all, or loses more than
``max_delete_percent`` of them since its last full read, is more often
broken than emptied: a wrong ``records:`` path, a filter, an API answering
an empty list during an outage. Then the deletions are held back: none of
the missing records is taken as deleted (so nothing is carried over), and
the next cycle reads the side in full and decides again. The guard holds
back deletions only; the caller goes on with the rest of the cycle.

An empty read is held back at any limit, 100 included (see
``docs/decisions.md``): its advice is never to raise the limit.

The limit is compared exactly (no float rounding decides a boundary) and
the message's numbers agree with it: a share is never printed equal to,
or below, the limit it is said to exceed, and the value it advises lets
those records through.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from syncd.config import Integration
from syncd.state import Side

# Decimals a share may be shown with before it shows as more than its limit;
# a limit written with more decimals than this is not one a person writes.
_MAX_DECIMALS = 30


def held_back(integration: Integration, side: Side, *, gone: int, before: int, read: int) -> str | None:
    """Why the *gone* records of *side* must not be taken as deleted, and
    what to do; None when they may.

    *before* is how many records (not deleted) the side had before this
    full read, *read* how many it read.
    """
    if gone == 0:
        return None
    other = "right" if side == "left" else "left"
    deletions = integration.deletions
    carried = deletions is not None and deletions.side in (side, "both")
    reset = (f"run `syncd reset {integration.name} --read-only`: it takes both sides as they are now, "
             f"as in step, and writes nothing")
    if read == 0:
        what = (f"it read no records at all, though it had {before} at its last full read. syncd never "
                f"takes a side that reads empty as emptied, at any limit, 100 included: a wrong "
                f"`records:` path, a filter or an outage answering an empty list would read the same.")
        advice = (f"If the {side} app really is empty now, {reset}"
                  f"{f' (the {other} keeps its records)' if carried else ''}.")
    else:
        limit = Decimal(repr(integration.max_delete_percent))  # repr: the number as written in the YAML
        share = Fraction(100 * gone, before)
        if share <= Fraction(limit):
            return None
        if deletions is not None:
            named = f"deletions.max_delete_percent ({_plain(limit)} %)"
            # ceil: the share is at most that, so these records pass the check
            advice = (f"If they really were deleted, set deletions.max_delete_percent to {math.ceil(share)} "
                      f"or more.")
        else:
            # No limit to raise: declaring `deletions:` would also carry them over.
            named = f"the limit of {_plain(limit)} % (the default; `deletions:` is not declared)"
            advice = f"If they really were deleted, {reset}."
        what = (f"it lost {gone} of its {before} records ({_above(share, limit)} %) since its last full "
                f"read, more than {named}.")
    then = (f"They are not taken as deleted, so nothing is carried over to the {other}; " if carried
            else "They are not taken as deleted; ")
    return (f"deletions held back on the {side}: {what} {then}the next cycle reads the {side} in full and "
            f"checks again. {advice}")


def _plain(number: Decimal) -> str:
    """10 as ``10``, 2.5 as ``2.5``: the limit as a person wrote it."""
    return format(number.normalize(), "f")


def _above(share: Fraction, limit: Decimal) -> str:
    """*share* (more than *limit*) with the fewest decimals, rounded down,
    that still show it more than *limit*: 1 of 3 is "33.3" (not "33", which
    a limit of 33 would contradict), 1 of 4 is "25"."""
    for decimals in range(0 if share.denominator == 1 else 1, _MAX_DECIMALS + 1):
        shown = Decimal(math.floor(share * 10 ** decimals)).scaleb(-decimals)
        if shown > limit:
            return format(shown, "f")
    return repr(float(share))
