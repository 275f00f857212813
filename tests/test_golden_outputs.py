"""Golden outputs of `ratecard check` and `ratecard compile`, input and output side by side.

    tests/golden/diagnostics/NAME.pricing  ->  NAME.expected.txt   (`ratecard check NAME.pricing`)
    tests/golden/compile/NAME.pricing      ->  NAME.expected.json  (`ratecard compile NAME.pricing`)

Each command runs with the golden folder as the working directory, so paths in
the output are the bare file names. `pytest --update-golden` rewrites the
expected files from the current output; review the diff before committing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ratecard.cli import main

GOLDEN = Path(__file__).parent / "golden"
DIAGNOSTICS = sorted((GOLDEN / "diagnostics").glob("*.pricing"))
COMPILE = sorted((GOLDEN / "compile").glob("*.pricing"))


def _updating(request) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


def _run(args: list[str], folder: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _compare(expected_path: Path, actual: str, request) -> None:
    if _updating(request):
        expected_path.write_text(actual, encoding="utf-8")
        return
    if not expected_path.exists():
        pytest.fail(f"no {expected_path.name}; run `pytest --update-golden` and review it")
    assert actual == expected_path.read_text(encoding="utf-8"), (
        f"output differs from {expected_path} (run `pytest --update-golden` to accept)")


@pytest.mark.parametrize("source", DIAGNOSTICS, ids=lambda p: p.stem)
def test_check_output(source, request, monkeypatch, capsys):
    code, out, err = _run(["check", source.name], source.parent, monkeypatch, capsys)
    text = out + err
    assert "Traceback" not in text
    assert text.startswith(f"{source.name}:"), "every golden input must produce diagnostics"
    assert code == (1 if "error[" in text else 0)
    _compare(source.with_suffix(".expected.txt"), text, request)


@pytest.mark.parametrize("source", COMPILE, ids=lambda p: p.stem)
def test_compile_output(source, request, monkeypatch, capsys):
    code, out, err = _run(["compile", source.name], source.parent, monkeypatch, capsys)
    assert code == 0, err
    assert "error[" not in err
    _compare(source.with_suffix(".expected.json"), out, request)


def test_every_expected_file_has_an_input():
    for folder, suffix in (("diagnostics", ".expected.txt"), ("compile", ".expected.json")):
        for expected in (GOLDEN / folder).glob(f"*{suffix}"):
            name = expected.name[: -len(suffix)]
            assert (expected.parent / f"{name}.pricing").exists(), f"{expected} has no input"


def test_there_are_enough_golden_cases():
    assert len(DIAGNOSTICS) >= 12 and len(COMPILE) >= 3
