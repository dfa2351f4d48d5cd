"""One frozen settings object, built from defaults, then a config file, then ARCHIVER_* env, then flags."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from .errors import ConfigError

REPLAY_HOST = "127.0.0.1"  # `archiver replay` serves loopback only
REPLAY_PORT = 8080  # unless told otherwise; replay links point here
DEFAULT_USER_AGENT = (
    f"archiver/{__version__} (keeps the sources cited in papers; python-requests)"
)
# Well-known sites of different operators (and one that answers where the others are filtered): a
# run whose probe reaches none of them, while most of its own hosts fail too, was offline (offline.py).
DEFAULT_REACHABILITY = ("https://www.wikipedia.org/", "https://www.cloudflare.com/", "https://www.microsoft.com/",
                        "https://www.baidu.com/")


@dataclass(frozen=True)
class Settings:
    storage: Path = Path("storage")
    db: Path | None = None  # None: <storage>/archiver.db
    concurrency: int = 16
    per_host: int = 1
    per_host_delay: float = 1.0
    connect_timeout: float = 10.0
    timeout: float = 30.0  # read timeout: the longest silence tolerated from a server
    total_timeout: float = 120.0  # cap on one fetch, redirects and retries included
    max_size: int = 100 * 1024 * 1024
    max_media: int = 500 * 1024 * 1024  # media files (yt-dlp, media.py) kept for one page, in all
    max_redirects: int = 20
    retries: int = 2
    backoff: float = 1.0
    max_retry_after: float = 60.0
    user_agent: str = DEFAULT_USER_AGENT
    warc_max_size: int = 1024**3
    gzip_level: int = 3  # zlib level of WARC records (0-9); already-compressed bodies always get 1
    quiet: bool = False
    # The resolver override, like curl's --resolve: "host:port:address" entries (see resolve_map).
    resolve: tuple[str, ...] = ()
    # The network-down guard (offline.py): URLs the reachability probe connects to (none: no probe),
    # and the share of a run's hosts that must be unreachable for the run to be judged offline.
    reachability: tuple[str, ...] = DEFAULT_REACHABILITY
    offline_share: float = 0.5
    # The address guard (fetch/guard.py): closed to every non-public address unless opened here.
    allow_private: bool = False  # open loopback, RFC 1918, ULA, link-local, CGNAT
    allow: tuple[str, ...] = ()  # open exactly these networks (CIDR strings)
    # Browser capture (archiver/browser/): http, browser, or auto (the browser for pages that need it).
    capture: str = "auto"
    browser_pages: int = 4  # pages rendered at once
    browser_timeout: float = 30.0  # cap on one page's rendering: load, settling, scrolling
    browser_max_requests: int = 1000  # sub-resources one page may fetch; further ones are refused
    # Web archives asked for copies (archiver/copies/): each entry a default archive's name, or its own
    # fields as (key, value) pairs (name, timemap, timegate, wayback, cdx, save); empty: the default list.
    archives: tuple[tuple[tuple[str, str], ...], ...] = ()
    # Evidence (archiver/evidence/): the tamper-evident log of what is stored (on unless switched off,
    # e.g. to measure its cost), and the RFC 3161 Time Stamping Authorities its head is sent to when a
    # WARC file closes and by `archiver stamp`: (url, ca_bundle) pairs; none by default.
    ledger: bool = True
    tsa: tuple[tuple[str, str], ...] = ()
    # `copies --save` (copies/save.py): saves asked per run at most, and how a save job is awaited.
    # The archive's keys come from the environment only (never a setting: never in a config file).
    save_max: int = 20
    save_poll: float = 5.0  # seconds between status requests of a save job
    save_wait: float = 120.0  # a job still pending after this long is recorded 'pending'
    # Snapshot and check on a Dask cluster (archiver/cluster/): `local:N` (a LocalCluster of N worker
    # processes) or a scheduler's address (`tcp://host:port`); None: in this process.
    cluster: str | None = None
    # Where closed WARC files live (warcstore.py): an fsspec URL (s3://bucket/prefix, file:///path);
    # None: in the storage folder. With `warc_cache`, a copy stays in <storage>/cache/ after upload.
    warc_store: str | None = None
    warc_cache: bool = False

    @property
    def db_path(self) -> Path:
        return self.db if self.db is not None else self.storage / "archiver.db"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


_POSITIVE_INT = {"save_max", "concurrency", "per_host", "max_size", "max_media", "max_redirects", "warc_max_size",
                 "browser_pages", "browser_max_requests"}
CAPTURE_MODES = ("http", "browser", "auto")
_INT = _POSITIVE_INT | {"retries", "gzip_level"}
_NON_NEGATIVE = {"per_host_delay", "retries", "backoff", "max_retry_after"}
_POSITIVE_FLOAT = {"save_poll", "save_wait", "connect_timeout", "timeout", "total_timeout", "browser_timeout"}


def _coerce(name: str, value: Any, origin: str) -> Any:
    field = {f.name: f for f in fields(Settings)}.get(name)
    if field is None:
        raise ConfigError(f"{origin}: unknown setting {name!r}")
    try:
        if name in ("storage", "db"):
            return Path(str(value))
        if name in ("user_agent",):
            return str(value)
        if name == "capture":
            return capture_mode(value, origin)
        if name == "cluster":
            return cluster_address(value, origin)
        if name == "warc_store":
            return store_url(value, origin)
        if name == "resolve":
            return _resolve_entries(value, origin)
        if name == "reachability":
            return _reachability_urls(value, origin)
        if name == "allow":
            return _allow_entries(value, origin)
        if name == "archives":
            return _archive_entries(value, origin)
        if name in ("allow_private", "ledger", "warc_cache"):
            return _switch(name, value, origin)
        if name == "tsa":
            return _tsa_entries(value, origin)
        if name == "quiet":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        if isinstance(value, bool):  # TOML's true is no number, though Python would take it for 1
            raise TypeError(value)
        number: float = int(value) if name in _INT else float(value)
        if not math.isfinite(number):
            raise ValueError(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{origin}: {name} must be a number, got {value!r}") from exc
    if name in _POSITIVE_INT | _POSITIVE_FLOAT and number <= 0:
        raise ConfigError(f"{origin}: {name} must be greater than 0, got {value!r}")
    if name == "offline_share" and not 0 < number <= 1:
        raise ConfigError(f"{origin}: offline_share must be a share of hosts, more than 0 and at most 1,"
                          f" got {value!r}")
    if name == "gzip_level" and not 0 <= number <= 9:
        raise ConfigError(f"{origin}: gzip_level must be 0-9, got {value!r}")
    if name in _NON_NEGATIVE and number < 0:
        raise ConfigError(f"{origin}: {name} must not be negative, got {value!r}")
    return number


def capture_mode(value: Any, origin: str) -> str:
    """One of CAPTURE_MODES, or ConfigError naming where the value came from."""
    mode = str(value).strip().lower()
    if mode not in CAPTURE_MODES:
        raise ConfigError(f"{origin}: capture must be one of {', '.join(CAPTURE_MODES)}, got {value!r}")
    return mode


def cluster_address(value: Any, origin: str) -> str | None:
    """`local:N` (N >= 1) or a scheduler's address with its scheme (`tcp://host:port`); empty: none."""
    text = str(value).strip()
    if not text:
        return None
    if text.startswith("local:"):
        if text[6:].isdigit() and int(text[6:]) >= 1:
            return text
    elif re.fullmatch(r"[a-z][a-z0-9+]*://\S+", text):
        return text
    raise ConfigError(f"{origin}: cluster must be local:N or a scheduler address like tcp://host:8786, got {value!r}")


def store_url(value: Any, origin: str) -> str | None:
    """An fsspec URL with a scheme and a place (`s3://bucket/prefix`, `file:///path`); empty: none."""
    text = str(value).strip().rstrip("/")
    if not text:
        return None
    scheme, sep, rest = text.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+]*", scheme) or not rest.strip("/"):
        raise ConfigError(f"{origin}: warc_store must be a URL like s3://bucket/prefix or file:///path, got {value!r}")
    if scheme == "file" and not rest.startswith("/"):
        raise ConfigError(f"{origin}: warc_store file:// URL needs an absolute path (file:///path), got {value!r}")
    return text


def parse_resolve(entry: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """`host:port:address` -> ((host, port), (address, port)). The address is an IP address, an IPv6
    one in brackets, and may carry a port of its own (`127.0.0.1:8443`, as curl's --connect-to does).
    Raises ValueError saying what is wrong."""
    host, port, address = (entry.strip().split(":", 2) + ["", ""])[:3]
    host = host.lower().rstrip(".")
    if not host or not address:
        raise ValueError("not host:port:address")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # URL hosts are compared in their IDNA form
    if address.startswith("["):
        address, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("an IPv6 address goes in brackets: [::1]")
        connect_port = rest[1:]
    elif address.count(":") > 1:
        raise ValueError("an IPv6 address goes in brackets: [::1]")
    else:
        address, _, connect_port = address.partition(":")
    try:
        ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None
    return (host, _port(port)), (address, _port(connect_port) if connect_port else _port(port))


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"port {text!r} is not 1-65535")
    return int(text)


def resolve_map(entries: Iterable[str]) -> dict[tuple[str, int], tuple[tuple[str, int], ...]]:
    """The override as the fetcher looks it up: (host, port) -> the (address, port)s to connect to, in
    order. Several entries for one host:port are several addresses, tried in turn like DNS answers."""
    mapping: dict[tuple[str, int], tuple[tuple[str, int], ...]] = {}
    for entry in entries:
        try:
            key, target = parse_resolve(entry)
        except ValueError as exc:
            raise ConfigError(f"resolve entry {entry!r}: {exc}") from exc
        if target not in mapping.get(key, ()):
            mapping[key] = (*mapping.get(key, ()), target)
    return mapping


def _resolve_entries(value: Any, origin: str) -> tuple[str, ...]:
    """A list (config file) or one comma-separated string (environment, flag) of entries."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{origin}: resolve must be a list of \"host:port:address\" strings, got {value!r}")
    entries = tuple(item.strip() for item in items if item.strip())
    try:
        resolve_map(entries)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc
    return entries


def _reachability_urls(value: Any, origin: str) -> tuple[str, ...]:
    """A list (config file) or one comma-separated string (environment) of http(s) URLs; empty: no probe."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{origin}: reachability must be a list of http(s) URLs, got {value!r}")
    urls = tuple(item.strip() for item in items if item.strip())
    for url in urls:
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 (a bad port raises here)
        except ValueError as exc:
            raise ConfigError(f"{origin}: reachability URL {url!r}: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{origin}: reachability URL {url!r} is not an http(s) URL with a host")
    return urls
def _switch(name: str, value: Any, origin: str) -> bool:
    """A yes/no setting: TOML's true/false, or 1/0, true/false, yes/no, on/off (empty: no) as text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{origin}: {name} must be true or false (1/0, yes/no), got {value!r}")


def _allow_entries(value: Any, origin: str) -> tuple[str, ...]:
    """The networks the address guard opens: a list (config file) or one comma-separated string
    (environment, flag) of CIDRs ("10.0.0.0/8", "fd00::/8"; a bare address is its /32 or /128)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ConfigError(f"{origin}: allow must be a list of CIDR strings like \"10.0.0.0/8\", got {value!r}")
    networks = []
    for item in (item.strip() for item in items if item.strip()):
        try:
            network = ip_network(item.removeprefix("[").replace("]", ""), strict=True)
        except ValueError as exc:
            hint = ""
            try:
                hint = f" (the network is {ip_network(item, strict=False)})"
            except ValueError:
                pass
            raise ConfigError(f"{origin}: allow entry {item!r} is not a CIDR network: {exc}{hint}") from None
        networks.append(str(network))
    return tuple(networks)


ARCHIVE_KEYS = ("name", "timemap", "timegate", "wayback", "cdx", "save")


def _archive_entries(value: Any, origin: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """`archives`: a list of names (a default archive) and tables (name, timemap and/or timegate URL
    templates with `{url}`, wayback: true when the archive serves `<14 digits>id_/` raw mementos, cdx:
    its Wayback CDX API, save: its Save Page Now 2 endpoint);
    a comma-separated list of names in the environment."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: archives must be a list of names or tables, got {value!r}")
    out: list[tuple[tuple[str, str], ...]] = []
    for item in items:
        if isinstance(item, str) and item.strip():
            out.append((("name", item.strip()),))
        elif isinstance(item, dict) and item.get("name") and set(item) <= set(ARCHIVE_KEYS):
            if not (item.get("timemap") or item.get("timegate")):
                raise ConfigError(f"{origin}: archive {item['name']!r} needs a timemap or a timegate URL")
            if item.get("cdx") and not (item.get("timegate") and item.get("wayback")):
                raise ConfigError(f"{origin}: archive {item['name']!r}: a cdx endpoint needs a Wayback-style"
                                  " timegate (wayback = true), the prefix of its mementos")
            out.append(tuple((k, str(item[k]).lower() if isinstance(item[k], bool) else str(item[k]))
                             for k in ARCHIVE_KEYS if k in item))
        else:
            raise ConfigError(f"{origin}: archives entry {item!r}: a name, or a table of {', '.join(ARCHIVE_KEYS)}")
    return tuple(out)


def _tsa_entries(value: Any, origin: str) -> tuple[tuple[str, str], ...]:
    """`tsa`: a list of tables {url, ca_bundle} (the CA bundle, PEM, that the TSA's certificate chains
    to); in the environment, `url|ca_bundle` entries separated by commas."""
    items = [dict(zip(("url", "ca_bundle"), i.split("|", 1), strict=False)) for i in value.split(",") if i.strip()] \
        if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: tsa must be a list of tables {{url, ca_bundle}}, got {value!r}")
    out = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"url", "ca_bundle"} or not all(
                isinstance(v, str) and v.strip() for v in item.values()):
            raise ConfigError(f"{origin}: tsa entry {item!r}: a table of url and ca_bundle")
        parts = urlsplit(item["url"].strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{origin}: tsa URL {item['url']!r} is not an http(s) URL with a host")
        out.append((item["url"].strip(), item["ca_bundle"].strip()))
    return tuple(out)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    section = data.get("archiver", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [archiver] must be a table")
    return {k.replace("-", "_"): _coerce(k.replace("-", "_"), v, str(path)) for k, v in section.items()}


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    names = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("ARCHIVER_") and key != "ARCHIVER_CONFIG":
            name = key[len("ARCHIVER_") :].lower()
            if name in names:
                out[name] = _coerce(name, value, f"environment {key}")
    return out


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Defaults, then the config file (flag, ARCHIVER_CONFIG, or ./archiver.toml), then env, then flags."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    if config_file is None and env.get("ARCHIVER_CONFIG"):
        config_file = Path(env["ARCHIVER_CONFIG"])
    if config_file is None and Path("archiver.toml").is_file():
        config_file = Path("archiver.toml")
    if config_file is not None:
        values.update(_from_file(config_file))
    values.update(_from_env(env))
    values.update(
        {k: _coerce(k, v, f"option --{k.replace('_', '-')}") for k, v in flags.items() if v is not None}
    )
    return Settings(**values)
