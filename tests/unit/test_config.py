"""Settings: the resolver override and the address guard's keys (allow_private, allow) read like every
other key (defaults, config file, ARCHIVER_* env, flags), and a malformed entry is a ConfigError that
names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke

from archiver.config import Settings, load_settings, parse_resolve, resolve_map
from archiver.errors import ConfigError


@pytest.mark.parametrize(("entry", "parsed"), [
    ("example.org:443:10.0.0.7", (("example.org", 443), ("10.0.0.7", 443))),
    ("Intranet.Example.:80:192.168.1.2", (("intranet.example", 80), ("192.168.1.2", 80))),
    ("v6.example:8080:[2001:db8::1]", (("v6.example", 8080), ("2001:db8::1", 8080))),
    ("moved.example:443:127.0.0.1:8443", (("moved.example", 443), ("127.0.0.1", 8443))),
    ("moved.example:443:[::1]:8443", (("moved.example", 443), ("::1", 8443))),
    ("bücher.example:80:10.0.0.1", (("xn--bcher-kva.example", 80), ("10.0.0.1", 80))),
])
def test_entries(entry: str, parsed: tuple[tuple[str, int], tuple[str, int]]) -> None:
    assert parse_resolve(entry) == parsed


@pytest.mark.parametrize(("entry", "why"), [
    ("example.org:443", "not host:port:address"),
    (":443:10.0.0.1", "not host:port:address"),
    ("example.org:https:10.0.0.1", "port 'https'"),
    ("example.org:70000:10.0.0.1", "port '70000'"),
    ("example.org:443:gateway.lan", "'gateway.lan' is not an IP address"),
    ("example.org:443:2001:db8::1", "in brackets"),
    ("example.org:443:[2001:db8::1", "in brackets"),
    ("example.org:443:10.0.0.1:0", "port '0'"),
])
def test_malformed_entries_say_why(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_resolve(entry)


def test_env_is_a_comma_separated_list() -> None:
    settings = load_settings(env={"ARCHIVER_RESOLVE": "a.example:80:10.0.0.1, b.example:443:[::1],"})
    assert settings.resolve == ("a.example:80:10.0.0.1", "b.example:443:[::1]")
    assert resolve_map(settings.resolve) == {("a.example", 80): (("10.0.0.1", 80),),
                                             ("b.example", 443): (("::1", 443),)}


def test_file_then_env_then_flag(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('[archiver]\nresolve = ["file.example:80:10.0.0.1", "other.example:80:10.0.0.2"]\n')
    assert load_settings(config, env={}).resolve == ("file.example:80:10.0.0.1", "other.example:80:10.0.0.2")
    from_env = load_settings(config, env={"ARCHIVER_RESOLVE": "env.example:80:10.0.0.3"})
    assert from_env.resolve == ("env.example:80:10.0.0.3",)
    assert load_settings(config, env={"ARCHIVER_RESOLVE": ""}).resolve == ()  # an empty value switches it off
    assert load_settings(config, env={}, resolve="flag.example:80:10.0.0.4").resolve == ("flag.example:80:10.0.0.4",)
    assert Settings().resolve == ()


def test_bad_entry_in_env_names_variable_and_entry() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"ARCHIVER_RESOLVE": "good.example:80:10.0.0.1,bad.example:80:nowhere"})
    assert str(caught.value) == ("environment ARCHIVER_RESOLVE: resolve entry 'bad.example:80:nowhere': "
                                 "'nowhere' is not an IP address")


def test_bad_entry_in_file_names_file_and_entry(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text('resolve = ["bad.example:eighty:10.0.0.1"]\n')
    with pytest.raises(ConfigError, match=rf"^{config}: resolve entry 'bad.example:eighty:10.0.0.1': port"):
        load_settings(config, env={})
    config.write_text("resolve = 3\n")
    with pytest.raises(ConfigError, match="resolve must be a list"):
        load_settings(config, env={})


def test_cli_exits_3_on_a_bad_entry(storage: Path) -> None:
    result = invoke(storage, "snapshot", "http://example.invalid/", env={"ARCHIVER_RESOLVE": "example.invalid:80"})
    assert result.exit_code == 3
    assert "resolve entry 'example.invalid:80'" in result.output + result.stderr


def test_repeated_entries_for_one_name_are_several_addresses_in_order() -> None:
    entries = ("multi.example:80:10.0.0.2", "multi.example:80:10.0.0.1:8080", "multi.example:80:10.0.0.2")
    assert resolve_map(entries) == {("multi.example", 80): (("10.0.0.2", 80), ("10.0.0.1", 8080))}


# ------------------------------------------------------------------------------------------------
# The address guard's keys


def test_the_guard_is_closed_unless_opened() -> None:
    settings = load_settings(None, env={})
    assert (settings.allow_private, settings.allow) == (False, ())


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("on", True), ("0", False), ("false", False), ("no", False),
    ("off", False), ("", False),
])
def test_allow_private_from_env(value: str, expected: bool) -> None:
    assert load_settings(None, env={"ARCHIVER_ALLOW_PRIVATE": value}).allow_private is expected


def test_allow_private_from_file_env_and_flag(tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text("[archiver]\nallow-private = true\n")
    assert load_settings(config, env={}).allow_private is True
    assert load_settings(config, env={"ARCHIVER_ALLOW_PRIVATE": "0"}).allow_private is False
    assert load_settings(config, env={"ARCHIVER_ALLOW_PRIVATE": "0"}, allow_private=True).allow_private is True
    config.write_text("[archiver]\nallow_private = \"maybe\"\n")
    with pytest.raises(ConfigError, match="allow_private must be true or false"):
        load_settings(config, env={})


def test_allow_networks_are_normalised(tmp_path: Path) -> None:
    env = {"ARCHIVER_ALLOW": " 10.0.0.0/8, fd00::/8 ,192.168.1.7,[fd00::1],"}
    assert load_settings(None, env=env).allow == ("10.0.0.0/8", "fd00::/8", "192.168.1.7/32", "fd00::1/128")
    config = tmp_path / "archiver.toml"
    config.write_text('[archiver]\nallow = ["127.0.0.0/8", "10.0.0.0/8"]\n')
    assert load_settings(config, env={}).allow == ("127.0.0.0/8", "10.0.0.0/8")
    assert load_settings(config, env={"ARCHIVER_ALLOW": ""}).allow == ()  # an empty value switches it off
    assert load_settings(config, env={}, allow=("172.16.0.0/12",)).allow == ("172.16.0.0/12",)


@pytest.mark.parametrize(("value", "message"), [
    ('["10.1.2.3/8"]', "allow entry '10.1.2.3/8' is not a CIDR network: 10.1.2.3/8 has host bits set "
                       "(the network is 10.0.0.0/8)"),
    ('["intranet"]', "allow entry 'intranet' is not a CIDR network"),
    ('["10.0.0.0/33"]', "allow entry '10.0.0.0/33' is not a CIDR network"),
    ("[10]", "allow must be a list of CIDR strings"),
    ("true", "allow must be a list of CIDR strings"),
])
def test_bad_allow_entries_name_the_file_and_the_entry(value: str, message: str, tmp_path: Path) -> None:
    config = tmp_path / "archiver.toml"
    config.write_text(f"allow = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert str(caught.value).startswith(f"{config}: {message}"), str(caught.value)
