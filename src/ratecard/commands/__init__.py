"""One module per subcommand; the order here is the order `--help` lists them."""

from . import check, compile, schema
from . import explain, invoice

COMMANDS = (check, compile, schema, invoice, explain)
