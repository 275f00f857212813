"""The slow path: naming each bad row, after an engine counted bad rows.

The engines check rows in bulk and only count the bad ones; here the files
are read row by row (`row_reader.read_rows`, each row judged by
`rows.row_problem`) to say which line is bad and why. With --skip-bad-rows,
DuckDB reads copies of the files without those lines (`write_clean_copy`),
and what it says about a copy is said about the user's file (`in_user_files`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from ..diagnostics import error
from ..model import RatingPlan
from .overflow import is_overflow, overflow_problem
from .records import BadRow
from .row_reader import clean_copy, read_rows
from .rows import UnreadableFile, needed_keys, row_problem
from .sources import engine_path


def scan_bad_rows(plan: RatingPlan, files: Sequence[str]) -> tuple[list[BadRow], dict[str, set[int]]]:
    """The slow path: every bad row of every file, by file and line."""
    by_type: dict[str, list] = {}
    for m in plan.meters.values():
        by_type.setdefault(m.event, []).append(m)
    keys = needed_keys(plan)
    bad: list[BadRow] = []
    lines: dict[str, set[int]] = {}
    for path in files:
        for line, obj, raw in read_rows(path):
            reason = obj if isinstance(obj, str) else row_problem(obj, by_type, keys)[0]
            if reason is not None:
                bad.append(BadRow(path, line, reason, raw))
                lines.setdefault(path, set()).add(line)
    return bad, lines


def locate_bad_rows(plan: RatingPlan, files: Sequence[str], failure: Exception | None = None):
    """After an engine found bad rows (or failed on a file): (bad rows, bad lines by
    file, None), or the E501 that explains why the rows cannot be named (the E506 when
    the engine failed on a sum of good rows, `overflow`)."""
    try:
        bad, lines = scan_bad_rows(plan, files)
    except (OSError, ValueError, UnreadableFile) as exc:
        return [], {}, error("E501", f"cannot read usage: {exc}")
    if not bad:
        why = (in_user_files(str(failure), {f: f for f in files}) if failure
               else f"the engine found bad rows the row reader did not, in {', '.join(files)}")
        if failure is not None and is_overflow(why):  # every row is good: their sum is not
            return [], {}, overflow_problem(plan, files, why)
        return [], {}, error("E501", f"cannot read usage: {why}")
    return bad, lines, None


def in_user_files(message: str, files: dict[str, str], lines: dict[str, list[int]] | None = None) -> str:
    """An engine's message with the names it was given for files (absolute, glob
    characters escaped; a cleaned copy) as the user wrote them, {engine's file: user's};
    with `lines` ({copy: the user's line of each of its lines}), a line of the copy
    the message names is the user's line."""
    named = [given for given in files if any(form in message for form in _forms(given))]
    if lines and len(named) == 1 and named[0] in lines:
        table = lines[named[0]]

        def user_line(m: re.Match) -> str:
            n = int(m.group(2))
            return m.group(1) + str(table[n - 1] if 0 < n <= len(table) else n)
        message = re.sub(r"(?i)(\bline:?\s*)(\d+)", user_line, message)
    for given, user in sorted(files.items(), key=lambda kv: -len(kv[0])):
        for form in _forms(given):
            message = message.replace(form, user)
    return message


def _forms(path: str) -> tuple[str, ...]:
    return engine_path(path), os.path.abspath(path), path


def write_clean_copy(path: str, bad_lines: set[int], folder: str) -> tuple[str, list[int]]:
    """A copy of `path` without its bad rows, in the same format, and the user's line
    of each of its lines (`row_reader.clean_copy`)."""
    target = os.path.join(folder, f"{len(os.listdir(folder))}-{Path(path).name}")
    return target, clean_copy(path, bad_lines, target)
