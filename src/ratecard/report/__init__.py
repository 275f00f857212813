"""Documents people read: billing's results as view models rendered by Jinja.

    billing (InvoiceRun, Evaluation)  ->  view models (formatted strings)  ->  templates/*.j2

`invoice_views` builds the invoices' view models (`view_models`), with
`formatter` for money, numbers and dates, `text_layout` and `summary` for the
100-column text; `credit_history` is the credits ledger, `explain` how each
line was priced. `render` runs the templates, a `--template-dir` in the
sandbox (`sandbox`); `pages` and `files` are billing's sinks that render each
invoice where it is priced (a document's pages, `invoice -o DIR`'s files), and
`defaults` the locale and issuer a document has when the command line names none. This package reads billing and the model; billing never
imports it.
"""
