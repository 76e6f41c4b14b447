"""systemd/syncd.service: valid for systemd, sandboxed, and what the daemon relies on.

``systemd-analyze verify`` needs no running systemd, but it checks that the
commands a unit names exist, so the unit is copied to tmp_path with its
``/usr/local/bin/syncd`` swapped for a stand-in. It exits 0 on many
mistakes (an unknown key is "ignored" with a warning), so a line of output
about the unit is a failure too; the ``*_is_caught`` tests prove that a typo
does fail. Never skipped: CI installs systemd when it is missing (.ci/run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "syncd.service"
README = REPO / "systemd" / "README.md"
SYNCD = "/usr/local/bin/syncd"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 best, 10 worst; the issue asks for <= 2.0
_COMMAND = re.compile(r"^(Exec[A-Za-z]+=)([-@:+!|]*)(/\S+)", re.M)
_EXPOSURE = re.compile(r"Overall exposure level for syncd\.service: (\d+(?:\.\d+)?)")


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze") or ("/usr/bin/systemd-analyze"
                                                if os.access("/usr/bin/systemd-analyze", os.X_OK) else None)
    if found is None:
        pytest.fail("systemd-analyze not found: install systemd (apt-get install systemd; .ci/run does)")
    return found


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_COLORS": "0", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "cat",
           "SYSTEMD_LOG_LOCATION": "0"}
    return subprocess.run([_systemd_analyze(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def _with_standins(text: str, bindir: Path, missing: frozenset[str] = frozenset()) -> str:
    """*text* with every command path replaced by an executable stand-in in *bindir*."""
    def swap(m: re.Match[str]) -> str:
        standin = bindir / Path(m[3]).name
        if m[3] not in missing:
            bindir.mkdir(exist_ok=True)
            standin.write_text("#!/bin/sh\nexit 0\n")
            standin.chmod(0o755)
        return m[1] + m[2] + str(standin)
    return _COMMAND.sub(swap, text)


def _install(tmp_path: Path, unit: str, dropins: dict[str, str] | None = None,
             missing: frozenset[str] = frozenset()) -> Path:
    """The unit (and drop-ins) in a unit directory of tmp_path, with stand-in commands."""
    units, bindir = tmp_path / "units", tmp_path / "bin"
    units.mkdir(exist_ok=True)
    path = units / "syncd.service"
    path.write_text(_with_standins(unit, bindir, missing))
    for name, text in (dropins or {}).items():
        (units / "syncd.service.d").mkdir(exist_ok=True)
        (units / "syncd.service.d" / name).write_text(_with_standins(text, bindir, missing))
    return path


def _verify(path: Path) -> list[str]:
    """What ``systemd-analyze verify`` has to say about the unit and its drop-ins."""
    result = _run("verify", "--man=no", "--generators=no", "--recursive-errors=no", str(path),
                  cwd=path.parent)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    # Lines about other units (the host's own, loaded as dependencies) are
    # not ours to fix; anything naming this unit or its files is.
    ours = [line for line in lines if str(path.parent) in line or "syncd.service" in line]
    if result.returncode != 0:
        ours.append(f"systemd-analyze verify exited {result.returncode}: {lines}")
    return ours


def _unit_text() -> str:
    return UNIT.read_text()


def _parse(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections as (key, value) lists in file order (keys repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"keep one setting a line: {raw!r}"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        assert current is not None and "=" in line, raw
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def _values(section: str, key: str) -> list[str]:
    return [v for k, v in _parse(_unit_text()).get(section, []) if k == key]


def _setting(section: str, key: str) -> str:
    values = _values(section, key)
    assert values, f"[{section}] {key}= missing"
    return values[-1]  # the last assignment wins


def _seconds(span: str) -> float:
    total, units = 0.0, {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}
    parts = re.findall(r"(\d+)\s*([a-z]*)", span)
    assert parts and "".join(n + u for n, u in parts) == span.replace(" ", ""), span
    for number, unit in parts:
        total += int(number) * units[unit]
    return total


def _ini_blocks(doc: Path) -> list[str]:
    return re.findall(r"```ini\n(.*?)```", doc.read_text(), re.S)


# --- systemd-analyze verify ------------------------------------------------

def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    assert _verify(_install(tmp_path, _unit_text())) == []


@pytest.mark.parametrize(("mistake", "replacement"), [
    ("ProtectSystem=strict", "ProtectSytem=strict"),
    ("ProtectSystem=strict", "ProtectSystem=stric"),
    ("SystemCallFilter=@system-service", "SystemCallFilter=@system-servce"),
    ("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "RestrictAddressFamilies=AF_UNIX AF_INETT"),
    ("WatchdogSec=60s", "WatchdogSec=60q"),
    ("Type=notify", "Type=notfy"),
    ("[Install]", "[Instal]"),
], ids=["unknown-key", "bad-value", "syscall-group", "address-family", "time-span", "type", "section"])
def test_a_mistake_in_the_unit_is_caught(tmp_path: Path, mistake: str, replacement: str) -> None:
    text, count = re.subn(f"^{re.escape(mistake)}$", replacement, _unit_text(), count=1, flags=re.M)
    assert count == 1, f"no line {mistake!r} in the unit"
    problems = _verify(_install(tmp_path, text))
    assert problems, f"systemd-analyze verify did not notice {replacement!r}"


def test_a_missing_executable_is_caught(tmp_path: Path) -> None:
    problems = _verify(_install(tmp_path, _unit_text(), missing=frozenset({SYNCD})))
    assert any("not executable" in p for p in problems), problems


def test_a_mistake_in_a_dropin_is_caught(tmp_path: Path) -> None:
    problems = _verify(_install(tmp_path, _unit_text(), {"typo.conf": "[Service]\nLoadCredentail=x\n"}))
    assert any("LoadCredentail" in p for p in problems), problems


def test_the_readme_dropins_are_valid(tmp_path: Path) -> None:
    blocks = _ini_blocks(README)
    assert blocks and any("LoadCredential=" in b for b in blocks)
    dropins = {f"{i:02}-readme.conf": block for i, block in enumerate(blocks)}
    assert _verify(_install(tmp_path, _unit_text(), dropins)) == []


def test_the_commented_credential_example_is_valid(tmp_path: Path) -> None:
    example = re.findall(r"^#\s+(LoadCredential(?:Encrypted)?=\S+)$", _unit_text(), re.M)
    assert example, "the unit shows how to declare a credential"
    dropin = "[Service]\n" + "\n".join(example) + "\n"
    assert _verify(_install(tmp_path, _unit_text(), {"credentials.conf": dropin})) == []


# --- systemd-analyze security ----------------------------------------------

def _exposure(path: Path) -> tuple[float, int, str]:
    threshold = str(round(MAX_EXPOSURE * 10))  # --threshold counts tenths
    result = _run("security", "--offline=yes", f"--threshold={threshold}", "--no-pager", str(path),
                  cwd=path.parent)
    match = _EXPOSURE.search(result.stdout)
    assert match, result.stdout + result.stderr
    return float(match[1]), result.returncode, result.stdout


def test_exposure_is_low(tmp_path: Path) -> None:
    exposure, returncode, report = _exposure(_install(tmp_path, _unit_text()))
    assert exposure <= MAX_EXPOSURE, report
    assert returncode == 0, report


def test_an_unsandboxed_unit_is_rated_exposed(tmp_path: Path) -> None:
    bare = f"[Service]\nType=notify\nExecStart={SYNCD} run -c /etc/syncd\n"
    exposure, returncode, report = _exposure(_install(tmp_path, bare))
    assert exposure > MAX_EXPOSURE and returncode != 0, report


# --- what the daemon and the issue rely on ---------------------------------

@pytest.mark.parametrize(("section", "key", "expected"), [
    ("Service", "Type", "notify"),
    ("Service", "NotifyAccess", "main"),
    ("Service", "ExecStart", f"{SYNCD} run -c /etc/syncd"),
    ("Service", "ExecReload", f"{SYNCD} reload"),
    ("Service", "Restart", "on-failure"),
    ("Service", "RestartPreventExitStatus", "78"),
    ("Service", "DynamicUser", "yes"),
    ("Service", "ConfigurationDirectory", "syncd"),
    ("Service", "StateDirectory", "syncd"),
    ("Service", "RuntimeDirectory", "syncd"),
    ("Service", "RuntimeDirectoryMode", "0700"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "PrivateDevices", "yes"),
    ("Service", "PrivateUsers", "yes"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "AmbientCapabilities", ""),
    ("Service", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
    ("Service", "SystemCallArchitectures", "native"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "ProtectClock", "yes"),
    ("Service", "ProtectHostname", "yes"),
    ("Service", "ProtectProc", "invisible"),
    ("Service", "ProcSubset", "pid"),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "RestrictRealtime", "yes"),
    ("Service", "RestrictSUIDSGID", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "MemoryDenyWriteExecute", "yes"),
    ("Service", "UMask", "0077"),
    ("Install", "WantedBy", "multi-user.target"),
])
def test_required_setting(section: str, key: str, expected: str) -> None:
    assert _setting(section, key) == expected
    assert len(_values(section, key)) == 1, f"{key}= set more than once"


def test_system_calls_are_filtered() -> None:
    filters = _values("Service", "SystemCallFilter")
    assert filters[0] == "@system-service"  # the allow list comes first
    assert all(f.startswith("~") for f in filters[1:])  # then only subtractions


def test_timeouts_fit_the_daemon() -> None:
    # The daemon pings at half WatchdogSec and stops gracefully within 30 s.
    assert 10 <= _seconds(_setting("Service", "WatchdogSec")) <= 600
    assert _seconds(_setting("Service", "TimeoutStopSec")) > 30


def test_the_daemon_can_reach_the_apis() -> None:
    for key in ("PrivateNetwork", "IPAddressDeny", "IPAddressAllow"):
        assert not _values("Service", key), f"{key}= would cut syncd off from the SaaS APIs"


def test_output_reaches_the_journal_unbuffered() -> None:
    assert "PYTHONUNBUFFERED=1" in " ".join(_values("Service", "Environment")).split()

