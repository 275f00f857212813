"""The old side of `ratecard diff --old-rev REV`: .pricing files as they were at REV.

Read with `git show` from the repository that holds each path, so a diff can
compare the working tree with any commit without a checkout.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Sequence


class RevisionError(Exception):
    """`--old-rev` cannot be read: not a repository, unknown revision, no files there."""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=False,
                              check=False)
    except FileNotFoundError:
        raise RevisionError("`git` is not installed, so --old-rev cannot be read") from None


def _stderr(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "git failed"


def sources_at_revision(rev: str, paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, text) of every .pricing file under `paths` as they were at `rev`.

    Each path is resolved in the git repository that contains it; a directory
    stands for every .pricing file under it at `rev` (files added since are not
    on the old side, files deleted since are). Names read `REV:path/in/repo`.
    """
    if not rev or rev.startswith("-"):
        raise RevisionError(f"unknown revision `{rev}`")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise RevisionError(f"no such file or directory: {raw}")
        folder = p if p.is_dir() else p.parent
        top = _git(folder, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            raise RevisionError(f"{raw} is not inside a git repository, so --old-rev cannot be read")
        root = Path(top.stdout.decode().strip())
        prefix = _git(folder, "rev-parse", "--show-prefix").stdout.decode().strip()
        rel = prefix + (p.name if p.is_file() else "")
        rel = rel.rstrip("/")
        if _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
            raise RevisionError(f"unknown revision `{rev}` in {root}")
        listing = _git(root, "ls-tree", "-r", "--name-only", "--full-tree", "-z", rev, "--", rel or ".")
        if listing.returncode != 0:
            raise RevisionError(f"cannot list {raw} at `{rev}`: {_stderr(listing)}")
        names = [x for x in listing.stdout.decode("utf-8", "replace").split("\0") if x]
        # a path with nothing at `rev` was added since: the old side simply lacks it
        for name in sorted(x for x in names if x.endswith(".pricing")):
            if name in seen:
                continue
            seen.add(name)
            shown = _git(root, "show", f"{rev}:{name}")
            if shown.returncode != 0:
                raise RevisionError(f"cannot read {name} at `{rev}`: {_stderr(shown)}")
            try:
                text = shown.stdout.decode("utf-8")
            except UnicodeDecodeError:
                raise RevisionError(f"{name} at `{rev}` is not UTF-8 text") from None
            out.append((f"{rev}:{name}", text))
    if not out:
        raise RevisionError(f"no .pricing files under {' '.join(paths)} at revision `{rev}`")
    return out
