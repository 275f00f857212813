"""Writing output files: atomically, never over an input, never half a set.

`write_atomic` writes a temp file in the same directory, then renames it: an
interrupted run leaves either the old file or the new one, never half of one.
The file gets the permissions an ordinary write would give it: an existing
file keeps its mode, a new one is 0666 less the umask (0644 with the usual
umask 022), not the 0600 of a bare temp file.

`StagedFiles` does the same for a whole set of files (`invoice -o DIR`):
none of them is moved into the directory before all are written, a rename
that fails half-way puts the earlier ones back, and one run at a time writes
into a directory.

`Protected` is the one check that no output replaces a file the run reads
(docs/invoices.md, "Output paths"). A file that cannot be written is an
`OutputError` (E001 on the command line, exit 1), naming the path the user
gave, never a staging or temp file; an output path refused before anything
runs is `OutputRefused` (exit 2).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None  # type: ignore[assignment]


class OutputError(Exception):
    """An output that cannot be written: the path as the user knows it, and why."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.reason = str(path), reason


class OutputRefused(Exception):
    """An output path that must not be written (an input, a directory, a path under
    a file, a read-only place): found before anything is written, a command-line
    mistake."""


def reason(exc: OSError) -> str:
    """What went wrong, as `strerror` says it (`No space left on device`)."""
    return exc.strerror or str(exc)


# ----------------------------------------------------------------- what must not be written


def spool_error(exc: OSError) -> OutputError:
    """A temporary file that cannot be written (a full disk under $TMPDIR) while a run
    spools its output (the JSON writer's, the pages of text and HTML invoices)."""
    return OutputError(f"a temporary file in {tempfile.gettempdir()}", reason(exc))


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


class Protected:
    """The files a run reads, each with what named it (`--usage u.jsonl`).

    A path is one of them if it leads to the same file: the same device and
    inode, whatever the spelling, through a symlink or as a hard link; or the
    same resolved path (a file replaced during the run has a new inode).
    """

    def __init__(self, files: Iterable[tuple[str | Path, str]] = ()):
        self._ids: dict[tuple[int, int], str] = {}
        self._paths: dict[str, str] = {}
        for path, label in files:
            self.add(path, label)

    def add(self, path: str | Path, label: str) -> None:
        ident = _identity(path)
        if ident is not None:
            self._ids.setdefault(ident, label)
        self._paths.setdefault(os.path.realpath(path), label)

    def add_tree(self, folder: str | Path, label: str) -> None:
        """Every file under `folder` (a template directory)."""
        for root, _dirs, names in os.walk(folder):
            for name in names:
                self.add(os.path.join(root, name), label)

    def owner(self, path: str | Path) -> str | None:
        """What named `path` as an input, if it is one."""
        ident = _identity(path)
        if ident is not None and ident in self._ids:
            return self._ids[ident]
        return self._paths.get(os.path.realpath(path))


def check_output_file(path: str | Path, option: str, protected: Protected | None = None) -> None:
    """Refuse, before the run, an output file `option PATH` that cannot be or must not
    be written: an input of the run, a directory, a path under a file, or a
    directory this process cannot write into."""
    where = f"{option} {path}"
    owner = protected.owner(path) if protected is not None else None
    if owner is not None:
        raise OutputRefused(f"{where}: that is an input of this run ({owner}); "
                            "refusing to overwrite it: name another file")
    if os.path.isdir(path):
        raise OutputRefused(f"{where}: is a directory; name a file")
    _check_writable_place(Path(path).parent, where)


def check_output_dir(path: str | Path, option: str, protected: Protected | None = None) -> None:
    """Refuse, before the run, an output directory that is a file (or an input), or
    that cannot be created or written into."""
    where = f"{option} {path}"
    owner = protected.owner(path) if protected is not None else None
    if owner is not None and not os.path.isdir(path):
        raise OutputRefused(f"{where}: that is an input of this run ({owner}), not a directory")
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputRefused(f"{where}: not a directory")
    _check_writable_place(Path(path), where)


def _check_writable_place(folder: Path, where: str) -> None:
    """The nearest existing folder of `folder` (itself or an ancestor) must be a
    directory this process may create files in."""
    folder = Path(os.path.abspath(folder))
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not os.path.isdir(folder):
        raise OutputRefused(f"{where}: {folder} is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else False
        why = "is on a read-only file system" if read_only else "is not writable (permission denied)"
        raise OutputRefused(f"{where}: cannot write there: {folder} {why}")


# ----------------------------------------------------------------- one file


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _open(file, data: str | bytes):
    """`file` (a path or a descriptor) opened to write `data`: bytes as they are, text as UTF-8."""
    if isinstance(data, bytes):
        return open(file, "wb")
    return open(file, "w", encoding="utf-8")


def _not_a_regular_file(path: Path) -> bool:
    """`path` is there and is a device, a pipe or a socket (`-o /dev/null`, `-o /dev/stdout`,
    a FIFO): written into, never renamed over (as root, a rename would replace the device
    with a file)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write `path` at once (a temp file renamed over it); an `OutputError` naming
    `path` if it cannot be written, leaving whatever was there. A device or a pipe
    is written into as it is (`_not_a_regular_file`)."""
    path = Path(path)
    if _not_a_regular_file(path):
        try:
            with _open(path, data) as fh:
                fh.write(data)
        except OSError as exc:
            raise OutputError(path, reason(exc)) from None
        return
    created: list[Path] = []
    tmp = None
    try:
        created = make_directories(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with _open(fd, data) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        remove_directories(created)
        if isinstance(exc, OSError):
            raise OutputError(path, reason(exc)) from None
        raise


def make_directories(folder: str | Path) -> list[Path]:
    """`mkdir -p folder`; the directories it created, outermost first."""
    missing = []
    folder = Path(os.path.abspath(folder))
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        created.append(path)
    return created


def remove_directories(created: list[Path]) -> None:
    """Remove what `make_directories` created, innermost first, as long as they are empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


# ----------------------------------------------------------------- a set of files


LOCK_NAME = ".ratecard.lock"
STAGING_PREFIX = ".ratecard-staging-"


class StagedFiles:
    """Files that reach `directory` together, once every one of them is written.

    They are written into a hidden staging folder inside `directory` (so on
    the same file system), possibly by several processes at once, each
    writing its own names. `commit` checks every target, gets the files onto
    the disk, then renames them into place; if a rename still fails, the
    files already moved are put back as they were. If anything fails before
    that, the staging folder goes, and so does every directory this created
    (`-o new/a/b` makes three): a failed or interrupted run (an exception,
    Ctrl-C, SIGTERM) adds no file, half a file or a temp file, and does not
    replace some of an earlier run's invoices and leave the rest.

    One run at a time: `directory` is locked (`flock` on `.ratecard.lock`
    in it, removed when the run ends) from the start of the run to its
    commit; a second run into it fails at once instead of mixing its files
    with the first's. Holding the lock, a run removes any staging folder
    left in the directory by a run that was killed (SIGKILL cannot be
    cleaned up after).

    The files are synced to disk together, with one `os.sync()`, not one
    `fsync` each: on the 1M benchmark's 22,406 HTML invoices, syncing each
    file took longer than rendering it (22.9 s against 16.7 s for the step).
    """

    def __init__(self, directory: str | Path, protected: Protected | None = None):
        self.directory = Path(directory)
        self.protected = protected
        self.staging: Path | None = None
        self._created: list[Path] = []  # outermost first
        self._lock: int | None = None
        self._committed = False

    def __enter__(self) -> "StagedFiles":
        try:
            for _attempt in range(10):  # the directory may vanish under us (another run's cleanup)
                self._created += make_directories(self.directory)
                if self._take_lock():
                    break
            else:
                raise OutputError(self.directory, "it keeps disappearing while ratecard starts writing")
            for stale in self.directory.glob(f"{STAGING_PREFIX}*"):  # a killed run's (SIGKILL): no run owns it
                shutil.rmtree(stale, ignore_errors=True)
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.directory))
        except BaseException as exc:
            self.__exit__(None, None, None)
            if isinstance(exc, OSError):
                raise OutputError(self.directory, reason(exc)) from None
            raise
        return self

    def _take_lock(self) -> bool:
        """True once this holds the lock; False if the lock file vanished (try again)."""
        if fcntl is None:  # pragma: no cover - Windows
            return True
        path = self.directory / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise OutputError(self.directory, "another ratecard run is writing invoices there"
                                              + (f" (process {holder})" if holder else "")
                                              + "; wait for it to finish or choose another directory") from None
        except BaseException:
            os.close(fd)
            raise
        # The file we locked must still be the one at the path: a run that ends
        # removes it, and one that opened it just before holds a lock on nothing.
        if _identity(path) != (os.fstat(fd).st_dev, os.fstat(fd).st_ino):
            os.close(fd)
            return False
        self._lock = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return True

    def _release_lock(self) -> None:
        if self._lock is None:
            return
        try:
            os.unlink(self.directory / LOCK_NAME)  # while still holding it: see `_take_lock`
        except OSError:
            pass
        os.close(self._lock)
        self._lock = None

    def write(self, name: str, data: str | bytes) -> None:
        """Write `name` into the staging folder (synced by `commit`)."""
        assert self.staging is not None, "write() outside `with StagedFiles(...)`"
        try:
            with _open(self.staging / name, data) as fh:
                fh.write(data)
        except OSError as exc:  # name the file the user asked for, not the staging folder
            raise OutputError(self.directory / name, reason(exc)) from None

    def read(self, name: str) -> str:
        """A file written into the staging folder (by this process or another)."""
        assert self.staging is not None, "read() outside `with StagedFiles(...)`"
        return (self.staging / name).read_text(encoding="utf-8")

    def commit(self, names: dict[str, str]) -> list[Path]:
        """Move the written files into the directory, each under its name there
        (`names`: staged name -> name), replacing a file of that name at once and
        with the mode an ordinary write would give it; their paths, in order.

        Every target is checked before the first rename (not a directory, not an
        input of the run); a rename that fails after that puts the files already
        moved back as they were (an earlier file of the same name is kept as a
        hard link in the staging folder until the commit is done)."""
        assert self.staging is not None, "commit() outside `with StagedFiles(...)`"
        targets = [(self.staging / name, self.directory / final) for name, final in names.items()]
        for _, target in targets:
            self._check_target(target)
        try:
            _sync_files([staged for staged, _ in targets])
        except OSError as exc:
            raise OutputError(self.directory, reason(exc)) from None
        new_mode = 0o666 & ~_umask()
        moved: list[tuple[Path, Path | None]] = []  # (target, the earlier file kept aside)
        for index, (staged, target) in enumerate(targets):
            try:
                kept = self._keep(target, index)
                try:
                    mode = stat.S_IMODE(target.stat().st_mode)
                except OSError:
                    mode = new_mode
                os.chmod(staged, mode)
                os.replace(staged, target)
            except OSError as exc:
                self._undo(moved)
                raise OutputError(target, reason(exc)) from None
            except BaseException:
                self._undo(moved)
                raise
            moved.append((target, kept))
        _sync_directory(self.directory)
        self._committed = True
        return [target for _, target in targets]

    def _check_target(self, target: Path) -> None:
        owner = self.protected.owner(target) if self.protected is not None else None
        if owner is not None:
            raise OutputRefused(f"-o {self.directory}: the invoice file {target} would replace an input "
                                f"of this run ({owner}); choose another directory")
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(target, reason(exc)) from None
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(target, "a directory of that name is in the way")

    def _keep(self, target: Path, index: int) -> Path | None:
        """A hard link to the file `target` replaces, to put it back if the commit fails."""
        assert self.staging is not None
        if not os.path.lexists(target):
            return None
        kept = self.staging / f".kept-{index}"
        try:
            os.link(target, kept, follow_symlinks=False)
        except OSError:  # no hard links here: the commit cannot be undone for this file
            return None
        return kept

    @staticmethod
    def _undo(moved: list[tuple[Path, Path | None]]) -> None:
        for target, kept in reversed(moved):
            try:
                if kept is not None:
                    os.replace(kept, target)
                else:
                    os.unlink(target)
            except OSError:
                pass

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._release_lock()
        if not self._committed:
            remove_directories(self._created)
            self._created = []


def _sync_files(paths: list[Path]) -> None:
    """Get the files' data onto the disk: one `sync()` where the platform has it."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in paths:  # pragma: no cover - Windows
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _sync_directory(path: Path) -> None:
    """Make the renames into `path` durable, where a directory can be opened and synced."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
