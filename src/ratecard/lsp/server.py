"""`ratecard lsp`: the pygls handlers, one per LSP method, and nothing else.

Each handler turns the request's URI and position into the project's
analysis and a code-point position (`Session`), asks the feature module
(`hover`, `completion`, `navigation`, ...) and converts the answer back into
the client's position encoding.
"""

from __future__ import annotations

import os
import sys

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .. import __version__
from ..syntax.fmt import format_source
from . import actions, completion, hover, navigation, outline, tokens
from .positions import prefer_code_points
from .report import location
from .session import Session


class _Protocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        prefer_code_points(params.capabilities)
        return (yield from super().lsp_initialize(params))


class RatecardServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("ratecard", __version__, protocol_cls=_Protocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.session = Session()


server = RatecardServer()


def _point(ls: RatecardServer, uri: str, position: types.Position) -> tuple[int, int]:
    return ls.session.positions.point(list(ls.workspace.get_text_document(uri).lines), position)


# ---------------------------------------------------------------- lifecycle and documents


@server.feature(types.INITIALIZE)
def initialize(ls: RatecardServer, params: types.InitializeParams) -> None:
    ls.session.configure(params, ls.workspace)


@server.feature(types.INITIALIZED)
def initialized(ls: RatecardServer, params: types.InitializedParams) -> None:
    watch = ls.client_capabilities.workspace
    if watch and watch.did_change_watched_files and watch.did_change_watched_files.dynamic_registration:
        ls.client_register_capability(types.RegistrationParams([types.Registration(
            id="ratecard-pricing-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                [types.FileSystemWatcher(glob_pattern="**/*.pricing")]))]))
    ls.session.schedule(ls, now=True)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RatecardServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.session.refresh(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: RatecardServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.session.schedule(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: RatecardServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.session.refresh(ls, params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RatecardServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.session.refresh(ls, params.text_document.uri)  # back to the file on disk, if there is one


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
def folders_changed(ls: RatecardServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    ls.session.folders_changed(ls)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def files_changed(ls: RatecardServer, params: types.DidChangeWatchedFilesParams) -> None:
    ls.session.files_changed(ls)


# ---------------------------------------------------------------- features


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: RatecardServer, params: types.DefinitionParams) -> list[types.Location] | None:
    found = ls.session.analysis(params.text_document.uri)
    if found is None:
        return None
    analysis, name = found
    spans = navigation.definitions(analysis, name, *_point(ls, params.text_document.uri, params.position))
    return [loc for loc in (location(analysis, s, ls.session.positions) for s in spans) if loc] or None


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
def references(ls: RatecardServer, params: types.ReferenceParams) -> list[types.Location] | None:
    found = ls.session.analysis(params.text_document.uri)
    if found is None:
        return None
    analysis, name = found
    spans = navigation.references(analysis, name, *_point(ls, params.text_document.uri, params.position),
                                  params.context.include_declaration)
    return [loc for loc in (location(analysis, s, ls.session.positions) for s in spans) if loc] or None


@server.feature(types.TEXT_DOCUMENT_HOVER)
def on_hover(ls: RatecardServer, params: types.HoverParams) -> types.Hover | None:
    found = ls.session.analysis(params.text_document.uri)
    if found is None:
        return None
    analysis, name = found
    answer = hover.hover_text(analysis, name, *_point(ls, params.text_document.uri, params.position))
    if answer is None:
        return None
    text, span = answer
    return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text),
                       ls.session.positions.range(span, analysis.lines(name)))


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=['"']))
def on_completion(ls: RatecardServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    found = ls.session.analysis(uri)
    items = completion.complete(found[0] if found else None, ls.session.text(uri),
                                *_point(ls, uri, params.position))
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: RatecardServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    text = doc.source
    formatted, _problems = format_source(text, doc.path)
    if formatted is None:
        return None  # does not parse (the syntax error is already shown), or fmt refused
    if formatted == text:
        return []
    lines = text.split("\n")
    end = ls.session.positions.position(lines, len(lines), len(lines[-1]) + 1)
    return [types.TextEdit(types.Range(types.Position(0, 0), end), formatted)]


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbols(ls: RatecardServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    found = ls.session.analysis(params.text_document.uri)
    tree = found[0].tree(found[1]) if found else None
    if tree is None:
        return []
    return outline.document_symbols(tree, found[0].texts[found[1]], ls.session.positions)


@server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, tokens.LEGEND)
def semantic_tokens(ls: RatecardServer, params: types.SemanticTokensParams) -> types.SemanticTokens:
    uri = params.text_document.uri
    found = ls.session.analysis(uri)
    analysis, name = found if found else (None, None)
    return types.SemanticTokens(data=tokens.semantic_tokens(analysis, name, ls.session.text(uri),
                                                            ls.session.positions))


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
def code_action(ls: RatecardServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    found = ls.session.analysis(uri)
    if found is None:
        return None
    analysis, name = found
    start = _point(ls, uri, params.range.start)
    end = _point(ls, uri, params.range.end)
    return actions.code_actions(analysis, name, (*start, *end), ls.session.positions,
                                ls.session.options.diagnostics_docs) or None


def serve() -> int:
    """Run the server over standard input and output until the client says exit; the exit code.

    pygls closes the stream it writes to when the client says `exit`: it gets a handle of its
    own on standard output, so the process's `sys.stdout` stays open for the command's last
    flush. The code is 0 when `shutdown` came first, else 1, as the protocol says."""
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as out:
        server.start_io(sys.stdin.buffer, out)
    return 0 if server.protocol._shutdown else 1  # pygls's own record of `shutdown`
