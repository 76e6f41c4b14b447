"""examples/kubernetes/ and docs/cluster.md: valid, consistent, and true to what syncd does.

The manifests are checked against the Kubernetes API's own schemas
(kubernetes-validate, strict: an unknown key is an error), against each
other (the names the Deployment refers to exist in the Secret and the
ConfigMap), and against syncd: the probe paths are the routes syncd's
metrics listener serves (read from syncd/daemon/_web.py's route table), the
ports are those of the ConfigMap's syncd.yaml, the config passes `syncd
validate` with the Secret's values in the environment, and the daemon runs
the way the Deployment runs it (the ConfigMap laid out as the kubelet lays
it out, the control socket on an emptyDir-like folder, a real PostgreSQL).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import kubernetes_validate
import pytest
import yaml
from watchfiles import Change

from syncd.daemon import STOP_TIMEOUT
from syncd.daemon._paths import ControlPathError, control_socket, prepare_socket_dir
from syncd.daemon._watch import config_filter
from syncd.daemon._web import WebServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "kubernetes"
DOC = REPO / "docs" / "cluster.md"
FILES = ("deployment.yaml", "secret.example.yaml", "configmap.yaml")
WAIT = 60.0  # seconds: how long to wait for a daemon to come up or go (a bound, never the expectation)

Manifest = dict[str, Any]


# --------------------------------------------------------------------------- the manifests


def _manifests() -> dict[str, list[Manifest]]:
    return {name: [d for d in yaml.safe_load_all((EXAMPLES / name).read_text()) if d is not None]
            for name in FILES}


def _one(kind: str) -> Manifest:
    found = [d for docs in _manifests().values() for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in examples/kubernetes, found {len(found)}"
    return found[0]


def _container() -> Manifest:
    containers = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Manifest = containers[0]
    return container


def _configmap_files() -> dict[str, str]:
    """The config directory as the Deployment's volume lays it out: path -> text."""
    configmap = _one("ConfigMap")
    volume = next(v for v in _one("Deployment")["spec"]["template"]["spec"]["volumes"] if "configMap" in v)
    return {item["path"]: configmap["data"][item["key"]] for item in volume["configMap"]["items"]}


def _syncd_yaml() -> Manifest:
    settings: Manifest = yaml.safe_load(_configmap_files()["syncd.yaml"])
    return settings


def _pod_env(database_url: str | None = None) -> dict[str, str]:
    """The container's environment as the Deployment gives it, the Secret's
    values taken from the example Secret (*database_url* instead of its URL)."""
    secret = _one("Secret")
    env: dict[str, str] = {}
    for var in _container()["env"]:
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secret["stringData"][ref["key"]]
    if database_url is not None:
        env[next(v["name"] for v in _container()["env"]
                 if v.get("valueFrom", {}).get("secretKeyRef", {}).get("key") == "database-url")] = database_url
    return env


def _port(listen: str) -> int:
    return int(listen.rpartition(":")[2])


@pytest.mark.parametrize("name", FILES)
def test_every_manifest_is_valid_for_kubernetes(name: str) -> None:
    docs = _manifests()[name]
    assert docs
    version = kubernetes_validate.latest_version()
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"examples/kubernetes/{name}: {doc['kind']} {doc['metadata']['name']}: "
                        f"{str(e).splitlines()[0]}", pytrace=False)


def test_the_deployment_refers_to_the_secret_and_the_configmap() -> None:
    deployment, secret, configmap = _one("Deployment"), _one("Secret"), _one("ConfigMap")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    # every secret reference names the example Secret and one of its keys, and every key is used
    refs = [v["valueFrom"]["secretKeyRef"] for v in _container()["env"] if "valueFrom" in v]
    assert {r["name"] for r in refs} == {secret["metadata"]["name"]}
    assert {r["key"] for r in refs} == set(secret["stringData"])
    # the ConfigMap volume places every key of the ConfigMap, and only those
    volume = next(v for v in pod["volumes"] if "configMap" in v)
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    items = volume["configMap"]["items"]
    assert sorted(i["key"] for i in items) == sorted(configmap["data"])
    for item in items:
        assert item["path"] == "syncd.yaml" or re.fullmatch(r"(integrations|connectors)\.d/[\w.-]+\.ya?ml",
                                                            item["path"]), item
    # mounted where `syncd run -c` looks
    mounts = {m["name"]: m for m in _container()["volumeMounts"]}
    command = _container()["command"]
    assert command[:2] == ["syncd", "run"]
    assert mounts[volume["name"]]["mountPath"] == command[command.index("-c") + 1]
    assert mounts[volume["name"]].get("readOnly") is True
    # the Service reaches the pods' webhook port
    service = _one("Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    assert all(p["targetPort"] in ports for p in service["spec"]["ports"])


def test_the_config_holds_references_not_secrets() -> None:
    secret_values = _one("Secret")["stringData"].values()
    for path, text in _configmap_files().items():
        assert not any(value in text for value in secret_values), path
    used = {m for text in _configmap_files().values() for m in re.findall(r"\$\{env:(\w+)\}", text)}
    assert used == {v["name"] for v in _container()["env"] if "valueFrom" in v}


def test_the_probes_and_ports_are_what_syncd_serves() -> None:
    # The route table of the metrics listener, as syncd builds it.
    with socket.create_server(("127.0.0.1", 0)) as sock:
        server = WebServer(sock, SimpleNamespace(supervisor=None), lambda: True)  # type: ignore[arg-type]
        routes = {route.endpoint.__name__: route.path for route in server._server.config.app.routes}
    container = _container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert live["path"] == routes["healthy"]
    assert ready["path"] == routes["is_ready"]
    settings = _syncd_yaml()
    assert settings["metrics"]["enabled"] is True and settings["webhooks"]["enabled"] is True
    assert ports[live["port"]] == ports[ready["port"]] == _port(settings["metrics"]["listen"])
    assert ports["webhooks"] == _port(settings["webhooks"]["listen"])
    # every interface of the pod: the kubelet probes from outside the container
    assert settings["metrics"]["listen"].startswith(":") and settings["webhooks"]["listen"].startswith(":")


def test_the_grace_period_covers_syncds_stop_timeout() -> None:
    grace = _one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > STOP_TIMEOUT
    doc = DOC.read_text()
    assert f"terminationGracePeriodSeconds: {grace}" in doc
    assert f"stop timeout ({STOP_TIMEOUT:g} s" in doc


def test_the_control_socket_folder_is_inside_an_emptydir(tmp_path: Path) -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = [m["mountPath"] for m in _container()["volumeMounts"] if m["name"] in empty]
    runtime = _pod_env()["RUNTIME_DIRECTORY"]
    assert any(runtime.startswith(m.rstrip("/") + "/") for m in mounts), (runtime, mounts)
    # Why not the emptyDir itself: it is writable by every user, and syncd refuses that.
    volume = tmp_path / "emptydir"
    volume.mkdir()
    volume.chmod(0o1777)
    with pytest.raises(ControlPathError, match="writable by others"):
        prepare_socket_dir(control_socket(tmp_path, None, {"RUNTIME_DIRECTORY": str(volume)}))
    inside = control_socket(tmp_path, None, {"RUNTIME_DIRECTORY": str(volume / "control")})
    prepare_socket_dir(inside)
    assert stat.S_IMODE((volume / "control").stat().st_mode) == 0o700


def test_the_configmap_config_passes_validate(tmp_path: Path) -> None:
    config = _kubelet_volume(tmp_path / "etc-syncd", _configmap_files())
    env = {**os.environ, **_pod_env()}
    result = subprocess.run([sys.executable, "-m", "syncd", "validate", "-c", str(config)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 integration " in result.stdout, result.stdout


def test_the_doc_and_the_readme_name_the_examples() -> None:
    doc = DOC.read_text()
    for name in FILES:
        assert name in (EXAMPLES / "README.md").read_text()
    assert "replicas: 3" in doc and "examples/kubernetes/" in doc
    for key in ("livenessProbe", "readinessProbe"):
        assert _container()[key]["httpGet"]["path"] in doc
    assert _pod_env()["RUNTIME_DIRECTORY"] in doc
    assert "docs/cluster.md" in (REPO / "README.md").read_text()


# --------------------------------------------------------------------------- the kubelet's ConfigMap volume


def _kubelet_volume(root: Path, files: dict[str, str]) -> Path:
    """Write *files* as the kubelet writes a ConfigMap volume (its atomic
    writer): into a new hidden timestamped folder, then the ``..data``
    symlink swapped to it by a rename, each top-level name a symlink
    through ``..data``, and the old folder removed."""
    root.mkdir(exist_ok=True)
    stamp = root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns()}"
    for rel, text in files.items():
        path = stamp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    old = os.readlink(root / "..data") if (root / "..data").is_symlink() else None
    os.symlink(stamp.name, root / "..data_tmp")
    os.rename(root / "..data_tmp", root / "..data")
    for top in {rel.split("/")[0] for rel in files}:
        if not (root / top).is_symlink():
            os.symlink(f"..data/{top}", root / top)
    if old is not None:
        shutil.rmtree(root / old)
    return root


def _every_path(root: Path) -> set[str]:
    return {os.path.join(d, n) for d, dirs, files in os.walk(root) for n in (*dirs, *files)}


def test_a_configmap_update_touches_the_one_path_the_watcher_reloads_for(tmp_path: Path) -> None:
    # The kubelet's swap changes no name the loader reads (they are symlinks
    # through ..data): the watcher counts the ..data swap itself, and nothing
    # else the writer leaves behind (its timestamped folders, ..data_tmp).
    files = _configmap_files()
    root = _kubelet_volume(tmp_path / "etc-syncd", files)
    before = _every_path(root)
    changed = {**files, "syncd.yaml": files["syncd.yaml"] + "# changed\n"}
    _kubelet_volume(root, changed)
    after = _every_path(root)
    assert (root / "syncd.yaml").read_text().endswith("# changed\n")  # the update is there, through ..data
    touched = (before ^ after) | {str(root / "..data"), str(root / "..data_tmp")}
    relevant = config_filter(root)
    seen = sorted(p for p in touched if relevant(Change.added, p) or relevant(Change.deleted, p))
    assert seen == [str(root / "..data")]
    # the names the loader reads are symlinks the update leaves as they were
    assert all(os.readlink(root / top) == f"..data/{top}" for top in ("syncd.yaml", "integrations.d"))
    assert "a ConfigMap update reloads the daemons by itself" in " ".join(DOC.read_text().split())


# --------------------------------------------------------------------------- the daemon, as the pod runs it


class _Pod:
    """``syncd run`` with the Deployment's command and environment."""

    def __init__(self, config: Path, env: dict[str, str], log: Path) -> None:
        command = _container()["command"]
        args = [str(config) if a == command[command.index("-c") + 1] else a for a in command[1:]]
        self.env = {**os.environ, **env}
        self.log = log
        with log.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "syncd", *args], env=self.env,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def event(self, name: str) -> dict[str, Any]:
        """The first log event called *name*, waited for."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            for line in self.log.read_text().splitlines():
                if line.startswith("{") and json.loads(line).get("event") == name:
                    event: dict[str, Any] = json.loads(line)
                    return event
            time.sleep(0.05)
        pytest.fail(f"no `{name}` within {WAIT} s: {self.log.read_text()}")

    def started(self) -> dict[str, Any]:
        return self.event("syncd started")

    def syncd(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "syncd", *args], capture_output=True, text=True,
                              env=self.env, timeout=60)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return e.code


def _until(url: str, status: int) -> None:
    deadline = time.monotonic() + WAIT
    while _get(url) != status:
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        time.sleep(0.05)


@pytest.fixture
def emptydir() -> Iterator[Path]:
    # Short, under /tmp: a Unix socket's path holds 107 bytes at most.
    folder = Path(tempfile.mkdtemp(prefix="cd-run-"))
    folder.chmod(0o1777)  # as an emptyDir on tmpfs is
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_pod_runs_as_the_deployment_says(tmp_path: Path, pg_url: str, emptydir: Path) -> None:
    # The ConfigMap's syncd.yaml as is, but for the ports (0: free ones, as
    # pytest workers run side by side) and without the integration, which
    # would call HubSpot and Mailchimp (its config is held to `syncd
    # validate` above).
    files = {p: t for p, t in _configmap_files().items() if p == "syncd.yaml"}
    files["syncd.yaml"] = re.sub(r'listen: ":\d+"', 'listen: ":0"', files["syncd.yaml"])
    assert files["syncd.yaml"].count('listen: ":0"') == 2
    config = _kubelet_volume(tmp_path / "etc-syncd", files)
    env = _pod_env(database_url=pg_url)
    mount = next(m["mountPath"] for m in _container()["volumeMounts"] if m["name"] == "run")
    env["RUNTIME_DIRECTORY"] = str(emptydir) + env["RUNTIME_DIRECTORY"].removeprefix(mount)
    pod = _Pod(config, env, tmp_path / "stderr.log")
    try:
        started = pod.started()
        metrics = started["metrics"].rstrip("/")
        container = _container()
        _until(metrics + container["livenessProbe"]["httpGet"]["path"], 200)
        _until(metrics + container["readinessProbe"]["httpGet"]["path"], 200)
        # `kubectl exec POD -- syncd status` has the pod's environment: it finds the daemon
        status = pod.syncd("status", "--json", "-c", str(config))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pid"] == pod.proc.pid
        # A ConfigMap update: the pod reloads by itself, reading the new file through ..data
        changed = files["syncd.yaml"].replace('listen: ":0"', 'listen: ":1"', 1)
        _kubelet_volume(config, {"syncd.yaml": changed})
        applied = pod.event("reload applied")
        assert "ConfigMap update" in applied["trigger"], applied
        assert "metrics_listen" in applied["restart_needed"], applied
        # and `kubectl exec POD -- syncd reload` still works, as after any change
        reload = pod.syncd("reload", "-c", str(config))
        assert reload.returncode == 0, reload.stdout + reload.stderr
        # SIGTERM, as the kubelet stops a pod: a clean exit within the grace period
        pod.proc.send_signal(signal.SIGTERM)
        grace = _one("Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert pod.proc.wait(timeout=grace) == 0, pod.log.read_text()
    finally:
        if pod.proc.poll() is None:
            pod.proc.kill()
            pod.proc.wait()
