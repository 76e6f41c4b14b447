"""The one statement that counts a request against an account's API usage.

Both stores run it (:meth:`StateStore.add_api_usage`): the window rolls
over and the count goes up in the same statement, so two daemons counting
the same account at the same moment both land (an upsert takes the row's
lock; neither reads a count the other is about to replace). Its rule is
:meth:`syncd.connector.Usage.count`'s, in SQL: a window that ended at or
before *now* starts again from the caller's window with a count of one and
no API reading (the API's limit is kept: it rarely changes); else the count
goes up by one; what the answer's quota headers said replaces what was kept.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["usage_params", "usage_upsert"]


def usage_upsert(param: Callable[[str], str]) -> str:
    """The statement, with each named parameter spelled by *param* (``%(x)s``
    for psycopg, ``:x`` for sqlite3). Parameters: account, connector, start,
    end (the window holding now, its end already moved to the API's reset),
    now, api_used, api_limit, moved (the API's reset when it named one)."""
    p = param
    rolled = f"u.window_end <= {p('now')}"
    return f"""INSERT INTO api_usage AS u (account, connector, window_start, window_end, used, api_used, api_limit)
        VALUES ({p('account')}, {p('connector')}, {p('start')}, {p('end')}, 1, {p('api_used')}, {p('api_limit')})
        ON CONFLICT (account) DO UPDATE SET
            connector = excluded.connector,
            window_start = CASE WHEN {rolled} THEN excluded.window_start ELSE u.window_start END,
            window_end = CASE WHEN {rolled} OR {p('moved')} IS NOT NULL THEN excluded.window_end
                              ELSE u.window_end END,
            used = CASE WHEN {rolled} THEN 1 ELSE u.used + 1 END,
            api_used = CASE WHEN {rolled} THEN excluded.api_used ELSE coalesce(excluded.api_used, u.api_used) END,
            api_limit = coalesce(excluded.api_limit, u.api_limit)
        RETURNING account, connector, window_start, window_end, used, api_used, api_limit"""


def usage_params(account: str, connector: str, window: tuple[float, float], now: float,
                 api_used: int | None, api_limit: int | None, resets_at: float | None) -> dict[str, object]:
    """The statement's parameters: a reset the API named moves the window's end only when it is ahead."""
    moved = resets_at if resets_at is not None and resets_at > now else None
    return {"account": account, "connector": connector, "start": window[0],
            "end": moved if moved is not None else window[1], "now": now, "api_used": api_used,
            "api_limit": api_limit, "moved": moved}
