"""Pricing contracts in forked processes: a streaming run's use of the other cores.

Once the usage stage is done, pricing is pure Python: one core, while DuckDB
used them all. Contracts are priced independently of each other, so a large
streaming run (`ratecard invoice --format json`) splits the contracts, in
their run order, into contiguous ranges; the first range is priced here and
each other range in a child made with `os.fork()` (it inherits the plan and
the aggregates without copying them up front). Each child writes its
invoices' JSON to a spool of its own and sends back, pickled, what the run
needs besides (breakage, diagnostics, how many invoices it wrote); the
spools are joined in range order, so the output is byte-identical to pricing
in one process.

A child that cannot be forked, fails or is killed has its range priced here
instead: the result never depends on whether the split worked. Without
`os.fork` (Windows) or below `MIN_LINES` usage lines, nothing is split.

`invoice -o DIR` splits the same way, and renders and writes each range's
files in the process that prices it; its sink splits from fewer lines
(`min_lines`), since rendering a line costs more than pricing it.
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Below this many usage lines a run is priced in one process: forking and
# joining spools cost more than they save (the measurements: docs/scale.md,
# "Histories: billing").
MIN_LINES = 50_000


def ranges(items: Sequence[T], workers: int, lines: int,
           weights: Sequence[int] | None = None, minimum: int = MIN_LINES) -> list[list[T]]:
    """`items` in up to `workers` contiguous ranges of near-equal weight (by default
    one per item: near-equal size); one range when splitting is not worth it
    (fewer than `minimum` lines) or not possible here. Weighted by their lines,
    contracts on a plan with more meters or a shorter cycle do not leave one
    process waiting for the other."""
    workers = min(workers, len(items))
    if workers < 2 or lines < minimum or not hasattr(os, "fork"):
        return [list(items)]
    weights = list(weights) if weights is not None and any(weights) else [1] * len(items)  # no weight: by count
    total = sum(weights)
    out: list[list[T]] = [[]]
    done = 0
    for index, (item, weight) in enumerate(zip(items, weights)):
        # the next range starts once this one holds its share (or every later range needs an item)
        if out[-1] and len(out) < workers and (done * workers >= total * len(out)
                                               or len(items) - index <= workers - len(out)):
            out.append([])
        out[-1].append(item)
        done += weight
    return out


def run_in_parts(parts: Sequence[T], work: Callable[[int, T], R]) -> list[R]:
    """[work(0, parts[0]), work(1, parts[1]), ...], `parts[1:]` each in a forked child.

    `work` must not print: a child's output would interleave with the parent's.
    """
    children: list[tuple[int, int | None, object]] = []
    try:
        for index in range(1, len(parts)):
            result_file = tempfile.TemporaryFile()
            try:
                pid = os.fork()
            except OSError:
                pid = None  # priced here after all
            if pid == 0:  # pragma: no cover - the child: runs and leaves without cleanup
                code = 1
                try:
                    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the parent cleans up
                        signal.signal(signum, signal.SIG_DFL)
                    result = work(index, parts[index])
                    pickle.dump(result, result_file, protocol=pickle.HIGHEST_PROTOCOL)
                    result_file.flush()
                    code = 0
                finally:
                    os._exit(code)
            children.append((index, pid, result_file))
        results = [work(0, parts[0])]
        for index, pid, result_file in children:
            results.append(_collect(pid, result_file, lambda i=index: work(i, parts[i])))
        children = []
        return results
    finally:
        for _, pid, result_file in children:  # the parent failed: stop the children
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
            result_file.close()  # type: ignore[attr-defined]


def _collect(pid: int | None, result_file, redo: Callable[[], R]) -> R:
    try:
        if pid is not None:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) == 0:
                result_file.seek(0)
                try:
                    return pickle.load(result_file)
                except Exception:  # a truncated result: price the range here
                    pass
        return redo()
    finally:
        result_file.close()
