"""Robust links in a YAML manifest: each citation with an archived copy gains
`memento: {url: COPY, datetime: INSTANT}` (a key manifests.py accepts), inserted as a line of its own
after the citation's last line (in a flow mapping `{...}`: before its `}`). A citation written as a
bare URL becomes a mapping by two insertions: `url: ` before it and the memento line after.
A citation that has a `memento` already is left as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..doi import doi_url
from ..errors import ManifestError, UsageError
from . import ArchivedLink, Edits, Found, Insertion


def manifest_links(path: Path, text: str) -> list[Found]:
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(f"{path}: only YAML manifests can carry mementos")
    bom = 1 if text.startswith("\ufeff") else 0
    try:
        root = yaml.compose(text[bom:], Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ManifestError(path, None, f"YAML: {exc}") from exc
    items = root
    if isinstance(root, yaml.MappingNode):
        items = next((value for key, value in root.value if key.value == "citations"), None)
    if not isinstance(items, yaml.SequenceNode):
        raise ManifestError(path, None, "expected a mapping with a 'citations' list")
    newline = "\r\n" if "\r\n" in text else "\n"
    found: list[Found] = []
    for node in items.value:
        if isinstance(node, yaml.ScalarNode):
            found.append(Found(node.value, _scalar(text, bom, node, newline)))
        elif isinstance(node, yaml.MappingNode):
            keys = {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}
            url = keys.get("url")
            doi = keys.get("doi")
            target = url.value if isinstance(url, yaml.ScalarNode) else \
                doi_url(str(doi.value)) if isinstance(doi, yaml.ScalarNode) else None
            if target is not None and "memento" not in keys and node.value:
                found.append(Found(str(target), _mapping(text, bom, node, newline)))
    return found


def _memento(copy: ArchivedLink) -> str:
    return f"memento: {{url: {json.dumps(copy.url)}, datetime: {json.dumps(copy.stamp)}}}"


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    if end == -1:
        return len(text)
    return end - 1 if text[end - 1:end] == "\r" else end


def _scalar(text: str, bom: int, node: yaml.ScalarNode, newline: str) -> Edits:
    start = node.start_mark.index + bom
    indent = " " * node.start_mark.column

    def edits(copy: ArchivedLink) -> list[Insertion]:
        return [Insertion(start, "url: "),
                Insertion(_line_end(text, node.end_mark.index + bom), f"{newline}{indent}{_memento(copy)}")]
    return edits


def _mapping(text: str, bom: int, node: yaml.MappingNode, newline: str) -> Edits:
    if node.flow_style:
        close = node.end_mark.index + bom - 1  # the "}"

        def flow(copy: ArchivedLink) -> list[Insertion]:
            return [Insertion(close, f", {_memento(copy)}")]
        return flow
    indent = " " * node.value[0][0].start_mark.column
    last = node.value[-1][1]
    end = last.end_mark.index + bom

    def block(copy: ArchivedLink) -> list[Insertion]:
        if text[end - 1:end] == "\n":  # a block scalar (| or >) ends after its line break
            return [Insertion(end, f"{indent}{_memento(copy)}{newline}")]
        return [Insertion(_line_end(text, end), f"{newline}{indent}{_memento(copy)}")]
    return block
