"""The `warc_store` setting and the store's own rules, on a file:// store (no server needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import ConfigError, StorageError
from archiver.warcstore import RemoteWarcs, open_read


@pytest.mark.parametrize("url", ["s3://bucket/prefix", "s3://bucket", "file:///srv/warcs/", "gs://b/p"])
def test_store_urls_accepted(url: str) -> None:
    settings = load_settings(env={"ARCHIVER_WARC_STORE": url, "ARCHIVER_WARC_CACHE": "yes"})
    assert settings.warc_store == url.rstrip("/") and settings.warc_cache


@pytest.mark.parametrize("url", ["bucket/prefix", "s3://", "file://relative/path", "S3 ://b"])
def test_store_urls_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="warc_store"):
        load_settings(env={}, warc_store=url)


def test_default_is_no_store() -> None:
    settings = load_settings(env={})
    assert settings.warc_store is None and not settings.warc_cache


def test_publish_checks_the_copy_then_removes_the_local_file(tmp_path: Path) -> None:
    root, store = tmp_path / "storage", tmp_path / "store"
    (root / "warcs").mkdir(parents=True)
    local = root / "warcs" / "a.warc.gz"
    local.write_bytes(b"whole records")
    remote = RemoteWarcs(store.as_uri(), root)
    with pytest.raises(StorageError, match="recorded 5 bytes"):  # a row that does not match: kept here
        remote.publish(local, "warcs/a.warc.gz", 5, "0" * 64)
    assert local.exists()
    remote.publish(local, "warcs/a.warc.gz", 13, hashlib.sha256(b"whole records").hexdigest())
    assert not local.exists() and (store / "warcs" / "a.warc.gz").read_bytes() == b"whole records"
    with open_read(remote, local) as handle:  # gone here: read from the store
        assert handle.read() == b"whole records"
    assert remote.size("warcs/a.warc.gz") == 13 and remote.size("warcs/b.warc.gz") is None
    with pytest.raises(FileNotFoundError):
        open_read(remote, root / "warcs" / "b.warc.gz")
