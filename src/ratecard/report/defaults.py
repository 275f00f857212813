"""What a rendered document says when the command line does not say otherwise.

Apart from the modules that use them so that a command can list these defaults
in its `--help` without importing Babel, Jinja and the view models
(`ratecard check` starts faster for it).
"""

DEFAULT_LOCALE = "en_US"  # how money, numbers and dates are written
DEFAULT_ISSUER = "ratecard"  # who issues the invoices, shown as `From`
