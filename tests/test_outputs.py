"""Output files: never over an input, all or nothing, one run at a time, and a
write that fails is a diagnostic naming the file (docs/invoices.md, "Output paths").

`cli.main` checks every output a command was given (`commands.common.check_outputs`)
before it runs; `io.StagedFiles` moves `invoice -o DIR`'s files in together.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard.io as rio
from ratecard.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ai-api"
THROUGH = "2026-04-01"
BAD_ROW = "this line is not JSON\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the ai-api example with one bad usage row, as the working directory."""
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE, folder)
    with open(folder / "usage.jsonl", "a", encoding="utf-8") as fh:
        fh.write(BAD_ROW)
    monkeypatch.chdir(folder)
    return folder


def _run(args, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _invoice(*extra: str) -> list[str]:
    return ["invoice", ".", "--usage", "usage.jsonl", "--through", THROUGH, *extra]


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------- an output is never an input


def _spellings(project: Path) -> dict[str, str]:
    """Other names for project/usage.jsonl: the same file by any path."""
    (project / "sub").mkdir()
    os.symlink(project / "usage.jsonl", project / "link.jsonl")
    os.link(project / "usage.jsonl", project / "hard.jsonl")
    return {"same": "usage.jsonl", "dotted": "./sub/../usage.jsonl", "absolute": str(project / "usage.jsonl"),
            "symlink": "link.jsonl", "hard link": "hard.jsonl"}


@pytest.mark.parametrize("spelling", ["same", "dotted", "absolute", "symlink", "hard link"])
@pytest.mark.parametrize("command", ["invoice", "explain", "credits"])
def test_skip_bad_rows_never_overwrites_the_usage(command, spelling, project, capsys):
    """Before: `--skip-bad-rows usage.jsonl` replaced the usage with its one bad row."""
    name = _spellings(project)[spelling]
    before = _contents(project)
    args = [command, ".", "--usage", "usage.jsonl", "--through", THROUGH, "--skip-bad-rows", name]
    if command == "explain":
        args += ["--contract", "initrode"]
    code, out, err = _run(args, capsys)
    assert code == 2, err
    assert f"--skip-bad-rows {name}: that is an input of this run (--usage usage.jsonl)" in err
    assert out == "" and "Traceback" not in err
    assert _contents(project) == before


@pytest.mark.parametrize("args, option, owner", [
    (["compile", ".", "-o", "meters.pricing"], "-o", "the .pricing file"),
    (["compile", "plans.pricing", "meters.pricing", "contracts.pricing", "-o", "./plans.pricing"], "-o",
     "the .pricing file"),
    (["sql", ".", "--through", THROUGH, "--contracts", "extra.json", "-o", "extra.json"], "-o", "--contracts"),
    (_invoice("--format", "text", "--template-dir", "templates", "--skip-bad-rows", "templates/invoice.txt.j2"),
     "--skip-bad-rows", "--template-dir templates"),
    (_invoice("--contracts", "extra.json", "--skip-bad-rows", "extra.json"), "--skip-bad-rows", "--contracts"),
], ids=["compile-o-pricing", "compile-o-spelled", "sql-o-contracts", "skip-a-template", "skip-contracts"])
def test_no_output_option_writes_over_an_input(args, option, owner, project, capsys):
    (project / "extra.json").write_text("[]\n", encoding="utf-8")
    (project / "templates").mkdir()
    (project / "templates" / "invoice.txt.j2").write_text("{{ invoices | length }}\n", encoding="utf-8")
    before = _contents(project)
    code, out, err = _run(args, capsys)
    assert code == 2, err
    assert f"{option} " in err and "that is an input of this run" in err and owner in err
    assert _contents(project) == before


def test_an_invoice_file_that_would_replace_an_input_is_refused(project, capsys):
    """`-o DIR` names its files after the invoices: checked before the first one is moved
    in (here the last file of the run would replace the `--contracts` file, through a
    symlink in DIR)."""
    numbers = [inv["number"] for inv in json.loads(_run(_invoice("--skip-bad-rows", "../skipped.jsonl"),
                                                        capsys)[1])["invoices"]]
    (project / "extra.json").write_text("[]\n", encoding="utf-8")
    out_dir = project / "out"
    out_dir.mkdir()
    os.symlink(project / "extra.json", out_dir / f"{numbers[-1]}.json")
    before = _contents(project)
    code, out, err = _run(_invoice("--contracts", "extra.json", "--skip-bad-rows", "../skipped.jsonl", "-o", "out"),
                          capsys)
    assert code == 2, err
    assert (f"the invoice file out/{numbers[-1]}.json would replace an input of this run "
            "(--contracts extra.json)") in err
    assert _contents(project) == before, "no invoice file moved in, the input as it was"
    assert [p.name for p in out_dir.iterdir()] == [f"{numbers[-1]}.json"]


@pytest.mark.parametrize("args", [_invoice("--skip-bad-rows", "../skipped.jsonl"), ["compile", "."]],
                         ids=["invoice", "compile"])
def test_standard_output_appended_to_an_input_is_refused(args, project):
    """`ratecard ... >> usage.jsonl` would add the output to an input."""
    target = project / ("usage.jsonl" if args[0] == "invoice" else "plans.pricing")
    before = target.read_bytes()
    with open(target, "a", encoding="utf-8") as out:
        p = _ratecard(args, project, stdout=out)
    assert p.returncode == 2, p.stderr
    assert "standard output is " in p.stderr and "an input of this run" in p.stderr
    assert target.read_bytes() == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["link", "dot", "up", "hard"]), min_size=1, max_size=4))
def test_any_path_to_an_input_is_refused(tmp_path, steps):
    """Property: whatever chain of symlinks, `.`/`..` segments and hard links leads to
    an input, `check_output_file` refuses it and says which input it is."""
    folder = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    (folder / "d").mkdir(parents=True)
    usage = folder / "usage.jsonl"
    usage.write_text("{}\n", encoding="utf-8")
    protected = rio.Protected([(usage, "--usage usage.jsonl")])
    path = str(usage)
    for n, step in enumerate(steps):
        if step == "link":
            os.symlink(path, folder / f"l{n}")
            path = str(folder / f"l{n}")
        elif step == "hard":
            os.link(path, folder / f"h{n}")
            path = str(folder / f"h{n}")
        elif step == "dot":
            path = str(Path(path).parent / "." / Path(path).name)
        else:
            path = str(Path(path).parent / "d" / ".." / Path(path).name)
    with pytest.raises(rio.OutputRefused, match=r"that is an input of this run \(--usage usage.jsonl\)"):
        rio.check_output_file(path, "--skip-bad-rows", protected)
    rio.check_output_file(folder / "other.jsonl", "--skip-bad-rows", protected)  # a new file is fine


# ----------------------------------------------------------------- outputs that cannot be written


@pytest.mark.parametrize("args, message", [
    (_invoice("--skip-bad-rows", "sub"), "--skip-bad-rows sub: is a directory"),
    (["compile", ".", "-o", "sub"], "-o sub: is a directory"),
    (["sql", ".", "--through", THROUGH, "-o", "sub"], "-o sub: is a directory"),
    (_invoice("--skip-bad-rows", "README.md/skipped.jsonl"), "README.md is not a directory"),
    (["compile", ".", "-o", "README.md/plan.json"], "README.md is not a directory"),
    (_invoice("--format", "text", "-o", "README.md"), "-o README.md: not a directory"),
    (_invoice("--format", "text", "-o", "README.md/x"), "README.md is not a directory"),
], ids=["skip-dir", "compile-dir", "sql-dir", "skip-under-file", "compile-under-file", "o-file", "o-under-file"])
def test_an_output_that_cannot_be_a_file_is_a_usage_error(args, message, project, capsys):
    (project / "sub").mkdir()
    before = _contents(project)
    code, out, err = _run(args, capsys)
    assert code == 2, err
    assert message in err and "Traceback" not in err and "internal error" not in err
    assert _contents(project) == before


def _ratecard(args: list[str], cwd: Path, *, fsize: int | None = None, stdout=subprocess.PIPE,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """The ratecard program in a process of its own, with a file size limit: what a
    full disk looks like to it (`ulimit -f`)."""

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    full_env.pop("RATECARD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "ratecard.cli", *args], cwd=cwd, env=full_env,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=limit, timeout=300)


def test_a_full_disk_writing_the_skip_file_is_a_diagnostic(project):
    """Before: "internal error: OSError: [Errno 27] File too large", exit 3."""
    with open(project / "usage.jsonl", "a", encoding="utf-8") as fh:
        fh.writelines(f"bad row {n} {'x' * 80}\n" for n in range(200))  # a skip file of ~30 KB
    (project / "skipped.jsonl").write_text("last month's\n", encoding="utf-8")
    p = _ratecard(_invoice("--skip-bad-rows", "skipped.jsonl"), project, fsize=20_000)
    assert p.returncode == 1, p.stderr
    assert "error[E001]: cannot write skipped.jsonl: File too large" in p.stderr
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr
    assert (project / "skipped.jsonl").read_text(encoding="utf-8") == "last month's\n", "no partial file"
    assert not [p.name for p in project.iterdir() if p.name.startswith(".skipped")], "no temp file"


def test_a_full_disk_under_standard_output_leaves_no_half_document(project, tmp_path):
    """The JSON run to `> run.json` on a disk that fills up: an error naming standard
    output, and the file cut back to what it held before."""
    (project / "usage.jsonl").write_text((EXAMPLE / "usage.jsonl").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    whole = _ratecard(_invoice(), project)
    assert whole.returncode == 0, whole.stderr
    target = tmp_path / "run.json"
    for fmt, args in (("json", _invoice()), ("text", _invoice("--format", "text"))):
        size = len(whole.stdout.encode()) if fmt == "json" else len(_ratecard(args, project).stdout.encode())
        target.write_text("earlier\n", encoding="utf-8")
        with open(target, "a", encoding="utf-8") as out:
            # the spool of invoices fits, the document does not
            p = _ratecard(args, project, fsize=size - 10, stdout=out, env={"PYTHONUNBUFFERED": "1"})
        assert p.returncode == 1, (fmt, p.stderr)
        assert "error[E001]: cannot write standard output" in p.stderr
        assert "Traceback" not in p.stderr and "internal error" not in p.stderr and "Exception" not in p.stderr
        assert target.read_text(encoding="utf-8") == "earlier\n", fmt


def test_a_full_temporary_directory_is_a_diagnostic(project):
    (project / "usage.jsonl").write_text((EXAMPLE / "usage.jsonl").read_text(encoding="utf-8"),
                                         encoding="utf-8")
    p = _ratecard(_invoice(), project, fsize=2_000)
    assert p.returncode == 1, p.stderr
    assert "error[E001]: cannot write a temporary file in" in p.stderr and "File too large" in p.stderr
    assert p.stdout == ""


def test_compile_output_on_a_full_disk(project):
    p = _ratecard(["compile", ".", "-o", "plan.json"], project, fsize=1_000)
    assert p.returncode == 1, p.stderr
    assert "error[E001]: cannot write plan.json: File too large" in p.stderr
    assert not (project / "plan.json").exists() and not list(project.glob(".plan.json.*"))


def test_an_unwritable_place_is_refused_before_the_run(project, capsys, monkeypatch):
    """A directory this process may not write into: refused up front, naming it.
    (Root may write anywhere: as root, `os.access` answers as it would for a user.)"""
    locked = project / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    if os.geteuid() == 0:
        real_access = os.access
        monkeypatch.setattr(rio.os, "access", lambda path, mode, **kw: (
            False if Path(path) == locked and mode & os.W_OK else real_access(path, mode, **kw)))
    try:
        for args in (["compile", ".", "-o", "locked/plan.json"],
                     _invoice("--skip-bad-rows", "locked/skipped.jsonl"),
                     _invoice("--format", "text", "-o", "locked/new/invoices")):
            code, out, err = _run(args, capsys)
            assert code == 2, (args, err)
            assert f"cannot write there: {locked} is not writable (permission denied)" in err
            assert list(locked.iterdir()) == []
    finally:
        os.chmod(locked, 0o755)


# ----------------------------------------------------------------- -o DIR: all or nothing


def _numbers(capsys) -> list[str]:
    code, out, err = _run(_invoice("--skip-bad-rows", "../skipped.jsonl"), capsys)
    assert code == 0, err
    return [inv["number"] for inv in json.loads(out)["invoices"]]


def test_a_directory_in_the_way_fails_before_any_file_is_replaced(project, tmp_path, capsys):
    """Before: the files before the directory were already replaced, and the error
    named the staging file."""
    numbers = _numbers(capsys)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    for n in numbers:
        (out_dir / f"{n}.txt").write_text("last month's\n", encoding="utf-8")
    blocker = out_dir / f"{numbers[len(numbers) // 2]}.txt"
    blocker.unlink()
    blocker.mkdir()
    before = _contents(out_dir)
    code, out, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl", "-o", str(out_dir)),
                          capsys)
    assert code == 1, err
    assert f"error[E001]: cannot write {blocker}: a directory of that name is in the way" in err
    assert ".ratecard-staging" not in err and out == ""
    assert _contents(out_dir) == before and sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{n}.txt" for n in numbers)


def test_a_rename_that_fails_half_way_puts_every_file_back(project, tmp_path, capsys, monkeypatch):
    numbers = _numbers(capsys)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    kept = {n: f"{n} of last month\n" for n in numbers[::2]}  # some files exist, some are new
    for n, text in kept.items():
        (out_dir / f"{n}.txt").write_text(text, encoding="utf-8")
    real_replace, calls, failed = os.replace, [], []

    def failing_replace(src, dst):
        if Path(dst).parent == out_dir:  # a rename into the directory
            calls.append(dst)
            if len(calls) == len(numbers) - 1:
                failed.append(dst)
                raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(rio.os, "replace", failing_replace)
    code, out, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl", "-o", str(out_dir)),
                          capsys)
    assert code == 1, err
    assert f"error[E001]: cannot write {failed[0]}: Input/output error" in err
    assert {p.name: p.read_text(encoding="utf-8") for p in out_dir.iterdir()} == {
        f"{n}.txt": text for n, text in kept.items()}, "the earlier files back, the new ones gone"


def test_a_second_run_into_a_busy_directory_fails_at_once(project, tmp_path, capsys):
    """Before: two runs into one directory interleaved their files and both exited 0."""
    out_dir = tmp_path / "out"
    with rio.StagedFiles(out_dir) as first:  # another run, still writing
        first.write("0-0.txt", "the other run's\n")
        code, out, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl",
                                       "-o", str(out_dir)), capsys)
        assert code == 1, err
        assert (f"error[E001]: cannot write {out_dir}: another ratecard run is writing invoices there "
                f"(process {os.getpid()})") in err
        assert [p.name for p in out_dir.iterdir() if not p.name.startswith(".")] == []
        first.commit({"0-0.txt": "a.txt"})
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.txt"], "the lock file goes with the run"
    code, out, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl", "-o", str(out_dir)),
                          capsys)
    assert code == 0, err


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(project, tmp_path, capsys):
    """SIGKILL cannot be cleaned up after: the next run into the directory (holding its
    lock, so no other run owns the folder) removes what the killed one left."""
    out_dir = tmp_path / "out"
    (out_dir / ".ratecard-staging-killed").mkdir(parents=True)
    (out_dir / ".ratecard-staging-killed" / "0-0.txt").write_text("half an invo", encoding="utf-8")
    (out_dir / rio.LOCK_NAME).write_text("12345\n", encoding="ascii")  # its lock file, no longer locked
    code, out, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl", "-o", str(out_dir)),
                          capsys)
    assert code == 0, err
    assert not [p.name for p in out_dir.iterdir() if p.name.startswith(".")]


def test_the_lock_is_the_file_at_the_path(tmp_path):
    """A run that opened the lock file just before the holder removed it holds a lock
    on nothing: it must take the lock on the file now at the path."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    stale = os.open(out_dir / rio.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    os.unlink(out_dir / rio.LOCK_NAME)
    fcntl.flock(stale, fcntl.LOCK_EX)  # a lock on a removed file blocks nobody
    try:
        with rio.StagedFiles(out_dir) as staged:
            staged.write("x", "x")
            assert (out_dir / rio.LOCK_NAME).exists()
            with pytest.raises(rio.OutputError, match="another ratecard run"):
                rio.StagedFiles(out_dir).__enter__()
    finally:
        os.close(stale)
    assert list(out_dir.iterdir()) == []


def test_a_failed_run_removes_every_directory_it_created(project, tmp_path, capsys, monkeypatch):
    """Before: a failed `-o NEW/a/b` left NEW and NEW/a behind."""
    monkeypatch.setattr(rio.os, "sync", lambda: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    code, _, err = _run(_invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl",
                                 "-o", str(tmp_path / "new" / "a" / "b")), capsys)
    assert code == 1 and "No space left on device" in err
    assert not (tmp_path / "new").exists()


SIGTERM_ON_THE_THIRD_CONTRACT = """
import os, signal, sys
from ratecard.report.files import InvoiceFiles
real, calls = InvoiceFiles.__call__, []

def terminated_half_way(self, invoices, priced=()):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGTERM)
    return real(self, invoices, priced)

InvoiceFiles.__call__ = terminated_half_way
from ratecard.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_while_writing_files_is_handled_like_ctrl_c(project, tmp_path):
    """SIGTERM (what CI, `timeout` and Kubernetes send) unwinds the run: no staging
    folder, no directory it created, exit 143. Before: the process died where it
    stood, leaving `.ratecard-staging-*` and the directories."""
    args = _invoice("--format", "text", "--skip-bad-rows", "../skipped.jsonl", "-o", str(tmp_path / "new" / "out"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.run([sys.executable, "-c", SIGTERM_ON_THE_THIRD_CONTRACT, *args], cwd=project, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 143, p.stderr
    assert p.stderr.endswith("interrupted (SIGTERM)\n") and p.stdout == ""
    assert not (tmp_path / "new").exists()


def test_the_signal_handlers_go_with_the_run(project, capsys):
    """`main` may be called by a program that lives on: its handlers are put back, and
    a signal that was ignored (nohup) stays ignored."""
    from ratecard.cli import Signals

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    assert _run(_invoice("--skip-bad-rows", "../skipped.jsonl"), capsys)[0] == 0
    assert {s: signal.getsignal(s) for s in before} == before
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with Signals():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGHUP, previous)


# ----------------------------------------------------------------- the ledger's files


@pytest.mark.parametrize("ledger", ["usage.jsonl", "sqlite:///usage.jsonl", "./meters.pricing"])
def test_a_sqlite_ledger_that_is_an_input_is_refused(project, capsys, ledger):
    before = _contents(project)
    code, out, err = _run(["issue", ".", "--usage", "usage.jsonl", "--through", THROUGH, "--ledger", ledger],
                          capsys)
    assert code == 2 and "an input of this run" in err and "Traceback" not in err
    assert _contents(project) == before


def test_ledger_export_checks_its_directory_like_every_output(project, capsys):
    (project / "taken").write_text("a file, not a directory\n", encoding="utf-8")
    code, out, err = _run(["ledger", "export", "-o", "taken", "--ledger", "ledger.db"], capsys)
    assert code == 2 and "-o" in err and "taken" in err and "Traceback" not in err
    assert not (project / "ledger.db").exists()


# ----------------------------------------------------------------- a device or a pipe as the output

def _read_fifo(path: Path, into: list[bytes]):
    import threading

    def read():
        with open(path, "rb") as fh:
            into.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@pytest.mark.parametrize("args", [["compile", ".", "-o", "out.fifo"],
                                  ["sql", ".", "--through", THROUGH, "-o", "out.fifo"]])
def test_a_pipe_as_the_output_is_written_into_not_replaced(args, project, capsys):
    """`-o /dev/null`, `-o /dev/stdout` or a named pipe: the output goes into it. Renaming a
    temporary file over it replaced the device with a regular file (as root, /dev/null
    itself), and a pipe's reader got nothing."""
    fifo = project / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    code, out, err = _run(args, capsys)
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the pipe was replaced by a file"
    assert got and got[0], "the pipe's reader got nothing"
    assert not list(project.glob(".out.fifo.*")), "a temporary file was left behind"
    expected = project / "regular.out"
    assert main([*args[:-1], str(expected)]) == 0
    assert got[0] == expected.read_bytes()


def test_write_atomic_into_a_pipe_and_a_file(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    rio.write_atomic(fifo, "through the pipe\n")
    reader.join(timeout=60)
    assert got == [b"through the pipe\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)
    plain = tmp_path / "f"
    rio.write_atomic(plain, b"a file\n")
    assert plain.read_bytes() == b"a file\n" and stat.S_ISREG(os.stat(plain).st_mode)
