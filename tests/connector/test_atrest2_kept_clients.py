"""HTTP clients kept across cycles (the daemon's registry, ``keep_connections``):
a connector of the same spec and settings takes the client the last one
left, against a real sample app on 127.0.0.1.

Each connector here stands for one cycle's: made, used, closed. What a
cycle had of its own before the client was kept (the write guard, the
cookie jar, a refreshed token) must still be its own.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connector import AccountRegistry
from syncd.connector._kept_clients import parsed_url
from test_atrest_kept_connections import ids, keeping

pytestmark = pytest.mark.anyio


async def test_the_next_cycle_takes_the_client_the_last_one_left(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec()
    accounts = keeping()
    clients = []
    for _cycle in range(3):
        async with connect(spec, app, accounts=accounts) as c:
            assert await c.get(ids(app)[0]) is not None
            clients.append(c.client)
    assert clients[0] is clients[1] is clients[2]
    assert not clients[0].is_closed  # closing the connector gave it back, open
    await accounts.close_connections()


async def test_cycles_running_at_once_never_share_a_client(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=3)
    spec = make_spec()
    accounts = keeping()
    async with connect(spec, app, accounts=accounts) as one, connect(spec, app, accounts=accounts) as two:
        assert one.client is not two.client
        assert await one.get(ids(app)[0]) is not None and await two.get(ids(app)[1]) is not None
    async with connect(spec, app, accounts=accounts) as three:
        assert three.client in (one.client, two.client)  # both kept, one taken
    await accounts.close_connections()


async def test_closing_a_connector_twice_gives_its_client_back_once(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    spec = make_spec()
    accounts = keeping()
    c = connect(spec, app, accounts=accounts)
    await c.aclose()
    await c.aclose()
    assert accounts.clients is not None and len(accounts.clients) == 1
    async with connect(spec, app, accounts=accounts) as again, connect(spec, app, accounts=accounts) as other:
        assert again.client is c.client and other.client is not c.client
    await accounts.close_connections()


async def test_a_changed_spec_or_other_settings_get_a_new_client(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    """A reload loads the spec again: another object, maybe other headers,
    auth or timeouts. Its connectors build their own client; so do other
    settings of the same account."""
    app = sample_app(n=1)
    spec = make_spec()
    accounts = keeping()
    async with connect(spec, app, accounts=accounts) as before:
        assert await before.get(ids(app)[0]) is not None
    async with connect(spec, app, accounts=accounts, settings={"list": "other"}) as other:
        assert other.client is not before.client
    async with connect(make_spec(headers={"X-Changed": "yes"}), app, accounts=accounts) as after:
        assert after.client is not before.client
        assert await after.get(ids(app)[0]) is not None
    assert app.requests.matching("GET")[-1].headers.get("x-changed") == "yes"
    await accounts.close_connections()


async def test_a_reload_forgets_the_idle_clients(sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    spec = make_spec()
    accounts = keeping()
    async with connect(spec, app, accounts=accounts) as one:
        pass
    accounts.close_idle_connections()
    async with connect(spec, app, accounts=accounts) as two:
        assert two.client is not one.client
    await accounts.close_connections()


async def test_without_keeping_each_connector_builds_and_closes_its_own_client(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    app = sample_app(n=1)
    async with connect(make_spec(), app, accounts=AccountRegistry()) as c:
        assert await c.get(ids(app)[0]) is not None
    assert c.client.is_closed


async def test_the_write_guard_of_each_cycle_is_asked_on_a_kept_client(
        sample_app: Any, make_spec: Any, connect: Any) -> None:
    """The guard travels with each write request, not in the client: the
    second cycle's guard (a lease lost) stops its write on the same client."""
    app = sample_app(n=0)
    spec = make_spec()
    accounts = keeping()
    asked: list[tuple[int, str]] = []

    class Refused(Exception):
        pass

    def guard(cycle: int, allow: bool) -> Any:
        def ask(label: str) -> None:
            asked.append((cycle, label))
            if not allow:
                raise Refused
        return ask

    async with connect(spec, app, accounts=accounts, write_guard=guard(1, True)) as first:
        await first.create({"email": "a@example.com"})
        assert await first.get(ids(app)[0]) is not None  # a read asks no guard
    async with connect(spec, app, accounts=accounts, write_guard=guard(2, False)) as second:
        assert second.client is first.client
        with pytest.raises(Refused):
            await second.create({"email": "b@example.com"})
    async with connect(spec, app, accounts=accounts) as third:  # no guard (a command): nothing asked
        assert third.client is first.client
        await third.create({"email": "c@example.com"})
    assert asked == [(1, "testapp.contacts.create"), (2, "testapp.contacts.create")]
    assert [r.body["email"] for r in app.requests.matching("POST")] == ["a@example.com", "c@example.com"]
    await accounts.close_connections()


def test_a_parsed_url_is_the_one_httpx_builds() -> None:
    import httpx

    client = httpx.Client()
    for url, params in [("http://h/p", None), ("http://h/p", {"a": 1, "b": "x y/z"}),
                        ("http://h/p?q=1", {"a": "2"}), ("http://h/p", {"a": [1, 2]}),
                        ("http://h/p%20q", {"é": "ü"}), ("http://h/p", {"a": True}), ("http://h/p", {"a": 1}),
                        ("http://h/p", {"a": 1.0}), ("http://h/p", {"a": None})]:
        assert parsed_url(url, params) == client.build_request("GET", url, params=params).url
    assert parsed_url("http://h/p", {"a": 1}) is parsed_url("http://h/p", {"a": 1})  # kept
