"""The optional extras (browser, media, replay, report, ...): the one `pip install` line every "needs
extra X" message gives, right for the way archiver was installed here.

A clone installed editable (`pip install -e .`) needs `pip install -e 'PATH[X]'`: `archiver[X]` would
fetch another archiver from the package index. pip records an editable install in the
distribution's direct_url.json (PEP 610: `dir_info.editable`).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit


def install_hint(extra: str) -> str:
    """The command that adds `extra` to this archiver, e.g. pip install -e '.[replay]'."""
    source = editable_source()
    if source is None:
        return f"pip install 'archiver[{extra}]'"
    where = "." if source.resolve() == Path.cwd().resolve() else str(source)  # the clone's own folder: '.'
    return f"pip install -e '{where}[{extra}]'"


def editable_source() -> Path | None:
    """The folder of an editable install (or of a source tree run without installing); None for an
    archiver installed from a package or a wheel."""
    from importlib import metadata

    tree = Path(__file__).resolve().parent.parent
    source = tree if (tree / "pyproject.toml").exists() else None
    try:
        text = metadata.distribution("archiver").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return source
    if not text:  # no record of how (e.g. the clone's own archiver.egg-info found first): where the code is
        return source
    try:
        direct = json.loads(text)
    except ValueError:
        return None
    url = str(direct.get("url", ""))
    if not (direct.get("dir_info") or {}).get("editable") or not url.startswith("file:"):
        return None
    return Path(unquote(urlsplit(url).path))
