"""`ratecard lsp`: the language server, over standard input and output.

Editors start it themselves (see docs/editors.md); it runs until the client
asks it to exit (code 0 after `shutdown`, else 1, as the protocol says). pygls
is imported only here, so other commands start no slower.
"""

from __future__ import annotations

from .common import EXIT_INPUT, EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("lsp", help="run the language server (for editors) over stdio",
                       description="Run the ratecard language server over standard input and output. "
                                   "Editors start it; see docs/editors.md.")
    p.add_argument("--stdio", action="store_true",
                   help="accepted for clients that pass it; stdio is the only transport")
    p.set_defaults(run=run)


def run(args) -> int:
    import gc

    from ..lsp.server import serve

    # `cli.entry` turns the cyclic collector off for commands that exit when done;
    # a server lives for the whole editing session, so it needs it back on
    gc.enable()
    return EXIT_OK if serve() == 0 else EXIT_INPUT  # 1: `exit` without `shutdown` (LSP)
