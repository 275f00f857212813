"""Where each diagnostic code is documented: `docs/diagnostics.md`, section by section.

The page ships inside the wheel (`ratecard/docs/diagnostics.md`, like the
grammar) so an installed server can link to it without a network; a source
checkout links to the repository's copy. A team that publishes the page can
point the links at its own copy with the `diagnosticsDocs` initialization
option (a URL; the section anchor is appended).
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

DOC_NAME = "diagnostics.md"


def doc_path() -> Path | None:
    packaged = resources.files("ratecard").joinpath("docs", DOC_NAME)
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[3] / "docs" / DOC_NAME
    return source_tree if source_tree.is_file() else None


def slug(heading: str) -> str:
    """A Markdown heading's anchor, as GitHub and VS Code's preview make it."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> dict[str, str]:
    """Code -> anchor: its own `### E201 — ...` section, else the section whose table lists it."""
    out: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        heading = re.match(r"(#{2,3}) (.+)", line)
        if heading:
            section = slug(heading.group(2))
            code = re.match(r"([EW]\d{3})\b", heading.group(2))
            if code and heading.group(1) == "###":
                out[code.group(1)] = section
            continue
        row = re.match(r"\| ([EW]\d{3}) \|", line)
        if row and row.group(1) not in out:
            out[row.group(1)] = section
    return out


@functools.lru_cache(maxsize=4)
def _links(base: str | None) -> dict[str, str]:
    path = doc_path()
    if path is None:
        return {}
    target = base or path.as_uri()
    return {code: f"{target}#{anchor}" for code, anchor in anchors(path.read_text(encoding="utf-8")).items()}


def doc_link(code: str, base: str | None = None) -> str | None:
    """The link for `code`, or None when the page or the code's section is not found."""
    return _links(base).get(code)
