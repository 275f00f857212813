"""Golden files: expected output kept next to the tests, rewritten only on request.

`pytest --update-golden` rewrites every golden file a test compares against, so
changing an expectation is a reviewed diff of the golden file, never a hand edit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(relative: str, actual: str, update: bool, normalise=None) -> None:
    """`actual` equals the golden file (both passed through `normalise` when given)."""
    path = GOLDEN / relative
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; run `pytest --update-golden` and review it")
    expected = path.read_text(encoding="utf-8")
    if normalise is not None:
        actual, expected = normalise(actual), normalise(expected)
    assert actual == expected, f"output differs from {path} (run `pytest --update-golden` to accept)"
