"""The ratecard language server (`ratecard lsp`), on pygls.

    server.py     the LSP handlers, nothing else
    session.py    state between requests: projects, analyses, published diagnostics
    project.py    which .pricing files form the project of a document
    analysis.py   open buffers + files on disk -> compile_sources -> Analysis (cached, debounced)
    symbols.py    the name index: definitions and references of meters, plans, contracts, dimensions
    report.py     Diagnostic -> LSP diagnostic (docs link, notes as related information)
    hover.py, wins.py, completion.py, navigation.py, outline.py, tokens.py, actions.py
                  one feature each
    positions.py  code points <-> the negotiated position encoding
    docs.py       diagnostic code -> its section of docs/diagnostics.md
"""
