"""One module per subcommand; the order here is the order `--help` lists them."""

from . import check, compile, schema

COMMANDS = (check, compile, schema)
