"""Invoice files written as contracts are priced (`invoice -o DIR`).

`InvoiceFiles` is the billing sink behind `ratecard invoice -o DIR`: each
contract's invoices are rendered in the process that priced them and staged
(`io.StagedFiles`), then moved into the directory together once the whole run
is written. It lives here, beside the page spools of `pages`, so that the
command module stays light to import (`ratecard check` lists `invoice` without
loading billing or Jinja).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..billing.documents import Invoice
from ..billing.sinks import PricedLinesSink, SplittableSink
from ..io import StagedFiles
from .pages import RENDER_MIN_LINES
from .render import file_names


class InvoiceFiles(PricedLinesSink, SplittableSink):
    """A `billing.evaluate` sink for `invoice -o DIR`: each contract's invoices are
    rendered and written into `staged` as soon as they are priced.

    Like `RunWriter`, it can be split for ranges of contracts priced in other
    processes (`part`, `restart`, `flush`, `absorb`). Files are staged under
    names of their own (`<part>-<n>.<ext>`), since a file's name depends on
    the invoices before it in the whole run (`file_names`); a part leaves the
    numbers of the invoices it wrote in `<part>.numbers` for `absorb` to read
    back. `finish` names every file from the numbers of the whole run, in run
    order, and moves them into the directory.
    """

    min_lines = RENDER_MIN_LINES  # split from this many usage lines (billing.parallel)

    def __init__(self, staged: StagedFiles, texts: Callable[[list[Invoice], list], list[str]], ext: str, *,
                 wants_priced: bool = False, index: int = 0):
        self.staged, self.texts, self.ext = staged, texts, ext
        self.wants_priced = wants_priced  # views show whole packages, known from the priced lines
        self.index = index
        self.numbers: list[str] = []
        self.parts: list[InvoiceFiles] = []
        self._made = 0

    def __call__(self, invoices: list[Invoice], priced: list = ()) -> None:
        for inv, text in zip(invoices, self.texts(invoices, priced)):
            self.staged.write(self._name(len(self.numbers)), text)
            self.numbers.append(inv.number)

    def _name(self, n: int) -> str:
        return f"{self.index}-{n}.{self.ext}"

    def part(self) -> "InvoiceFiles":
        self._made += 1
        return InvoiceFiles(self.staged, self.texts, self.ext, wants_priced=self.wants_priced,
                            index=self._made)

    def restart(self) -> None:
        """Forget what was written: the range is priced again after its process failed."""
        self.numbers = []

    def flush(self) -> None:
        self.staged.write(f"{self.index}.numbers", json.dumps(self.numbers))

    def absorb(self, part: "InvoiceFiles", count: int) -> None:
        """Take `part`'s files (written by another process) as following ours."""
        part.numbers = json.loads(self.staged.read(f"{part.index}.numbers"))
        if len(part.numbers) != count:  # the part's record and its process's report disagree
            raise RuntimeError(f"range {part.index} wrote {len(part.numbers)} invoice files, not {count}")
        self.parts.append(part)

    def finish(self) -> list[Path]:
        """Move every file into the directory under its invoice's file name; their paths."""
        staged_names, numbers = [], []
        for files in (self, *self.parts):
            staged_names += [files._name(n) for n in range(len(files.numbers))]
            numbers += files.numbers
        return self.staged.commit(dict(zip(staged_names, file_names(numbers, self.ext))))
