"""The layout rules of docs/architecture.md, checked on the source tree.

These rules keep the pipeline visible in the tree (issue 14): stages that import one way,
modules small enough to read whole, and no reaching into another module's private names.
They read the code with `ast`, so they see function-level imports too (a lazy import is
still a dependency) and skip `if TYPE_CHECKING:` blocks (those never run).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "ratecard"
MAX_LINES = 500
MAX_LOOSE = 8  # loose modules beside cli.py and __init__.py

# What each stage may import, besides the ground and itself (docs/architecture.md).
GROUND = {"diagnostics", "io", "money", "limits", "model", "rules", "progress", "gcpause"}
MAY_IMPORT = {
    "syntax": set(),
    "compiler": {"syntax"},
    "usage": set(),
    "billing": {"usage"},
    "report": {"billing", "usage", "syntax"},
    "workflows": {"syntax", "compiler", "usage", "billing", "report"},
    "ledger": {"syntax", "compiler", "usage", "billing", "report"},
    "lsp": {"syntax", "compiler", "usage", "billing", "report", "workflows"},
    "commands": {"syntax", "compiler", "usage", "billing", "report", "workflows", "ledger", "lsp"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every import statement that can run, at any depth."""
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            stack.append(child)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imported(module: str) -> list[tuple[str, str | None, int]]:
    """(target module, imported name or None, line) for each ratecard import of MODULE."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names if a.name.startswith("ratecard")]
            continue
        base = _resolve(module, node)
        if not base.startswith("ratecard"):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in MODULES:
                found.append((sub, None, node.lineno))
            else:
                found.append((base, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imported(m) if t in MODULES and t != m} for m in MODULES}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_over_the_limit():
    long = {m: n for m, p in MODULES.items()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycles():
    edges = graph()
    # A package's __init__ importing its own modules is how packages re-export; the cycle
    # that matters is between modules, so a submodule's edge to its own package's
    # __init__ is left out only when that __init__ imports nothing back from it.
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_no_private_names_across_modules():
    found = [f"{m}:{line} imports {name} from {target}"
             for m in MODULES for target, name, line in imported(m)
             if name and name.startswith("_") and not name.startswith("__")]
    assert not found, "\n".join(found)


def test_few_loose_modules():
    loose = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in {"__init__", "cli", "__main__"})
    assert len(loose) <= MAX_LOOSE, f"{len(loose)} loose modules: {loose}"
    assert set(loose) <= GROUND, f"not ground modules: {set(loose) - GROUND}"


def test_stages_import_one_way():
    wrong = []
    for m in MODULES:
        own = stage(m)
        if own not in MAY_IMPORT:
            continue
        for target, _, line in imported(m):
            other = stage(target)
            if other and other != own and other not in GROUND and other not in MAY_IMPORT[own]:
                wrong.append(f"{m}:{line} ({own}) imports {target} ({other})")
    assert not wrong, "\n".join(wrong)


def test_rules_is_not_called_engine():
    """'engine' means the usage engine; rules is matching and specificity."""
    found = []
    for m, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for alias in node.names:
                if alias.name.endswith("rules") and alias.asname == "engine":
                    found.append(f"{m}:{node.lineno}")
    assert not found, found


def test_one_utc_and_one_first_line():
    found = []
    for m, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "UTC" for t in node.targets):
                found.append(f"{m}:{node.lineno} defines UTC (use datetime.UTC)")
            if isinstance(node, ast.FunctionDef) and node.name == "_first_line":
                found.append(f"{m}:{node.lineno} defines _first_line (use diagnostics.first_line)")
    assert not found, "\n".join(found)


def test_lark_internals_stay_in_the_shim():
    internals = ("UnlessCallback", "_future_new", "_plugins")
    found = [f"{m}" for m, p in MODULES.items()
             if m != "ratecard.syntax.lark_compat"
             and any(name in p.read_text(encoding="utf-8") for name in internals)]
    assert not found, found
