"""Jinja rendering: one environment, shipped templates, user templates first.

Templates receive computed view models and do no arithmetic. `StrictUndefined`
makes a missing field an error instead of a blank; HTML templates are
autoescaped. `--template-dir` puts a user's directory ahead of the shipped
templates; a broken template is reported with its name and line.
"""

from __future__ import annotations

import functools

import jinja2

from .diagnostics import Diagnostic, error


class TemplateProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@functools.lru_cache(maxsize=8)
def environment(template_dir: str | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.PackageLoader("ratecard", "templates"))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml"),
                                            default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render(template: str, template_dir: str | None = None, **context) -> str:
    """Render a template by name; template errors become one diagnostic."""
    env = environment(template_dir)
    try:
        return env.get_template(template).render(**context)
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
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError) as exc:
        where = _template_frame(exc) or template
        raise TemplateProblem(error("E703", f"template {where}: {type(exc).__name__}: {exc}")) from None


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
