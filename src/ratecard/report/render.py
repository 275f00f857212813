"""Jinja rendering: one environment, shipped templates, user templates first.

Templates receive computed view models and do no arithmetic. `StrictUndefined`
makes a missing field an error instead of a blank; HTML templates are
autoescaped. `--template-dir` puts a user's directory ahead of the shipped
templates; those run in Jinja's sandbox with bounded rendering
(`ratecard.report.sandbox`), the shipped ones too when they are the fallback. A
broken template, or one that goes past the sandbox, is reported with its name
and line.

Two filters help the non-HTML formats lay out text they did not compute:
`md` escapes Markdown punctuation in a value (Markdown has no autoescape), and
`wrap(width, indent="", hang="")` splits a value into lines of at most `width`
characters for fixed-width text tables. Neither changes a value's characters:
a run of spaces in a dimension value is what was billed (docs/invoices.md,
"Values that cannot be shown"), so `md` writes a value Markdown would show
with fewer spaces as a code span, which keeps them.
"""

from __future__ import annotations

import contextlib
import functools
import re

import jinja2
from jinja2.sandbox import SecurityError

from ..diagnostics import Diagnostic, error, first_line
from .sandbox import ContainedLoader, UserTemplates
from .text_cells import one_line, wrap_lines


class TemplateProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# HTML and XML templates are autoescaped, also when named `invoice.html.j2`
_ESCAPED = tuple(f"{kind}{suffix}" for kind in ("html", "htm", "xml")
                 for suffix in ("", ".j2", ".jinja", ".jinja2"))


@functools.lru_cache(maxsize=8)
def environment(template_dir: str | None = None) -> jinja2.Environment:
    """The shipped templates (trusted: a plain environment), or a user's directory
    ahead of them (untrusted: the sandbox, `ratecard.report.sandbox`)."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(ContainedLoader(template_dir))
    loaders.append(jinja2.PackageLoader("ratecard.report", "templates"))
    options = dict(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=_ESCAPED, default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # the shipped templates do not change while ratecard runs: not checked again before each
        # document (`invoice -o` renders one per invoice); a user's directory is, as Jinja does
        auto_reload=bool(template_dir),
    )
    env = UserTemplates(**options) if template_dir else jinja2.Environment(**options)
    env.filters["md"] = markdown_escape
    env.filters["wrap"] = wrap_lines
    if isinstance(env, UserTemplates):
        env.bound_filters()
    return env


# punctuation Markdown may read as markup; `_` only where it could start or end
# emphasis (inside a word, as in `cust_acme`, it is plain text)
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]<>&#|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def markdown_escape(value) -> str:
    """A value as literal Markdown text, one line: punctuation backslash-escaped; or,
    when Markdown would drop some of its spaces (a run of them, or one at either end,
    as `us  east` in a dimension value), as a code span, where every space shows."""
    text = one_line(value)
    if "  " in text or text[:1] == " " or text[-1:] == " ":
        return code_span(text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def code_span(text: str) -> str:
    """`text` as a Markdown code span that shows it exactly: fenced by one backtick more
    than its longest run of them, padded with a space where CommonMark strips one (a
    text that starts or ends with a backtick, or with a space at both ends), and its
    `|` escaped, as a GitHub table cell needs even inside a code span."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if "`" in (text[:1], text[-1:]) or (
        text[:1] == " " and text[-1:] == " " and text.strip(" ")) else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def render(template: str, template_dir: str | None = None, **context) -> str:
    """Render a template by name; template errors become one diagnostic."""
    env = environment(template_dir)
    with diagnosed(template):
        if isinstance(env, UserTemplates):
            return env.render_bounded(env.get_template(template), context)
        return env.get_template(template).render(**context)


def render_block(template: str, block: str, **context) -> str:
    """One block of a shipped template, rendered on its own with `context` (what the
    block would see where the template renders it: its own variables; see
    `report.pages`). Template errors become one diagnostic, as with `render`."""
    env = environment(None)
    with diagnosed(template):
        found = env.get_template(template)
        try:
            return env.concat(found.blocks[block](found.new_context(context)))  # type: ignore[attr-defined]
        except Exception:
            env.handle_exception()  # as `Template.render` does: the traceback at the template's lines
            raise  # (not reached: handle_exception raises)


def render_around(template: str, block: str, printed: str, **context) -> str:
    """A shipped template rendered with `block` printing the expression `printed` instead
    of its own body (`inv.page`: each invoice's block, rendered before by `render_block`;
    see `report.pages`), as it is, not escaped again."""
    with diagnosed(template):
        return _around(template, block, printed).render(**context)


@functools.lru_cache(maxsize=8)
def _around(template: str, block: str, printed: str) -> jinja2.Template:
    # a template from a string is not autoescaped (`default_for_string=False`): the block
    # prints what was rendered as it is, while the rest of `template` is escaped as always
    return environment(None).from_string(
        f'{{% extends "{template}" %}}{{% block {block} %}}{{{{ {printed} }}}}{{% endblock %}}')


@contextlib.contextmanager
def diagnosed(template: str):
    """Errors while rendering `template` as a `TemplateProblem` (E700-E704) naming it."""
    try:
        yield
    except SecurityError as exc:  # the sandbox: an unsafe attribute or call, a bound passed
        where = _template_frame(exc) or _template_name(exc) or template
        raise TemplateProblem(error("E704", f"template {where}: {first_line(exc)}",
                                    hints=["templates from --template-dir run in a sandbox: no attribute "
                                           "starting with `_`, bounded loops, output and values "
                                           "(docs/invoices.md)"])) from None
    except MemoryError:
        raise TemplateProblem(error("E704", f"template {template}: ran out of memory",
                                    hints=["templates from --template-dir run in a sandbox; "
                                           "see docs/invoices.md for its bounds"])) from None
    except jinja2.TemplateSyntaxError as exc:
        name = exc.filename or exc.name or template
        raise TemplateProblem(error("E700", f"template {name}:{exc.lineno}: {exc.message}")) from None
    except jinja2.UndefinedError as exc:
        where = _template_frame(exc) or template
        raise TemplateProblem(error("E701", f"template {where}: {exc.message}",
                                    hints=["the template uses a field the view model does not have"])) from None
    except jinja2.TemplateNotFound as exc:
        raise TemplateProblem(error("E702", f"template not found: {exc.name}")) from None
    except jinja2.TemplateError as exc:
        where = _template_frame(exc) or template
        raise TemplateProblem(error("E703", f"template {where}: {exc}")) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, LookupError,
            RecursionError) as exc:
        where = _template_frame(exc) or template
        raise TemplateProblem(error("E703", f"template {where}: {type(exc).__name__}: {exc}")) from None
    except OSError as exc:
        raise TemplateProblem(error("E703", f"template {template}: cannot read it: "
                                            f"{exc.strerror or exc}")) from None


def _template_name(exc: BaseException) -> str | None:
    return getattr(exc, "name", None)


def _template_frame(exc: BaseException) -> str | None:
    """`name:line` of the innermost template frame in a rendering traceback.

    Jinja rewrites tracebacks so that template code appears as frames whose
    file is the template's and whose line is the template's line.
    """
    found = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith((".j2", ".jinja", ".html", ".txt", ".md")) or "<template>" in filename:
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


# The file extension of each output format: `invoice -o DIR` and `ledger export` name files alike.
EXTENSIONS = {"json": "json", "text": "txt", "markdown": "md", "html": "html"}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_names(numbers: list[str], ext: str) -> list[str]:
    """`<invoice number>.<ext>`, made safe as a file name and unique (deterministically).

    Numbers are `<contract>-<date>[-C<n>]`; contract names from JSON contracts may
    hold any character, so anything but letters, digits, `.`, `_` and `-` becomes
    `_`, a leading dot is dropped, and a clash gets `-2`, `-3`, ... in invoice order.
    """
    seen: set[str] = set()
    names = []
    for number in numbers:
        stem = _UNSAFE.sub("_", number).lstrip(".")[:200] or "invoice"
        name, n = f"{stem}.{ext}", 1
        while name.lower() in seen:
            n += 1
            name = f"{stem}-{n}.{ext}"
        seen.add(name.lower())
        names.append(name)
    return names
