"""The workspace compiled: open buffers over the `.pricing` files on disk.

Every feature of the server reads an `Analysis`: one project's sources (the
editor's unsaved text wins over the file), the compiler's result for them
(`compile_sources`, with lint, exactly what `ratecard check DIR` reports) and
the name index built from the syntax trees.

Analyses are cached per project and keyed by every source's name and text, so
a request after an edit compiles once and every other request reuses it; the
trees of the files an edit did not touch are reused (`ParseCache`).
Diagnostics are published after a pause in typing (`Debouncer`), so a burst of
keystrokes compiles once, at the end.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Mapping

from ..compiler import Compiled, compile_sources
from ..diagnostics import Diagnostic, Span, error
from ..gcpause import gc_paused
from ..model import RatingPlan
from ..syntax import nodes as n
from ..syntax import parse
from .positions import lines_of
from .project import DiskTexts, Project
from .symbols import Index, build_index


@dataclass
class Analysis:
    project: Project
    key: tuple
    compiled: Compiled
    index: Index
    paths: dict[str, Path]  # file name as the compiler saw it -> absolute path
    texts: dict[str, str]
    unreadable: dict[str, Diagnostic]  # E001 per file that could not be read
    elapsed: float  # seconds spent compiling and indexing
    plan: RatingPlan | None = None  # this compile's plan, else the last one that compiled
    plan_is_stale: bool = False
    names: Index | None = None  # the index with the last good tree of each broken file
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _model_ids: dict[Span, str] | None = field(default=None, repr=False)

    def name_of(self, path: Path) -> str | None:
        name = self.project.name(path.resolve())
        return name if name in self.paths else None

    def lines(self, name: str) -> list[str]:
        found = self._lines.get(name)
        if found is None:
            found = self._lines[name] = lines_of(self.texts.get(name, ""))
        return found

    def tree(self, name: str) -> n.SourceFile | None:
        return next((f for f in self.compiled.files if f.path == name), None)

    def model_id(self, span: Span) -> str | None:
        """The compiled model's id (rule, credit grant, ...) written at `span`."""
        if self._model_ids is None:
            self._model_ids = {s: k for k, s in self.compiled.spans.items()}
        return self._model_ids.get(span)

    def diagnostics_by_file(self) -> dict[str, list[Diagnostic]]:
        """Every diagnostic on the file it is about; each file of the project has an entry."""
        out: dict[str, list[Diagnostic]] = {name: [] for name in self.paths}
        for name, diag in self.unreadable.items():
            out[name].append(diag)
        first = next(iter(self.paths), None)
        for diag in self.compiled.diagnostics:
            name = diag.span.file if diag.span is not None else first
            if name in out:
                out[name].append(diag)
        return out


class ParseCache:
    """`syntax.parse` that remembers each file's last text and result.

    An edit changes one file; the project's other files keep their trees, so
    a re-analysis parses one file instead of all of them.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[str, tuple]] = {}

    def __call__(self, text: str, path: str):
        found = self._last.get(path)
        if found is not None and found[0] == text:
            return found[1][0], list(found[1][1])
        tree, diags = parse(text, path)
        self._last[path] = (text, (tree, tuple(diags)))
        return tree, diags

    def keep(self, paths) -> None:
        """Forget the files that are no longer part of the project."""
        for gone in set(self._last) - set(paths):
            del self._last[gone]


class Analyzer:
    """Compiles projects on demand and keeps the latest analysis of each."""

    def __init__(self, disk: DiskTexts | None = None) -> None:
        self.disk = disk or DiskTexts()
        self._parses: dict[Path, ParseCache] = {}
        self._latest: dict[Path, Analysis] = {}
        self._good_trees: dict[Path, dict[str, n.SourceFile]] = {}
        self._good_plan: dict[Path, RatingPlan] = {}
        self._lock = threading.Lock()

    def latest(self, project: Project) -> Analysis | None:
        return self._latest.get(project.root)

    def analyse(self, project: Project, buffers: Mapping[Path, str]) -> Analysis:
        """The project with `buffers` (open documents' text by path) over the files on disk."""
        paths = set(project.files()) | {p for p in buffers if project.contains(p)}
        sources: list[tuple[str, str]] = []
        names: dict[str, Path] = {}
        unreadable: dict[str, Diagnostic] = {}
        for path in sorted(paths):
            name = project.name(path)
            names[name] = path
            text = buffers.get(path)
            if text is None:
                text, problem = self.disk.read(path)
                if text is None:
                    unreadable[name] = _unreadable(name, problem)
                    continue
            sources.append((name, text))
        key = (tuple(sources), tuple(sorted(unreadable)))
        with self._lock:
            cached = self._latest.get(project.root)
            if cached is not None and cached.key == key:
                return cached
            started = time.perf_counter()
            parses = self._parses.setdefault(project.root, ParseCache())
            parses.keep(name for name, _ in sources)
            compiled = compile_sources(sources, parse_file=parses)
            with gc_paused():  # as in the compiler: many small long-lived objects, no cycles
                index = build_index(compiled.files)
            analysis = Analysis(project, key, compiled, index, names, dict(sources), unreadable,
                                time.perf_counter() - started)
            self._remember(analysis)
            self._latest[project.root] = analysis
        return analysis

    def _remember(self, a: Analysis) -> None:
        """Keep the last good tree of each file and the last plan, for name completion and hover
        while a file does not parse (positions are only ever taken from the current text)."""
        root = a.project.root
        good = self._good_trees.setdefault(root, {})
        for tree in a.compiled.files:
            good[tree.path] = tree
        for gone in set(good) - set(a.paths):
            del good[gone]
        parsed = {t.path for t in a.compiled.files}
        stale = [good[name] for name in a.paths if name not in parsed and name in good]
        a.names = build_index(list(a.compiled.files) + stale) if stale else a.index
        if a.compiled.plan is not None:
            self._good_plan[root] = a.compiled.plan
            a.plan = a.compiled.plan
        else:
            a.plan = self._good_plan.get(root)
            a.plan_is_stale = a.plan is not None


def _unreadable(name: str, problem: Exception | None) -> Diagnostic:
    """The E001 `compile_paths` reports for a file it cannot read, in the same words."""
    if isinstance(problem, UnicodeDecodeError):
        return error("E001", f"{name} is not UTF-8 text ({problem.reason} at byte {problem.start})")
    reason = getattr(problem, "strerror", None) or str(problem)
    return error("E001", f"cannot read {name}: {reason}")


class Debouncer:
    """Runs a coroutine for a key once `delay` seconds pass without another request for it."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._handles: dict[object, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task] = set()

    def call(self, key: object, action: Callable[[], Awaitable[None]], delay: float | None = None) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_running_loop()
        self._handles[key] = loop.call_later(self.delay if delay is None else delay,
                                             self._start, key, action)

    def _start(self, key: object, action: Callable[[], Awaitable[None]]) -> None:
        self._handles.pop(key, None)
        task = asyncio.ensure_future(action())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
