"""Which files make up the project of an open document, and their text on disk.

A project is a directory and every `.pricing` file under it, exactly as
`ratecard check DIR` reads it. The client names the directories: each
workspace folder (or the root it was started in) is a project, unless the
`projects` initialization option lists sub-directories of it (a repository
holding several pricing projects, like this one's `examples/`). A file outside
every project is checked with the `.pricing` files beside it.

Files on disk are listed once and listed again when the client reports
created or deleted files (`workspace/didChangeWatchedFiles`), or when a
document of the project is opened or saved; their text is read again only
when their modification time or size changes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..compiler import PathError, pricing_files
from ..syntax import without_bom


@dataclass
class Project:
    root: Path
    recursive: bool = True
    _files: list[Path] | None = field(default=None, repr=False)

    def contains(self, path: Path) -> bool:
        if self.recursive:
            return path == self.root or self.root in path.parents
        return path.parent == self.root

    def files(self) -> list[Path]:
        """The `.pricing` files on disk, in the order `ratecard check DIR` reads them."""
        if self._files is None:
            if self.recursive:
                try:
                    self._files = [p.resolve() for p in pricing_files([str(self.root)])]
                except (PathError, OSError):
                    self._files = []
            else:
                self._files = sorted(p.resolve() for p in self.root.glob("*.pricing") if p.is_file())
        return self._files

    def forget_files(self) -> None:
        self._files = None

    def name(self, path: Path) -> str:
        """How diagnostics and hovers name a file: relative to the project's root."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


class Projects:
    """The projects of the workspace, found by the directory that holds a file."""

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Project(r.resolve()) for r in roots]
        self.loose: dict[Path, Project] = {}  # directories of files outside every project

    def for_path(self, path: Path) -> Project:
        path = path.resolve()
        inside = [p for p in self.roots if p.contains(path)]
        if inside:
            return max(inside, key=lambda p: len(p.root.parts))  # the innermost
        folder = path.parent
        if folder not in self.loose:
            self.loose[folder] = Project(folder, recursive=False)
        return self.loose[folder]

    def all(self) -> list[Project]:
        return self.roots + list(self.loose.values())

    def forget_files(self) -> None:
        for p in self.all():
            p.forget_files()


class DiskTexts:
    """File text by path (a leading byte order mark dropped), read again only when the file's
    mtime or size changed."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], str | None, Exception | None]] = {}
        self._lock = threading.Lock()

    def read(self, path: Path) -> tuple[str | None, Exception | None]:
        """(text, None), or (None, the OSError or UnicodeDecodeError that stopped the read)."""
        try:
            st = path.stat()
        except OSError as exc:
            return None, exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        try:
            # without the BOM, as the compiler reads it and an editor shows it: spans and the
            # client's positions both count from the character after it
            text, problem = without_bom(path.read_text(encoding="utf-8")), None
        except (UnicodeDecodeError, OSError) as exc:
            text, problem = None, exc
        with self._lock:
            self._cache[path] = (stamp, text, problem)
        return text, problem
