"""The address guard end to end, through the installed `archiver` script: redirects from a public-looking
site to cloud metadata, loopback and IPv4-mapped loopback are refused and recorded as `blocked_address`
(read back from `check --json`, the database and the WARC files); `--allow-private` and `allow = [CIDR]`
open what they say and nothing more; a name with several addresses never connects to a refused one; a
configured proxy on loopback is used, while what is sent through it is still judged.

The public-looking site is a server on 127.0.0.3 reached through the resolver override, and the one
address these tests open (`allow`): it stands for the internet. Allow-private is off in every run here
(the `run` helper turns it on for other tests). Each archiver process carries the offhost tripwire
(tests/helpers/offhost.py): were the guard to let 169.254.169.254 through, the connection would still
not leave the machine, and the test would fail.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import invoke, run
from offhost import TRIPPED, child_env
from proxy import TestProxy
from server import TestServer
from warcio.archiveiterator import ArchiveIterator

ORIGIN = "news.example.org"  # the public-looking site
ORIGIN_ADDRESS = "127.0.0.3"
OPEN_ORIGIN = f"{ORIGIN_ADDRESS}/32"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
FAST = ["--per-host-delay", "0", "--timeout", "2", "--total-timeout", "6"]


@pytest.fixture(scope="module")
def origin() -> Iterator[TestServer]:
    with TestServer(ORIGIN_ADDRESS) as srv:
        yield srv


@pytest.fixture()
def local() -> Iterator[TestServer]:
    """A service of this machine's own, on 127.0.0.1: what a hostile redirect is after."""
    with TestServer("127.0.0.1") as srv:
        yield srv


@pytest.fixture()
def neighbour() -> Iterator[TestServer]:
    """Another internal service, on 127.0.0.2."""
    with TestServer("127.0.0.2") as srv:
        yield srv


def site_url(origin: TestServer, path: str) -> str:
    return f"http://{ORIGIN}:{origin.port}/{path}"


def redirecting(origin: TestServer, target: str) -> str:
    """A page of the public-looking site that redirects (302) to `target`."""
    return site_url(origin, f"redirect-to?code=302&url={quote(target, safe='')}")


def guarded(origin: TestServer, *entries: str, **env: str) -> dict[str, str]:
    """The environment of a guarded run: allow-private off, the site's name to its address, the tripwire."""
    resolve = ",".join((f"{ORIGIN}:{origin.port}:{ORIGIN_ADDRESS}", *entries))
    return child_env({"ARCHIVER_ALLOW_PRIVATE": "", "ARCHIVER_RESOLVE": resolve, **env})


def config(tmp_path: Path, *networks: str) -> str:
    path = tmp_path / "archiver.toml"
    path.write_text("[archiver]\nallow = [" + ", ".join(f'"{n}"' for n in networks) + "]\n")
    return str(path)


def check(storage: Path, tmp_path: Path, urls: list[str], env: dict[str, str], *flags: str
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    manifest = tmp_path / "refs.txt"
    manifest.write_text("".join(f"{u}\n" for u in urls))
    # One failed check is enough for death here: a blocked_address that counted as a failure would show.
    proc = run(storage, "check", str(manifest), "--json", "--confirm-checks", "1", "--confirm-days", "0", *FAST,
               *flags, env=env)
    assert TRIPPED not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, {c["url"]: c for c in json.loads(proc.stdout)}


def rows(storage: Path, table: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(storage / "archiver.db") as db:
        db.row_factory = sqlite3.Row
        return {r["fetch_url"]: dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY id")}


def archived(storage: Path) -> list[tuple[str, str, str | None]]:
    """(type, target URI, WARC-IP-Address) of every record in the storage's WARC files."""
    out = []
    for path in sorted((storage / "warcs").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                headers = record.rec_headers
                out.append((record.rec_type, headers.get_header("WARC-Target-URI"),
                            headers.get_header("WARC-IP-Address")))
    return out


# ------------------------------------------------------------------------------------------------
# Refused by default


def test_redirects_to_internal_addresses_are_blocked_and_recorded(
    origin: TestServer, local: TestServer, storage: Path, tmp_path: Path
) -> None:
    targets = {
        METADATA: "169.254.169.254 is link-local (cloud metadata)",
        local.url("page/secret"): "127.0.0.1 is loopback",
        f"http://[::ffff:127.0.0.1]:{local.port}/page/secret":
            "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, which is loopback",
    }
    cited = {redirecting(origin, target): target for target in targets}
    proc, verdicts = check(storage, tmp_path, list(cited), guarded(origin, ARCHIVER_CONFIG=config(tmp_path,
                                                                                                     OPEN_ORIGIN)))
    # Blocked, like a 403: no word on the page, so neither dead nor a failed run.
    assert proc.returncode == 0, proc.stderr
    checks, captures = rows(storage, "checks"), rows(storage, "captures")
    for url, target in cited.items():
        reason = f"redirected to {target}: {targets[target]}"
        got = verdicts[url]
        assert (got["verdict"], got["status"], got["reason"]) == ("blocked", "blocked_address", reason), got
        assert (checks[url]["status"], checks[url]["reason"]) == ("blocked_address", reason)
        assert (captures[url]["outcome"], captures[url]["error"]) == ("blocked_address", reason)
    assert local.hits == []  # the internal service never saw a request
    assert sorted(h.path.partition("?")[0] for h in origin.hits[-3:]) == ["/redirect-to"] * 3
    # The site's redirects are archived as evidence; nothing from the addresses they pointed at.
    uris = {uri for kind, uri, _ in archived(storage) if kind == "response"}
    assert set(cited) <= uris and not uris & set(targets)


def test_urls_and_resolve_entries_naming_internal_addresses_are_blocked(
    origin: TestServer, local: TestServer, storage: Path, tmp_path: Path
) -> None:
    """Not only redirects: a cited literal address (also in the short and decimal forms the C library
    reads), a name the override sends to loopback (an override entry is the user's choice of address
    for a name, still judged), localhost."""
    intranet = f"intranet.example.org:{local.port}:127.0.0.1"
    urls = [local.url("page/direct"), f"http://intranet.example.org:{local.port}/page/named",
            f"http://localhost:{local.port}/page/local", f"http://127.1:{local.port}/page/short",
            f"http://2130706433:{local.port}/page/decimal"]
    manifest = tmp_path / "refs.txt"
    manifest.write_text("\n".join(urls))
    proc = run(storage, "snapshot", str(manifest), "--json", *FAST, env=guarded(origin, intranet))
    assert proc.returncode == 1 and TRIPPED not in proc.stderr, proc.stderr
    got = {u["url"]: (u["outcome"], u["error"]) for u in json.loads(proc.stdout)["urls"]}
    assert got == {
        urls[0]: ("blocked_address", "127.0.0.1 is loopback"),
        urls[1]: ("blocked_address", "intranet.example.org (resolve override): 127.0.0.1 is loopback"),
        urls[2]: ("blocked_address", "localhost is loopback (RFC 6761)"),
        urls[3]: ("blocked_address", "127.1: 127.0.0.1 is loopback"),
        urls[4]: ("blocked_address", "2130706433: 127.0.0.1 is loopback"),
    }
    assert f"failed: {urls[0]}: blocked_address (127.0.0.1 is loopback)" in proc.stderr.splitlines()
    assert local.hits == []


# ------------------------------------------------------------------------------------------------
# Opened by the user


@pytest.mark.parametrize("how", ["flag", "env"])
def test_allow_private_reaches_a_local_server_but_never_cloud_metadata(
    how: str, origin: TestServer, local: TestServer, storage: Path, tmp_path: Path
) -> None:
    direct, mapped = local.url("page/open"), f"http://[::ffff:127.0.0.1]:{local.port}/page/open-mapped"
    cited = [redirecting(origin, direct), redirecting(origin, mapped), redirecting(origin, METADATA)]
    env = guarded(origin, **({"ARCHIVER_ALLOW_PRIVATE": "1"} if how == "env" else {}))
    proc, verdicts = check(storage, tmp_path, cited, env, *(["--allow-private"] if how == "flag" else []))
    assert [verdicts[u]["status"] for u in cited] == ["redirected", "redirected", "blocked_address"], verdicts
    assert verdicts[cited[2]]["reason"] == f"redirected to {METADATA}: 169.254.169.254 is link-local (cloud metadata)"
    assert sorted(h.path for h in local.hits) == ["/page/open", "/page/open-mapped"]
    ips = {uri: ip for kind, uri, ip in archived(storage) if kind == "response"}
    assert ips[direct] == "127.0.0.1" and ips[mapped] in ("::ffff:127.0.0.1", "127.0.0.1")
    assert ips[cited[0]] == ORIGIN_ADDRESS


@pytest.mark.parametrize("how", ["config", "env"])
def test_allow_opens_exactly_the_listed_networks(
    how: str, origin: TestServer, local: TestServer, neighbour: TestServer, storage: Path, tmp_path: Path
) -> None:
    networks = (OPEN_ORIGIN, "127.0.0.1/32")
    env = guarded(origin, **({"ARCHIVER_CONFIG": config(tmp_path, *networks)} if how == "config"
                             else {"ARCHIVER_ALLOW": ",".join(networks)}))
    opened, mapped = local.url("page/allowed"), f"http://[::ffff:127.0.0.1]:{local.port}/page/allowed-mapped"
    closed = neighbour.url("page/closed")
    cited = {t: redirecting(origin, t) for t in (opened, mapped, closed, METADATA)}
    proc, verdicts = check(storage, tmp_path, list(cited.values()), env)
    status = {t: (verdicts[u]["status"], verdicts[u]["reason"]) for t, u in cited.items()}
    assert status[opened][0] == status[mapped][0] == "redirected", status
    assert status[closed] == ("blocked_address", f"redirected to {closed}: 127.0.0.2 is loopback")
    assert status[METADATA][0] == "blocked_address"
    assert sorted(h.path for h in local.hits) == ["/page/allowed", "/page/allowed-mapped"]
    assert neighbour.hits == []


def test_a_name_with_several_addresses_never_connects_to_a_refused_one(
    origin: TestServer, neighbour: TestServer, storage: Path, tmp_path: Path
) -> None:
    """Two addresses for one name (two resolve entries, like two DNS answers), the refused one first:
    archiver connects to the other. Opening the first as well shows the order was the resolver's."""
    url = "http://multi.example.org:8080/page/multi"
    entries = (f"multi.example.org:8080:127.0.0.2:{neighbour.port}",
               f"multi.example.org:8080:{ORIGIN_ADDRESS}:{origin.port}")
    proc = run(storage, "snapshot", url, "--json", *FAST, env=guarded(origin, *entries, ARCHIVER_ALLOW=OPEN_ORIGIN))
    assert proc.returncode == 0 and TRIPPED not in proc.stderr, proc.stderr
    assert json.loads(proc.stdout)["urls"][0]["http_status"] == 200
    assert neighbour.hits == [] and origin.hits[-1].path == "/page/multi"
    assert [ip for kind, uri, ip in archived(storage) if uri == url and kind == "response"] == [ORIGIN_ADDRESS]

    both = guarded(origin, *entries, ARCHIVER_ALLOW=f"{OPEN_ORIGIN},127.0.0.2/32")
    proc = run(tmp_path / "second", "snapshot", url, *FAST, env=both)
    assert proc.returncode == 0, proc.stderr
    assert [h.path for h in neighbour.hits] == ["/page/multi"]

    only_refused = guarded(origin, entries[0])
    proc = run(tmp_path / "third", "snapshot", url, "--json", *FAST, env=only_refused)
    out = json.loads(proc.stdout)["urls"][0]
    assert (out["outcome"], out["error"]) == (
        "blocked_address", "multi.example.org (resolve override): 127.0.0.2 is loopback")
    assert len(neighbour.hits) == 1


# ------------------------------------------------------------------------------------------------
# Proxies


def test_a_configured_proxy_on_loopback_is_used_and_what_goes_through_it_is_judged(
    origin: TestServer, local: TestServer, storage: Path, tmp_path: Path
) -> None:
    """The proxy's own address is the user's choice (allowed though it is loopback); it resolves the
    names it is asked for, so a name goes through unjudged, but a literal address (in any form) or
    localhost is known before any lookup and refused."""
    with TestProxy(resolve={ORIGIN: ORIGIN_ADDRESS}) as proxy:
        env = child_env({"ARCHIVER_ALLOW_PRIVATE": "", "ARCHIVER_RETRIES": "0"})
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            env[name] = env[name.lower()] = proxy.url if name == "HTTP_PROXY" else ""
        named = site_url(origin, "page/through-proxy")
        urls = [named, local.url("page/literal"), f"http://localhost:{local.port}/page/localhost",
                f"http://2130706433:{local.port}/page/decimal"]
        manifest = tmp_path / "refs.txt"
        manifest.write_text("\n".join(urls))
        proc = run(storage, "snapshot", str(manifest), "--json", *FAST, env=env)
        assert TRIPPED not in proc.stderr, proc.stderr
        got = {u["url"]: (u["outcome"], u["http_status"], u["error"]) for u in json.loads(proc.stdout)["urls"]}
        assert got == {named: ("ok", 200, None),
                       urls[1]: ("blocked_address", None, "127.0.0.1 is loopback"),
                       urls[2]: ("blocked_address", None, "localhost is loopback (RFC 6761)"),
                       urls[3]: ("blocked_address", None, "2130706433: 127.0.0.1 is loopback")}
        assert proxy.log == [("GET", named)]
        assert local.hits == []
    peers = [ip for kind, uri, ip in archived(storage) if uri == named and kind == "response"]
    assert peers == ["127.0.0.1"]  # the peer connected is the proxy


# ------------------------------------------------------------------------------------------------
# Who may open it


def test_a_manifest_cannot_open_the_guard(storage: Path, tmp_path: Path) -> None:
    for name, text in {
        "top.yaml": "allow: ['127.0.0.0/8']\ncitations:\n  - url: http://127.0.0.1/x\n",
        "citation.yaml": "citations:\n  - url: http://127.0.0.1/x\n    allow_private: true\n",
    }.items():
        manifest = tmp_path / name
        manifest.write_text(text)
        result = invoke(storage, "snapshot", str(manifest), env={"ARCHIVER_ALLOW_PRIVATE": ""})
        assert result.exit_code == 3, result.output
        assert "unknown" in result.stderr and ("'allow'" in result.stderr or "'allow_private'" in result.stderr)


@pytest.mark.parametrize(("where", "value", "message"), [
    ("config", '["10.1.2.3/8"]', "allow entry '10.1.2.3/8' is not a CIDR network"),
    ("config", "8", "allow must be a list of CIDR strings"),
    ("env", "10.0.0.0/8,intranet", "allow entry 'intranet' is not a CIDR network"),
    ("env-private", "perhaps", "allow_private must be true or false"),
])
def test_bad_allow_settings_are_config_errors(where: str, value: str, message: str, storage: Path,
                                              tmp_path: Path) -> None:
    if where == "config":
        path = tmp_path / "archiver.toml"
        path.write_text(f"[archiver]\nallow = {value}\n")
        env = {"ARCHIVER_CONFIG": str(path)}
    else:
        env = {"ARCHIVER_ALLOW" if where == "env" else "ARCHIVER_ALLOW_PRIVATE": value}
    proc = run(storage, "snapshot", "http://guard.example.invalid/", env=env)  # .invalid: never resolved
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    if where == "config":
        assert str(tmp_path / "archiver.toml") in lines[0]
        if "/8" in value and "[" in value:
            assert "(the network is 10.0.0.0/8)" in lines[0]


@pytest.mark.parametrize("command", [["snapshot"], ["check"], ["daemon"], ["extract"]])
def test_every_fetching_command_takes_the_guard_options(command: list[str], storage: Path) -> None:
    result = invoke(storage, *command, "--help")
    assert result.exit_code == 0
    assert "--allow-private" in result.stdout and "--allow CIDR" in result.stdout
