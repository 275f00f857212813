#!/usr/bin/env python3
"""Language server benchmark: `ratecard lsp` driven by a real LSP client over stdio.

    .venv/bin/python benchmarks/lsp.py [--edits 5] [--lines 10000] [--no-write]

On examples/enterprise and on the generated ~10,000-line project of
`benchmarks/compile.py`, it measures:

- first diagnostics: from starting the server process (Python, imports, grammar)
  until every file of the project has had its diagnostics published;
- re-analysis after an edit: from a `didChange` that introduces an unknown
  meter until the diagnostic is published, and from the fix until it is
  cleared (median of `--edits` runs; the debounce pause is set to 0 here, an
  editor's default adds 0.25 s of waiting for the typing to stop);
- hover and completion: request to answer, on an analysed project (median).

It prints the figures and merges them into `benchmarks/results.json` under
the key "lsp" (other keys are kept).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"


class Client:
    def __init__(self) -> None:
        self.lsp = LanguageClient("ratecard-bench", "1")
        self.published: dict[str, tuple[float, list]] = {}

        @self.lsp.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams):
            self.published[params.uri] = (time.perf_counter(), list(params.diagnostics))

        @self.lsp.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register(params):
            return None

    async def wait(self, predicate, timeout: float = 120.0) -> float:
        deadline = time.perf_counter() + timeout
        while not predicate():
            if time.perf_counter() > deadline:
                raise SystemExit("timed out waiting for the server")
            await asyncio.sleep(0.001)
        return time.perf_counter()


def _uri(path: Path) -> str:
    return from_fs_path(str(path))


async def measure(root: Path, edit_file: Path, meter: str, edits: int) -> dict:
    files = sorted(root.rglob("*.pricing"))
    client = Client()
    started = time.perf_counter()
    await client.lsp.start_io(sys.executable, "-m", "ratecard.cli", "lsp")
    await client.lsp.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=_uri(root),
        workspace_folders=[types.WorkspaceFolder(_uri(root), root.name)],
        initialization_options={"debounce": 0}))
    initialized = time.perf_counter()
    client.lsp.initialized(types.InitializedParams())
    first = await client.wait(lambda: all(_uri(f) in client.published for f in files))
    figures = {
        "files": len(files),
        "lines": sum(f.read_text(encoding="utf-8").count("\n") for f in files),
        "first_diagnostics_seconds": round(first - started, 3),
        "first_diagnostics_after_initialize_seconds": round(first - initialized, 3),
    }

    text = edit_file.read_text(encoding="utf-8")
    uri = _uri(edit_file)
    client.lsp.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri, "ratecard", 1, text)))
    broken = text.replace(f"charge {meter}", f"charge {meter}X", 1)
    assert broken != text
    version, to_error, to_clear = 1, [], []

    def has_e201() -> bool:
        return any(d.code == "E201" for d in client.published.get(uri, (0, []))[1])

    for _ in range(edits):
        for target, want, out in ((broken, True, to_error), (text, False, to_clear)):
            version += 1
            t0 = time.perf_counter()
            client.lsp.text_document_did_change(types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version, uri),
                [types.TextDocumentContentChangeWholeDocument(target)]))
            t1 = await client.wait(lambda: has_e201() == want)
            out.append(t1 - t0)
    figures["edit_to_error_seconds"] = round(statistics.median(to_error), 4)
    figures["fix_to_cleared_seconds"] = round(statistics.median(to_clear), 4)

    at = text.index(f"charge {meter}") + len("charge ") + 1
    line = text.count("\n", 0, at)
    position = types.Position(line, at - (text.rfind("\n", 0, at) + 1))
    hovers, completions = [], []
    for _ in range(max(edits, 5)):
        t0 = time.perf_counter()
        hover = await client.lsp.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier(uri), position))
        hovers.append(time.perf_counter() - t0)
        assert hover is not None
        t0 = time.perf_counter()
        items = await client.lsp.text_document_completion_async(types.CompletionParams(
            types.TextDocumentIdentifier(uri), types.Position(line, position.character - 1)))
        completions.append(time.perf_counter() - t0)
        assert items.items
    figures["hover_seconds"] = round(statistics.median(hovers), 4)
    figures["completion_seconds"] = round(statistics.median(completions), 4)
    await client.lsp.shutdown_async(None)
    client.lsp.exit(None)
    await client.lsp.stop()
    return figures


def _first_charge(root: Path) -> tuple[Path, str]:
    for path in sorted(root.rglob("*.pricing")):
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) > 1 and words[0] == "charge":
                return path, words[1]
    raise SystemExit(f"no `charge` in {root}")


def write_results(figures: dict, path: Path = RESULTS) -> None:
    data: dict = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
    data["lsp"] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=5, help="edits (and fixes) timed; the median is kept")
    ap.add_argument("--lines", type=int, default=10_000, help="size of the generated project")
    ap.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from compile import generate  # the compile benchmark's project generator

    figures: dict = {"python": platform.python_version(), "machine": platform.machine()}
    with tempfile.TemporaryDirectory(prefix="ratecard-lsp-bench-") as tmp:
        enterprise = Path(tmp) / "enterprise"
        shutil.copytree(ROOT / "examples" / "enterprise", enterprise,
                        ignore=shutil.ignore_patterns("*.jsonl", "*.py", "*.md"))
        big = Path(tmp) / "generated"
        big.mkdir()
        generate(big, args.lines)
        for name, root in (("enterprise", enterprise), ("generated", big)):
            path, meter = _first_charge(root)
            figures[name] = asyncio.run(measure(root, path, meter, args.edits))
            f = figures[name]
            print(f"{name}: {f['lines']} lines in {f['files']} files")
            print(f"  first diagnostics {f['first_diagnostics_seconds']:.3f} s from process start "
                  f"({f['first_diagnostics_after_initialize_seconds']:.3f} s after initialize)")
            print(f"  edit -> error published {f['edit_to_error_seconds'] * 1000:.1f} ms, "
                  f"fix -> cleared {f['fix_to_cleared_seconds'] * 1000:.1f} ms (median of {args.edits}, no debounce)")
            print(f"  hover {f['hover_seconds'] * 1000:.1f} ms, completion {f['completion_seconds'] * 1000:.1f} ms")
    if not args.no_write:
        write_results(figures)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
