"""Syntax trees -> `RatingPlan`, in ordered passes that collect diagnostics.

    settings -> (JSON contracts -> contract syntax) -> names -> issuing (grace, numbering)
             -> meters -> plans -> contracts -> checks -> lint

Many files compile as one project; names are global. `compile_paths` is the
one entry point the commands use: it loads files and directories, parses them,
runs the passes and returns everything a command needs to report or proceed.

JSON contracts (`--contracts FILE.json`) join the project as the syntax a
`contract` block parses to (`contracts_json`), so every pass, check and lint
that applies to a `contract` block applies to them, reported at their JSON path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..diagnostics import Diagnostic, SourceMap, Span, error, has_errors
from ..gcpause import gc_paused
from ..model import Issuing, RatingPlan
from ..syntax import nodes as n
from ..syntax import parse, without_bom
from . import build, checks
from .collect import names, settings
from .context import Context
from .contracts_json import contract_syntax
from .issuing import issuing
from .lint import LINTS, empty_files

PASSES = (names, issuing, build.build_meters, build.build_plans, build.build_contracts)


@dataclass
class Compiled:
    plan: RatingPlan | None
    diagnostics: list[Diagnostic]
    sources: SourceMap
    spans: dict[str, Span] = field(default_factory=dict)
    files: list[n.SourceFile] = field(default_factory=list)
    tests: list[n.TestBlock] = field(default_factory=list)
    issuing: Issuing = field(default_factory=Issuing)  # `grace` and `numbering`: how `issue` finalizes

    @property
    def ok(self) -> bool:
        return self.plan is not None and not has_errors(self.diagnostics)


class PathError(Exception):
    """A command-line path that does not exist or holds no .pricing files (exit 2)."""


def pricing_files(paths: Iterable[str]) -> list[Path]:
    """Expand files and directories (recursively, sorted) into .pricing files."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(x for x in p.rglob("*.pricing") if x.is_file())
            if not found:
                raise PathError(f"no .pricing files under {raw}")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise PathError(f"{raw} is not a regular file or a directory")
        else:
            raise PathError(f"no such file or directory: {raw}")
    seen = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_text(path: Path | str, what: str = "") -> tuple[str | None, Diagnostic | None]:
    """A UTF-8 file's text (without a byte order mark), or the E001 that says why not."""
    try:
        return without_bom(Path(path).read_text(encoding="utf-8")), None
    except UnicodeDecodeError as exc:
        return None, error("E001", f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, error("E001", f"cannot read {what}{path}: {exc.strerror}")


def compile_paths(paths: Sequence[str], *, lint: bool = True, contracts: Sequence[str] = ()) -> Compiled:
    """Compile the .pricing files under `paths`, with the JSON contracts files `contracts`."""
    sources: list[tuple[str, str]] = []
    diags: list[Diagnostic] = []
    for p in pricing_files(paths):
        text, problem = read_text(p)
        if problem is not None:
            diags.append(problem)
        else:
            sources.append((str(p), text))
    contract_sources: list[tuple[str, str]] = []
    for path in contracts:
        p = Path(path)
        if not p.is_file():
            raise PathError(f"no such contracts file: {path}" if not p.exists()
                            else f"contracts file {path} is not a regular file")
        text, problem = read_text(p, "contracts file ")
        if problem is not None:
            diags.append(error("E600", problem.message))
        else:
            contract_sources.append((str(path), text))
    result = compile_sources(sources, lint=lint, contracts=contract_sources)
    result.diagnostics[:0] = diags
    return result


def compile_sources(sources: Sequence[tuple[str, str]], *, lint: bool = True,
                    parse_file: Callable[[str, str], tuple[n.SourceFile | None, list[Diagnostic]]] | None = None,
                    contracts: Sequence[tuple[str, str]] = ()) -> Compiled:
    """Compile (path, text) pairs as one project, with JSON contracts as (path, text) pairs.

    `parse_file(text, path)` stands in for `syntax.parse`: the language server
    passes one that keeps the trees of files that did not change between edits
    (syntax trees are never modified, so one tree can serve many compiles).
    """
    with gc_paused():
        return _compile_sources(sources, lint=lint, parse_file=parse_file or parse, contracts=contracts)


def _compile_sources(sources: Sequence[tuple[str, str]], *, lint: bool, parse_file,
                     contracts: Sequence[tuple[str, str]] = ()) -> Compiled:
    source_map = SourceMap()
    files: list[n.SourceFile] = []
    diagnostics: list[Diagnostic] = []
    for path, text in sources:
        text = without_bom(text)
        source_map.add(path, text)
        tree, errs = parse_file(text, path)
        diagnostics.extend(errs)
        if tree is not None:
            files.append(tree)
    for path, text in contracts:
        source_map.add(path, without_bom(text))
    if diagnostics:
        # a file that does not parse leaves names undefined; checking the rest
        # would report those as cascading "unknown name" errors
        return Compiled(None, diagnostics, source_map, files=files)

    ctx = Context(list(files))
    settings(ctx)
    for path, text in contracts:
        tree, problems = contract_syntax(path, text, ctx.currency)
        ctx.diagnostics.extend(problems)
        if tree is not None:
            ctx.files.append(tree)
    for step in PASSES:
        step(ctx)
    plan = RatingPlan(
        currency=ctx.currency,
        rounding=ctx.rounding,
        meters=dict(sorted(ctx.meters.items())),
        plans=dict(sorted(ctx.plans.items())),
        contracts=dict(sorted(ctx.contracts.items())),
        origins=ctx.origins(),
    )
    # a condition on an unknown key leaves its rule unresolved for every later check
    ctx.unresolved |= checks.unknown_key_rules(plan)
    for check in checks.CHECKS:
        ctx.diagnostics.extend(check(plan, ctx.spans, ctx.unresolved))
    if lint:
        ctx.diagnostics.extend(empty_files(files))
        for rule in LINTS:
            ctx.diagnostics.extend(rule(plan, ctx.spans, ctx.unresolved))
    ctx.diagnostics.sort(key=Diagnostic.sort_key)
    return Compiled(plan, ctx.diagnostics, source_map, ctx.spans, ctx.files, ctx.test_nodes, ctx.issuing)
