"""One module per subcommand; the order here is the order `--help` lists them."""

from . import check, compile, schema
from . import fmt
from . import explain, invoice, credits
from . import sql
from . import diff, test
from . import issue, ledger_cmd, lsp

COMMANDS = (check, compile, fmt, schema, invoice, credits, explain, sql, test, diff, issue, ledger_cmd, lsp)
