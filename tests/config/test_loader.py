"""Loading a config tree: a sysadmin's directory becomes typed, frozen objects.

The fixture tree ``tests/config/fixtures/valid`` is what a small real setup
looks like: two connector specs, two integrations (one ``.yml``), a
``syncd.yaml`` with relative paths, and secrets from the environment, a
file and systemd credentials.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import syncd.config as config_api
from syncd._secret import Secret
from syncd.config import (
    Action,
    Config,
    ConfigError,
    ConnectorSpec,
    FieldMapping,
    Integration,
    Schedule,
    config_directory,
    load_config,
    load_connector_file,
    load_daemon_settings,
)
from syncd.config import _load
from syncd.config._validate import validate_with
from syncd.config._yaml import load_yaml

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VALID = FIXTURES / "valid"


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "mail_key").write_text("mail-secret-from-cred\n")
    return directory


@pytest.fixture
def environ(credentials: Path) -> dict[str, str]:
    return {"ACME_CRM_TOKEN": "crm-secret-from-env", "CREDENTIALS_DIRECTORY": str(credentials)}


@pytest.fixture
def no_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Load without the specs shipped with syncd, so counts are exact."""
    def missing() -> Path:
        raise FileNotFoundError("no shipped connectors")

    monkeypatch.setattr(_load, "shipped_connectors_dir", missing)
    yield


@pytest.fixture
def config(environ: dict[str, str], no_shipped: None) -> Config:
    return load_config(VALID, environ=environ)


def test_a_valid_tree_loads_into_typed_objects(config: Config) -> None:
    assert config.directory == VALID
    assert set(config.connectors) == {"acme_crm", "acme_mail"}
    assert set(config.integrations) == {"crm-to-mail", "mail-back"}

    crm = config.connectors["acme_crm"]
    assert isinstance(crm, ConnectorSpec)
    assert crm.title == "Acme CRM"
    assert crm.source == f"{VALID}/connectors.d/acme_crm.yaml"
    assert crm.objects["contacts"].fields["display"].write is None  # read-only

    integration = config.integrations["crm-to-mail"]
    assert isinstance(integration, Integration)
    assert integration.schedule == Schedule("every 10 minutes", interval_seconds=600.0)
    assert (integration.delay_seconds, integration.full_every_seconds) == (30.0, 7200.0)
    assert (integration.catch_up, integration.create, integration.conflict) == (
        "skip", "left_to_right", "left_wins")
    assert (integration.match_left, integration.match_right) == ("email", "email")
    assert integration.fields[1] == FieldMapping(
        left=("first_name", "last_name"), right=("full_name",), transform="join_name")
    assert integration.fields[2].values == {"customer": "subscribed", "lead": "pending"}
    assert integration.fields[2].direction == "left_to_right"

    first, second = integration.rules
    assert first.side == "left"
    assert first.condition({"stage": "customer"}) is True
    assert first.then == (Action("add_tag", "customer"), Action("set", {"status": "subscribed"}))
    assert second.then == "skip" and second.side is None
    assert integration.deletions is not None
    assert integration.deletions.side == "left"
    assert integration.deletions.then == (Action("add_tag", "syncd-trash"),)
    assert integration.deletions.max_delete_percent == 10.0

    back = config.integrations["mail-back"]
    assert back.enabled is False
    assert back.schedule == Schedule("*/15 8-18 * * mon-fri", cron="*/15 8-18 * * mon-fri")
    assert back.source == f"{VALID}/integrations.d/mail-back.yml"


def test_config_objects_are_frozen(config: Config) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.integrations["crm-to-mail"].enabled = False  # type: ignore[misc]


def test_settings_get_the_spec_defaults(config: Config) -> None:
    left = config.integrations["crm-to-mail"].left
    assert left.settings["region"] == "eu"
    assert left.settings["page_size"] == 100
    right = config.integrations["mail-back"].right
    assert right.settings["page_size"] == 50  # given, so the default does not apply


def test_secrets_resolve_from_env_file_and_cred_and_print_as_stars(config: Config) -> None:
    crm_to_mail = config.integrations["crm-to-mail"]
    token = crm_to_mail.left.settings["token"]
    from_file = crm_to_mail.right.settings["api_key"]
    from_cred = config.integrations["mail-back"].left.settings["api_key"]
    for secret, value in [(token, "crm-secret-from-env"), (from_file, "mail-secret-from-file"),
                          (from_cred, "mail-secret-from-cred")]:
        assert isinstance(secret, Secret)
        assert secret.reveal() == value  # trailing newline of the files stripped
        assert str(secret) == f"{secret}" == "***"
        assert value not in repr(crm_to_mail) + repr(config.integrations["mail-back"])
    assert token.reference == "${env:ACME_CRM_TOKEN}"
    assert from_file.reference == "${file:secrets/mail_key}"
    assert from_cred.reference == "${cred:mail_key}"


def test_secrets_that_cannot_be_resolved_may_be_deferred_for_a_command_that_only_reads(
        no_shipped: None) -> None:
    from syncd._secret import SecretUnavailable, UnresolvedSecret

    with pytest.raises(ConfigError, match="environment variable ACME_CRM_TOKEN is not set"):
        load_config(VALID, environ={})
    config = load_config(VALID, environ={}, defer_secrets=True)  # no env, no credentials directory
    token = config.integrations["crm-to-mail"].left.settings["token"]
    assert isinstance(token, UnresolvedSecret) and str(token) == "***"
    with pytest.raises(SecretUnavailable, match="setting 'token': .*ACME_CRM_TOKEN is not set"):
        token.reveal()
    # what could be resolved still is
    assert config.integrations["crm-to-mail"].right.settings["api_key"].reveal() == "mail-secret-from-file"


def test_a_non_secret_setting_may_use_a_reference_with_a_default(config: Config) -> None:
    list_id = config.integrations["crm-to-mail"].right.settings["list_id"]
    assert isinstance(list_id, Secret)
    assert list_id.reveal() == "list-1"  # ${env:ACME_LIST:-list-1}, ACME_LIST unset
    assert list_id.reference == "${env:ACME_LIST:-…}"  # a default may be a value: not shown
    plain = config.integrations["mail-back"].left.settings["list_id"]
    assert plain == "abc"


def test_daemon_settings_resolve_relative_paths_against_the_config_dir(
    environ: dict[str, str], no_shipped: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)  # a relative -c DIR, and a cwd that is not the config dir
    config = load_config("valid", environ=environ)
    assert config.directory == VALID
    assert config.daemon.state_path == VALID / "data" / "state.db"
    assert config.daemon.control_socket == VALID / "run" / "control.sock"
    assert (config.daemon.metrics_enabled, config.daemon.metrics_listen) == (True, "127.0.0.1:9999")
    assert (config.daemon.log_level, config.daemon.log_format) == ("debug", "json")


def test_a_missing_syncd_yaml_means_defaults(tmp_path: Path, no_shipped: None) -> None:
    config = load_config(tmp_path, environ={})
    assert config.daemon.state_path == tmp_path / "state.db"
    assert config.daemon.control_socket is None
    assert (config.connectors, config.integrations) == ({}, {})


def test_syncd_yaml_strings_may_be_references(tmp_path: Path, no_shipped: None) -> None:
    (tmp_path / "syncd.yaml").write_text('state: {path: "${env:STATE_PATH}"}\n')
    config = load_config(tmp_path, environ={"STATE_PATH": "/var/lib/syncd/state.db"})
    assert config.daemon.state_path == Path("/var/lib/syncd/state.db")


def test_syncd_config_variable_chooses_the_directory(
    environ: dict[str, str], no_shipped: None
) -> None:
    config = load_config(environ={**environ, "SYNCD_CONFIG": str(VALID)})
    assert config.directory == VALID
    assert config_directory(None, {}) == (Path("/etc/syncd"), "/etc/syncd")
    assert config_directory("conf/", {"SYNCD_CONFIG": "/x"}) == (Path("conf"), "conf")


def test_a_missing_directory_is_not_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope", environ={})


def test_a_user_spec_overrides_a_shipped_one(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_load, "shipped_connectors_dir", lambda: FIXTURES / "shipped")
    config = load_config(VALID, environ=environ)
    assert config.connectors["acme_crm"].title == "Acme CRM"  # connectors.d wins
    assert config.connectors["acme_extra"].title == "Acme Extra"  # shipped only
    assert config.connectors["acme_extra"].source == str(FIXTURES / "shipped" / "acme_extra.yaml")


def test_backups_dotfiles_and_other_files_are_ignored(
    tmp_path: Path, environ: dict[str, str], no_shipped: None
) -> None:
    tree = tmp_path / "etc"
    shutil.copytree(VALID, tree)
    for junk in ("crm-to-mail.yaml~", ".crm-to-mail.yaml.swp", "old.yaml.bak", ".hidden.yaml",
                 "README.txt"):
        (tree / "integrations.d" / junk).write_text("this is: not: yaml: [\n")
    config = load_config(tree, environ=environ)
    assert set(config.integrations) == {"crm-to-mail", "mail-back"}


def test_every_broken_file_is_reported_in_one_error(tmp_path: Path, no_shipped: None) -> None:
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "connectors.d").mkdir()
    (tmp_path / "integrations.d" / "a.yaml").write_text("integration: [\n")
    (tmp_path / "integrations.d" / "b.yaml").write_text("integration: b\n")
    (tmp_path / "connectors.d" / "c.yaml").write_text("connector: c\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path, environ={})
    files = [p.file.rsplit("/", 2)[-2:] for p in raised.value.problems]
    assert ["connectors.d", "c.yaml"] in files
    assert ["integrations.d", "a.yaml"] in files
    assert ["integrations.d", "b.yaml"] in files
    assert list(raised.value.problems) == sorted(
        raised.value.problems, key=lambda p: (p.file, p.line, p.col, p.message))
    assert str(raised.value).splitlines()[0] == str(raised.value.problems[0])


def test_one_connector_file_loads_on_its_own() -> None:
    spec = load_connector_file(VALID / "connectors.d" / "acme_mail.yaml")
    assert spec.name == "acme_mail"
    with pytest.raises(ConfigError) as raised:
        load_connector_file(FIXTURES / "valid" / "syncd.yaml", shown="syncd.yaml")
    assert raised.value.problems[0].file == "syncd.yaml"


def test_yaml_keeps_positions_and_accepts_anchors() -> None:
    text = (
        "base: &base {path: /x, method: GET}\n"
        "get:\n"
        "  <<: *base\n"
        "  path: /y\n"
        "on: yes\n"
        "when: 2024-01-01\n"
    )
    doc, problems = load_yaml(text, "f.yaml")
    assert problems == []
    assert doc.data["get"] == {"path": "/y", "method": "GET"}
    assert doc.data["on"] is True  # the key stays the text "on"
    assert doc.data["when"] == "2024-01-01"  # no dates: JSON has none
    assert doc.key_positions[("get", "path")] == (4, 3)
    assert doc.value_positions[("get", "path")] == (4, 9)
    assert doc.position(("get",)) == (2, 1)  # a mapping: its key
    assert doc.position(("get", "missing")) == (2, 1)  # nearest ancestor key


def test_yaml_rejects_duplicate_keys_and_custom_tags() -> None:
    _, problems = load_yaml("a: 1\nb: !!python/object:os.system x\na: 2\n", "f.yaml")
    assert [(p.line, p.col, p.message) for p in problems] == [
        (2, 4, "tag '!!python/object:os.system' is not supported in syncd config"),
        (3, 1, "duplicate key 'a' (first at line 1); the earlier value is ignored"),
    ]


def test_a_duplicate_key_keeps_the_later_value_and_its_positions() -> None:
    # As PyYAML, JSON and jq do: the later value wins. The document stays
    # checkable, so later stages report the file's other mistakes too.
    text = (
        "a: {x: 1, gone: 2}\n"
        "b: 1\n"
        "a:\n"
        "  x: 3\n"
        "a: {x: 4}\n"
    )
    doc, problems = load_yaml(text, "f.yaml")
    assert [(p.line, p.col, p.message, p.key_path) for p in problems] == [
        (3, 1, "duplicate key 'a' (first at line 1); the earlier value is ignored", ("a",)),
        (5, 1, "duplicate key 'a' (first at line 1); the earlier values are ignored", ("a",)),
    ]
    assert doc.checkable
    assert doc.data == {"a": {"x": 4}, "b": 1}
    assert doc.position(("a",)) == (5, 1)
    assert doc.position(("a", "x")) == (5, 8)
    # a key only the ignored value had points at the kept one, not at line 1
    assert doc.position(("a", "gone")) == (5, 1)
    # other mistakes in the YAML itself still stop later stages
    assert not load_yaml("a: 1\nb: !!binary eA==\n", "f.yaml")[0].checkable


def test_a_duplicate_key_is_an_error_among_the_others(
    environ: dict[str, str], no_shipped: None, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(VALID, tree)
    target = tree / "integrations.d" / "crm-to-mail.yaml"
    good = target.read_text()
    # Only a duplicate (with the same value): still invalid, so a reload
    # (which loads exactly this way) refuses the tree.
    target.write_text(good + "conflict: left_wins\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tree, environ=environ)
    [problem] = raised.value.problems
    assert problem.message == "duplicate key 'conflict' (first at line 19); the earlier value is ignored"
    assert problem.line == good.count("\n") + 1
    # The rest of the file is still checked: the schema and the cross-file checks.
    target.write_text(good.replace("match: {left: email,", "match: {left: emial,")
                      + "conflict: left_wins\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tree, environ=environ)
    assert [p.key_path for p in raised.value.problems] == [("match", "left"), ("conflict",)]
    target.write_text(good + "conflict: left_winz\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tree, environ=environ)
    assert [p.key_path for p in raised.value.problems] == [("conflict",), ("conflict",)]
    assert "invalid conflict 'left_winz'" in raised.value.problems[1].message
    # A connector spec with a duplicate key is unusable, on its own and in a tree.
    target.write_text(good)
    spec = tree / "connectors.d" / "acme_mail.yaml"
    spec.write_text(spec.read_text() + "title: Acme Mail again\n")
    with pytest.raises(ConfigError) as raised:
        load_connector_file(spec)
    assert [p.key_path for p in raised.value.problems] == [("title",)]
    with pytest.raises(ConfigError) as raised:
        load_config(tree, environ=environ)
    assert [p.key_path for p in raised.value.problems] == [("title",)]


def test_a_one_of_is_explained_by_its_type_discriminator() -> None:
    # The shipped schemas dispatch on `type` with if/then; a oneOf must read as well.
    schema = {"type": "object", "properties": {"auth": {"oneOf": [
        {"type": "object", "additionalProperties": False, "required": ["type", "token"],
         "properties": {"type": {"const": "bearer"}, "token": {"type": "string"}}},
        {"type": "object", "additionalProperties": False, "required": ["type"],
         "properties": {"type": {"const": "none"}}},
    ]}, "then": {"oneOf": [{"const": "skip"}, {"type": "array"}]}}}
    validator = Draft202012Validator(schema)

    def messages(text: str) -> list[str]:
        doc, _ = load_yaml(text, "f.yaml")
        return [p.message for p in validate_with(validator, doc)]

    assert messages("auth: {type: bearer, tokn: x}\n") == ["unknown key 'tokn'; did you mean 'token'?"]
    assert messages("auth: {type: bearr}\n") == [
        "unknown auth type 'bearr': expected 'bearer' or 'none'; did you mean 'bearer'?"]
    assert messages("auth: {}\n") == ["missing required key 'type' (one of 'bearer' or 'none')"]
    assert messages("then: {a: 1}\n") == ["expected 'skip' or a list for then, not a mapping"]
    assert messages("then: skp\n") == ["invalid then 'skp': expected 'skip'"]


def test_the_public_api_is_curated() -> None:
    for name in ("load_config", "Config", "ConfigError", "Problem", "Integration",
                 "ConnectorSpec", "DaemonSettings", "load_connector_file", "config_directory"):
        assert name in config_api.__all__
    assert all(hasattr(config_api, name) for name in config_api.__all__)


@pytest.mark.parametrize(("reference", "value"), [
    ("${env:TOKEN}", "from-env"),
    ("${env:EMPTY}", ""),  # set but empty: the value, as in the shell
    ("${env:EMPTY:-fallback}", "fallback"),  # `:-` also covers empty
    ("${env:UNSET:-}", ""),
    ("${file:token.txt}", "from-file"),  # relative to the config dir, newline stripped
    ("${cred:api}", "from-cred"),
])
def test_references_resolve(tmp_path: Path, reference: str, value: str) -> None:
    (tmp_path / "token.txt").write_text("from-file\r\n")
    (tmp_path / "api").write_text("from-cred")
    environ = {"TOKEN": "from-env", "EMPTY": "", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    secret = config_api.resolve_reference(reference, tmp_path, environ)
    assert isinstance(secret, Secret)
    assert secret.reveal() == value


@pytest.mark.parametrize(("reference", "message"), [
    ("${env:UNSET}", "${env:UNSET}: environment variable UNSET is not set"),
    ("${env:9X}", "${env:9X}: not a variable name"),
    ("${file:nope.txt}", "${file:nope.txt}: no such file conf/nope.txt"),
    ("${cred:api}", "${cred:api}: $CREDENTIALS_DIRECTORY is not set"),
    ("${cred:../etc/passwd}", "a credential name is a plain file name"),
    ("${vault:x}", "unknown reference kind 'vault'"),
    ("Bearer ${env:TOKEN}", "must be the whole value"),
])
def test_unresolvable_references_name_the_reference(
    tmp_path: Path, reference: str, message: str
) -> None:
    with pytest.raises(config_api.SecretRefError) as raised:
        config_api.resolve_reference(reference, tmp_path, {"TOKEN": "x"}, shown_dir="conf")
    assert message in str(raised.value)


def test_plain_text_is_not_a_reference(tmp_path: Path) -> None:
    assert config_api.resolve_reference("abc123", tmp_path, {}) is None
    assert config_api.resolve_reference("costs $5 {each}", tmp_path, {}) is None


def test_schedules_and_durations() -> None:
    assert config_api.parse_schedule("every 1 hour").interval_seconds == 3600
    assert config_api.parse_schedule("every 30 seconds").interval_seconds == 30
    assert config_api.parse_schedule("0 6 1-15/2 jan,dec sun").cron == "0 6 1-15/2 jan,dec sun"
    assert config_api.parse_duration(90) == 90
    assert config_api.parse_duration("2 days") == 172800
    for bad, reason in [("* * * *", "has 5 fields"), ("60 * * * *", "minute 60 is out of range"),
                        ("* * * foo *", "month 'foo' is not a number"),
                        ("*/0 * * * *", "step '/0'"), ("5-1 * * * *", "runs backwards"),
                        ("every 0 minutes", "at least 1 second")]:
        with pytest.raises(ValueError, match=reason):
            config_api.parse_schedule(bad)


def test_under_systemd_the_state_defaults_to_the_state_directory(tmp_path: Path, no_shipped: None) -> None:
    config = load_config(tmp_path, environ={"STATE_DIRECTORY": "/var/lib/syncd:/var/lib/other"})
    assert config.daemon.state_path == Path("/var/lib/syncd/state.db")
    (tmp_path / "syncd.yaml").write_text("log: {level: debug}\n")  # no state.path: still the default
    assert load_config(tmp_path, environ={"STATE_DIRECTORY": "/var/lib/syncd"}).daemon.state_path \
        == Path("/var/lib/syncd/state.db")
    (tmp_path / "syncd.yaml").write_text("state: {path: here.db}\n")  # given: relative to the config dir
    assert load_config(tmp_path, environ={"STATE_DIRECTORY": "/var/lib/syncd"}).daemon.state_path \
        == tmp_path / "here.db"


def test_loading_the_same_tree_twice_gives_equal_configs(
    environ: dict[str, str], no_shipped: None, tmp_path: Path
) -> None:
    # The daemon restarts on reload only the integrations whose config
    # compares unequal; compiled expressions must compare by their source.
    assert load_config(VALID, environ=environ) == load_config(VALID, environ=environ)
    copy = tmp_path / "copy"
    shutil.copytree(VALID, copy)
    spec = copy / "connectors.d" / "acme_crm.yaml"
    spec.write_text(spec.read_text().replace("path: /contacts\n", "path: /v2/contacts\n", 1))
    before, after = load_config(VALID, environ=environ), load_config(copy, environ=environ)
    def moved(spec: ConnectorSpec) -> ConnectorSpec:  # the same spec read from the copy
        return dataclasses.replace(spec, source=spec.source.replace(str(copy), str(VALID)))

    assert before.connectors["acme_crm"] != moved(after.connectors["acme_crm"])
    assert before.connectors["acme_mail"] == moved(after.connectors["acme_mail"])


def test_daemon_settings_load_alone_while_the_rest_is_broken(tmp_path: Path) -> None:
    (tmp_path / "syncd.yaml").write_text("control: {socket: run/ctl.sock}\n")
    (tmp_path / "integrations.d").mkdir()
    (tmp_path / "integrations.d" / "bad.yaml").write_text("integration: [\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path, environ={})
    assert load_daemon_settings(tmp_path, environ={}).control_socket == tmp_path / "run" / "ctl.sock"
    (tmp_path / "syncd.yaml").write_text("control: {sockett: x}\n")
    with pytest.raises(ConfigError) as e:
        load_daemon_settings(tmp_path, environ={})
    assert "syncd.yaml:1:" in str(e.value.problems[0])


def test_a_reload_sees_every_edit_though_unchanged_files_are_not_checked_again(
    environ: dict[str, str], no_shipped: None, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(VALID, copy)
    first = load_config(copy, environ=environ)
    target = copy / "integrations.d" / "crm-to-mail.yaml"
    good = target.read_text()
    target.write_text(good.replace("conflict: left_wins", "conflict: left_winz"))
    with pytest.raises(ConfigError) as e:
        load_config(copy, environ=environ)
    assert any("(conflict)" in str(p) for p in e.value.problems)
    target.write_text(good)  # put back exactly as it was
    assert load_config(copy, environ=environ) == first
    # the same text under another name is that file's document, not the first's
    shutil.copy(target, copy / "integrations.d" / "again.yaml")
    with pytest.raises(ConfigError) as e:
        load_config(copy, environ=environ)
    [problem] = e.value.problems
    assert problem.file.endswith("/crm-to-mail.yaml")
    assert f"already defined in {copy}/integrations.d/again.yaml" in problem.message
