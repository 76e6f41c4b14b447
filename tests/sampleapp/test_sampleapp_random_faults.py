"""The sample app's random faults: a seeded share of requests fails, in a mix of ways."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from syncd.sampleapp import SampleApp
from syncd.sampleapp._random_faults import KINDS, RandomFaults

AUTH = {"Authorization": "Bearer sample-token"}


def outcome(client: httpx.Client, url: str) -> str:
    """What one GET of the contacts met: a status, "close", "malformed" or "ok"."""
    try:
        resp = client.get(url)
    except httpx.TransportError:
        return "close"
    if resp.status_code != 200:
        return str(resp.status_code)
    try:
        json.loads(resp.content)
    except ValueError:
        return "malformed"
    return "ok"


def expected(seed: int, rate: float, n: int) -> list[str]:
    """The outcomes ``n`` requests in a row meet, replayed from the seed
    (a slow answer is a real one, only late: "ok")."""
    chance = RandomFaults(rate, seed=seed)
    kinds = [chance.draw("GET", "/contacts") for _ in range(n)]
    return ["ok" if kind in (None, "slow") else kind for kind in kinds]


def test_the_share_and_the_mix_follow_the_rate_and_the_seed_replays_them(
        sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3, auth="bearer", token="sample-token")
    chance = app.faults.randomly(0.3, seed=11, slow=0.05)
    with httpx.Client(base_url=app.url, headers=AUTH, timeout=5) as client:
        seen = [outcome(client, "/cursor/contacts") for _ in range(400)]
    assert seen == expected(11, 0.3, 400)  # one request at a time: the seed decides all
    assert 0.2 < sum(chance.drawn.values()) / 400 < 0.4, chance
    assert set(chance.drawn) == set(KINDS), chance  # every kind turns up in some 120 faults
    late = [r for r in app.requests.all() if r.duration >= 0.05 and r.status == 200]
    assert len(late) >= chance.drawn["slow"] > 0
    assert len([r for r in app.requests.all() if r.status is None]) == chance.drawn["close"]
    assert Counter(seen)["429"] == chance.drawn["429"]


def test_a_429_says_when_to_come_back_and_clear_ends_the_weather(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3, auth="bearer", token="sample-token")
    app.faults.randomly(1.0, seed=3, mix={"429": 1}, retry_after="2")
    with httpx.Client(base_url=app.url, headers=AUTH, timeout=5) as client:
        resp = client.get("/cursor/contacts")
        assert (resp.status_code, resp.headers["Retry-After"]) == (429, "2")
        assert client.get("/_health").status_code == 200  # the health check never fails
        app.faults.clear()
        assert all(outcome(client, "/cursor/contacts") == "ok" for _ in range(20))


def test_a_queued_fault_goes_first_and_the_filters_pick_the_requests(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3, auth="bearer", token="sample-token")
    app.faults.randomly(1.0, seed=1, mix={"500": 1}, method="POST", path_prefix="/contacts")
    queued = app.faults.add(status=418, method="POST", path_prefix="/contacts")
    with httpx.Client(base_url=app.url, headers=AUTH, timeout=5) as client:
        new = {"email": "ada@example.com", "first_name": "Ada"}
        assert client.post("/contacts", json=new).status_code == 418
        assert client.post("/contacts", json=new).status_code == 500
        assert outcome(client, "/cursor/contacts") == "ok"  # a GET: not this weather's
    assert queued.hits == 1


@pytest.mark.parametrize("bad, message", [
    ({"rate": 1.5}, "between 0 and 1"),
    ({"mix": {"418": 1}}, "unknown fault kinds ['418']"),
    ({"mix": {"500": 0}}, "one must be more than 0"),
    ({"slow": 0}, "more than 0"),
])
def test_a_wrong_setting_is_refused_with_what_is_wrong(bad: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"rate": 0.3, "seed": 0, **bad}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        RandomFaults(**args)  # type: ignore[arg-type]


def test_the_command_line_fails_the_share_asked_for(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    with subprocess.Popen([sys.executable, "-m", "syncd.sampleapp", "--n", "2", "--port", "0", "--quiet",
                           "--port-file", str(port_file), "--fault-rate", "1", "--fault-seed", "5"],
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            killer = threading.Timer(10, proc.kill)  # an app that hangs is killed, which ends the read
            killer.start()
            try:
                listening = proc.stderr.readline()
            finally:
                killer.cancel()
            assert "100% of requests fail (seed 5)" in listening, listening
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            with httpx.Client(base_url=url, headers=AUTH, timeout=5) as client:
                results = [outcome(client, "/all/contacts") for _ in range(8)]
            assert results == expected(5, 1.0, 8)  # every request met a fault; a slow one still answers
            assert results.count("ok") < 8
        finally:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    bad = subprocess.run([sys.executable, "-m", "syncd.sampleapp", "--fault-rate", "2"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "2: must be between 0 and 1" in bad.stderr


def test_a_body_fault_answers_200_with_it_and_does_not_act(sample_app: Callable[..., SampleApp]) -> None:
    app = sample_app(n=3, auth="bearer", token="sample-token")
    app.faults.add(body={"results": []}, path_prefix="/cursor/contacts")
    app.faults.add(body=b"", method="DELETE", path_prefix="/contacts/")
    with httpx.Client(base_url=app.url, headers=AUTH, timeout=5) as client:
        assert client.get("/cursor/contacts").json() == {"results": []}
        assert len(client.get("/cursor/contacts").json()["results"]) == 3  # once only
        gone = client.delete("/contacts/1000001")
        assert (gone.status_code, gone.content) == (200, b"")
    assert app.store.get("1000001") is not None  # the request was not acted on
    with pytest.raises(ValueError, match="at most one of status, malformed, close, body"):
        app.faults.add(body=b"", status=500)
