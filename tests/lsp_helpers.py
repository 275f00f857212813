"""Starting `ratecard lsp` under a real LSP client (pytest-lsp) and waiting on it."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SERVER = [sys.executable, "-m", "ratecard.cli", "lsp"]


def uri(path: Path) -> str:
    return from_fs_path(str(path))


def copy_example(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("*.jsonl", "*.py", "*.md"))
    return target


def capabilities(*encodings: str) -> types.ClientCapabilities:
    """A client like VS Code's, offering these position encodings (none: UTF-16 only)."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=list(encodings)) if encodings else None,
        workspace=types.WorkspaceClientCapabilities(
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)),
        text_document=types.TextDocumentClientCapabilities(
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(related_information=True,
                                                                           code_description_support=True),
            document_symbol=types.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
        ),
    )


async def initialize(client, root: Path, *encodings: str, options: dict | None = None):
    return await client.initialize_session(types.InitializeParams(
        capabilities=capabilities(*encodings),
        root_uri=uri(root),
        workspace_folders=[types.WorkspaceFolder(uri(root), root.name)],
        initialization_options={"debounce": 0.05, **(options or {})},
    ))


def open_doc(client, path: Path, text: str | None = None, version: int = 1) -> str:
    u = uri(path)
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=u, language_id="ratecard", version=version,
        text=path.read_text(encoding="utf-8") if text is None else text)))
    return u


def replace_all(client, u: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(version=version, uri=u),
        [types.TextDocumentContentChangeWholeDocument(text=text)]))


async def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll `predicate()` until it is truthy (its value is returned) or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def pos(text: str, needle: str, offset: int = 0, nth: int = 0) -> types.Position:
    """The position of the `nth` occurrence of `needle` (plus `offset` characters) in ASCII text."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return types.Position(line, index - (text.rfind("\n", 0, index) + 1))


def doc(u: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=u)


def apply_edits(text: str, edits) -> str:
    """Apply LSP text edits (UTF-16 or ASCII positions) to `text`."""
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        return sum(len(x) + 1 for x in lines[:p.line]) + p.character

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text
