"""Syntax trees -> `RatingPlan`, in ordered passes that collect diagnostics.

    collect (settings, names) -> issuing (grace, numbering) -> meters -> plans -> contracts
      -> checks -> lint

Many files compile as one project; names are global. `compile_paths` is the
one entry point the commands use: it loads files and directories, parses them,
runs the passes and returns everything a command needs to report or proceed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from ..diagnostics import Diagnostic, SourceMap, Span, error, has_errors
from ..gcpause import gc_paused
from ..model import Issuing, RatingPlan
from ..syntax import nodes as n
from ..syntax import parse
from . import build, checks
from .collect import collect
from .context import Context
from .issuing import issuing

PASSES = (collect, issuing, build.build_meters, build.build_plans, build.build_contracts)


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


def compile_paths(paths: Sequence[str], *, lint: bool = True) -> Compiled:
    sources: list[tuple[str, str]] = []
    diags: list[Diagnostic] = []
    for p in pricing_files(paths):
        try:
            sources.append((str(p), p.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            diags.append(error("E001", f"{p} is not UTF-8 text ({exc.reason} at byte {exc.start})"))
        except OSError as exc:
            diags.append(error("E001", f"cannot read {p}: {exc.strerror}"))
    result = compile_sources(sources, lint=lint)
    result.diagnostics[:0] = diags
    return result


def compile_sources(sources: Sequence[tuple[str, str]], *, lint: bool = True) -> Compiled:
    """Compile (path, text) pairs as one project."""
    with gc_paused():
        return _compile_sources(sources, lint=lint)


def _compile_sources(sources: Sequence[tuple[str, str]], *, lint: bool) -> Compiled:
    source_map = SourceMap()
    files: list[n.SourceFile] = []
    diagnostics: list[Diagnostic] = []
    for path, text in sources:
        source_map.add(path, text)
        tree, errs = parse(text, path)
        diagnostics.extend(errs)
        if tree is not None:
            files.append(tree)
    if diagnostics:
        # a file that does not parse leaves names undefined; checking the rest
        # would report those as cascading "unknown name" errors
        return Compiled(None, diagnostics, source_map, files=files)

    ctx = Context(files)
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
    for check in checks.CHECKS:
        ctx.diagnostics.extend(check(plan, ctx.spans))
    if lint:
        from ..lint import LINTS

        for rule in LINTS:
            ctx.diagnostics.extend(rule(plan, ctx.spans))
    ctx.diagnostics.sort(key=Diagnostic.sort_key)
    return Compiled(plan, ctx.diagnostics, source_map, ctx.spans, files, ctx.test_nodes, ctx.issuing)
