"""Helpers of `ratecard.diagnostics` that the stages share."""

from __future__ import annotations

import pytest

from ratecard.diagnostics import first_line


class EngineError(Exception):
    pass


@pytest.mark.parametrize("exc, expected", [
    (EngineError("Binder Error: column \"tokens\" not found\nLINE 1: SELECT tokens ...\n        ^"),
     'Binder Error: column "tokens" not found'),
    (EngineError("\n  [PATH_NOT_FOUND] Path does not exist: x.csv\n\tat org.apache.spark..."),
     "[PATH_NOT_FOUND] Path does not exist: x.csv"),
    (EngineError("one line"), "one line"),
    (EngineError(), "EngineError"),  # no message: the exception's type says what failed
    (EngineError(" \n\t"), "EngineError"),
    (KeyboardInterrupt(), "KeyboardInterrupt"),
])
def test_first_line_is_the_line_that_says_what_went_wrong(exc, expected):
    assert first_line(exc) == expected
