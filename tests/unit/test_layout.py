"""The package's shape is checked, not hoped for: no import cycles, no private names imported from
another module, no module over 600 lines, every module says what it owns in its docstring.

Imports are read from the source with `ast` (nothing is imported), including those inside functions:
a lazy import still makes a cycle for the reader, and `TYPE_CHECKING` imports count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "archiver"
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every archiver import in `path`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("archiver"):
                continue
            names = [a.name for a in node.names]
            # `from . import x` names a module when x is one.
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            for sub in submodules:
                yield sub, [], node.lineno
            rest = [n for n in names if f"{target}.{n}" not in known]
            if rest or not submodules:
                yield target, rest, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("archiver"):
                    yield alias.name, [], node.lineno


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _, _ in imports(name, path, known):
            if target in known and target != name:
                edges[name].add(target)
    return edges


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ that re-exports its own submodules is not a cycle for the reader.
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    for name in packages:
        edges[name] = {t for t in edges[name] if not t.startswith(name + ".")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_private_name_imported_from_another_module() -> None:
    known = modules()
    found = []
    for name, path in known.items():
        for target, names, line in imports(name, path, known):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != name:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {', '.join(private)} from {target}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_modules_are_small() -> None:
    big = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_every_module_says_what_it_owns() -> None:
    silent = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
              if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text()))]
    assert not silent, f"modules without a docstring: {silent}"


def test_the_checker_sees_a_cycle_and_a_private_import(tmp_path: Path) -> None:
    """The walk above must be able to fail: feed it a package with both faults."""
    global PACKAGE
    saved = PACKAGE
    pkg = tmp_path / "archiver"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""x"""\n')
    (pkg / "a.py").write_text('"""a"""\nfrom .b import _hidden\n')
    (pkg / "b.py").write_text('"""b"""\ndef f() -> None:\n    from . import a\n_hidden = 1\n')
    PACKAGE = pkg
    try:
        edges = graph()
        assert edges["archiver.a"] == {"archiver.b"} and edges["archiver.b"] == {"archiver.a"}
        try:
            test_no_private_name_imported_from_another_module()
        except AssertionError as exc:
            assert "_hidden from archiver.b" in str(exc)
        else:
            raise AssertionError("a private import went unseen")
        try:
            test_no_import_cycles()
        except AssertionError as exc:
            assert "archiver.a -> archiver.b -> archiver.a" in str(exc)
        else:
            raise AssertionError("a cycle went unseen")
    finally:
        PACKAGE = saved
