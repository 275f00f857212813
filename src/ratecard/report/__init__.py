"""Documents people read: billing's results as view models rendered by Jinja.

    billing (InvoiceRun, Evaluation)  ->  view models (formatted strings)  ->  templates/*.j2

`invoice_views` builds the invoices' view models (`view_models`), with
`formatter` for money, numbers and dates, `text_layout` and `summary` for the
100-column text; `credit_history` is the credits ledger, `explain` how each
line was priced. `render` runs the templates, a `--template-dir` in the
sandbox (`sandbox`). This package reads billing and the model; billing never
imports it.
"""
