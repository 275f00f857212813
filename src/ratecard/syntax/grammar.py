"""Finding and loading `ratecard.lark`, built once per process, and where the
analysed grammar is cached between processes (`tables_cache`).

The grammar lives at the top of the repository (`grammar/ratecard.lark`) and is
copied into the wheel as `ratecard/grammar/ratecard.lark`. An installed package
reads its own copy; a source checkout (editable install, tests run from the
tree) falls back to the repository file.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from importlib import resources
from pathlib import Path

GRAMMAR_NAME = "ratecard.lark"


def grammar_path() -> Path:
    """The grammar file this installation uses."""
    packaged = resources.files("ratecard").joinpath("grammar", GRAMMAR_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[3] / "grammar" / GRAMMAR_NAME
    if source_tree.is_file():
        return source_tree
    raise FileNotFoundError(f"{GRAMMAR_NAME} is neither packaged with ratecard nor in a source tree")


@functools.lru_cache(maxsize=1)
def grammar_text() -> str:
    return grammar_path().read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Every word the grammar spells out: `meter`, `charge`, `sum`, `graduated`, `off`...

    These are the quoted words of `ratecard.lark` (comments aside), whether a rule
    uses them as anonymous keywords or a terminal lists them (`AGG_FN`,
    `TIER_MODE`). Editors need the list (completion, highlighting) and the
    TextMate grammar's test checks it scopes each one.
    """
    text = re.sub(r"//[^\n]*", "", grammar_text())
    return frozenset(re.findall(r'"([A-Za-z_]+)"', text))


def tables_cache() -> str | bool:
    """Where Lark keeps the analysed grammar (its LALR tables) between runs.

    Building the tables takes longer than parsing a large project, on every
    start of every command. Lark checks a hash of the grammar, its options,
    its own version and Python's before trusting the file, and carries on
    without it when the file is unreadable or half-written; the file is the
    user's own (`$RATECARD_CACHE_DIR`, else `$XDG_CACHE_HOME/ratecard`, else
    `~/.cache/ratecard`). Where that cannot be created, nothing is cached.
    """
    folder = os.environ.get("RATECARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ratecard")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK | os.R_OK):
        return False
    return os.path.join(folder, "grammar-py%d%d.lark-cache" % sys.version_info[:2])
