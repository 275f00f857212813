"""User templates (`--template-dir`) run in Jinja's sandbox, with bounded rendering.

A template directory may come from someone else (a designer, a shared
repository), so its templates are untrusted code. They run in
`jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute or method that
starts with `_` (so no `lipsum.__globals__`, no `''.__class__.__mro__`), no
call Jinja marks unsafe, no change to the lists and dicts of the view model,
and no template read from outside the directory (a symlink out of it is not
followed). What a template may cost is bounded per rendered document, the
same way on every machine (no clock: outputs stay deterministic):

- `range()` has at most `MAX_RANGE` numbers;
- `MAX_STEPS` steps, and `STEPS_PER_ITEM` more per value in the view model:
  every loop iteration and every number of a `range()` counts one, every
  call (a macro, a method, a global) `CALL_STEPS`; a deterministic stand-in
  for time (seconds of work for a document of one invoice);
- `MAX_OUTPUT` characters printed, and `OUTPUT_PER_ITEM` more per value in
  the view model; text that a macro or a `{% set %}` block produces counts
  where it is produced and again where it is printed;
- no value built by the template (`*`, `+`, `~`, `%`, a call's or a filter's
  result) is longer than `MAX_VALUE`; no integer passed to a call or a
  filter is beyond `MAX_NUMBER`, and none computed with `*` or `**` has more
  than `MAX_INT_BITS` bits; no format string asks for a field wider than
  `MAX_NUMBER`.

A template that goes past one of them stops with `TemplateLimit` (a Jinja
`SecurityError`), which `render` reports as E704 naming the template and line.
See docs/invoices.md, "The template sandbox".
"""

from __future__ import annotations

import contextvars
import dataclasses
import decimal
import functools
import os
import re
import string
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

MAX_RANGE = 100_000
MAX_STEPS = 10_000_000  # per document, plus STEPS_PER_ITEM per item of its view model
STEPS_PER_ITEM = 100
CALL_STEPS = 10  # a call (a macro's above all) costs about ten loop iterations
MAX_OUTPUT = 1 << 28  # characters per document, plus OUTPUT_PER_ITEM per item of its view model
OUTPUT_PER_ITEM = 16 << 10
MAX_VALUE = 1 << 26  # characters (or items) of one value
MAX_NUMBER = 10_000_000
MAX_INT_BITS = 4096
# a printf-style conversion (`%09999999999d`), and the numbers in a format spec (`>99999999`)
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d*))?[hlL]?[diouxXeEfFgGcrsa%]")
_DIGITS = re.compile(r"\d+")

LOOP_FILTER = "ratecard_loop_step"  # wraps every `{% for %}`'s iterable (see `BoundedCode`)


class TemplateLimit(SecurityError):
    """A user template went past a bound of the sandbox."""


class Budget:
    """What one document's rendering may spend, and has spent. A document's bounds
    grow with its view model (`items`): a run of 20,000 invoices rendered as one
    document may take what 20,000 documents of one invoice would."""

    __slots__ = ("steps", "output", "max_steps", "max_output")

    def __init__(self, items: int = 0):
        self.steps = 0
        self.output = 0
        self.max_steps = MAX_STEPS + STEPS_PER_ITEM * items
        self.max_output = MAX_OUTPUT + OUTPUT_PER_ITEM * items

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise TemplateLimit(f"the template ran more than {self.max_steps:,} steps (loop iterations, "
                                f"range numbers, and {CALL_STEPS} per call) for one document")

    def printed(self, n: int) -> None:
        self.output += n
        if self.output > self.max_output:
            raise TemplateLimit(f"the template printed more than {self.max_output:,} characters "
                                "for one document")


_LEAVES = frozenset({str, int, float, bool, type(None), decimal.Decimal, Markup})
_FIELDS: dict[type, tuple[str, ...]] = {}


def view_items(value) -> int:
    """How many values a view model holds: its texts and numbers, the items of its
    lists and dicts and the fields of its dataclasses (an object met twice counts once)."""
    count, stack, seen = 0, [value], set()
    while stack:
        item = stack.pop()
        count += 1
        kind = type(item)
        if kind in _LEAVES:
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if kind in (list, tuple, set, frozenset):
            stack.extend(item)
        elif kind is dict:
            stack.extend(item.values())
        else:
            names = _FIELDS.get(kind)
            if names is None:
                names = _FIELDS[kind] = (tuple(f.name for f in dataclasses.fields(item))
                                         if dataclasses.is_dataclass(item) and not isinstance(item, type) else ())
            stack.extend(getattr(item, name) for name in names)
    return count


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("ratecard_template_budget", default=None)


def _budget() -> Budget:
    budget = _BUDGET.get()
    if budget is None:  # compiling, or a template rendered outside `render_bounded`: one of its own
        budget = Budget()
        _BUDGET.set(budget)
    return budget


def _check_value(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple, dict, set)) and len(value) > MAX_VALUE:
        raise TemplateLimit(f"the template built a value of {len(value):,} characters or items "
                            f"(at most {MAX_VALUE:,})")
    return value


def _check_number(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        raise TemplateLimit(f"the number {value} is too large for a template (at most {MAX_NUMBER:,})")


def _check_widths(numbers) -> None:
    if any(n and (len(n) > len(str(MAX_NUMBER)) or int(n) > MAX_NUMBER) for n in numbers):
        raise TemplateLimit(f"a format string asks for a field wider than {MAX_NUMBER:,} characters")


def _check_printf(text: Any) -> None:
    """`text % values` (and the `format` filter): widths and precisions bounded."""
    if isinstance(text, str) and "%" in text:
        _check_widths(n for m in _PRINTF.finditer(text) for n in m.groups())


def _check_format_spec(text: Any) -> None:
    """`text.format(...)`: the widths and precisions of its fields bounded."""
    if isinstance(text, str) and "{" in text:
        try:
            specs = [spec for _, _, spec, _ in string.Formatter().parse(text) if spec]
        except ValueError:  # not a format string: `format` says so itself
            return
        _check_widths(n for spec in specs for n in _DIGITS.findall(spec))


def _bounded_filter(func):
    """A filter whose numeric arguments are bounded and whose result is checked."""
    skip = 2 if getattr(func, "jinja_pass_arg", None) is not None else 1  # (context,) value

    @functools.wraps(func)
    def bounded(*args, **kwargs):
        for value in (*args[skip:], *kwargs.values()):
            _check_number(value)
        if func.__name__ == "do_format" and len(args) >= skip:
            _check_printf(args[skip - 1])
        return _check_value(func(*args, **kwargs))

    return bounded


def _loop_step(iterable):
    """Every iteration of a template loop is a step."""
    budget = _budget()
    for item in iterable:
        budget.step()
        yield item


class BoundedCode(CodeGenerator):
    """Jinja's code generator, with the sandbox's counters in the generated code:
    every loop's iterable goes through `LOOP_FILTER`, every piece of template
    text printed is counted, and every `~` result is checked."""

    def visit_Template(self, node: nodes.Template, frame=None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    def visit_Output(self, node: nodes.Output, frame) -> None:
        text = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
        if text and not (frame.require_output_check and self.has_known_extends):
            self.writeline(f"environment.ratecard_printed({text})")
        super().visit_Output(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        self.write("environment.ratecard_value(")
        super().visit_Concat(node, frame)
        self.write(")")


class ContainedLoader(jinja2.FileSystemLoader):
    """Templates from one directory, and only from inside it: a symlink that leads
    out of the directory is not followed (it could read any file)."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        inside = any(os.path.commonpath([os.path.realpath(filename), os.path.realpath(root)])
                     == os.path.realpath(root) for root in self.searchpath)
        if not inside:
            raise TemplateLimit(f"{template} leads out of the template directory "
                                f"(to {os.path.realpath(filename)}); a template is read from inside it only")
        return source, filename, uptodate


class UserTemplates(ImmutableSandboxedEnvironment):
    """The environment for a `--template-dir` (and the shipped templates it falls
    back on): Jinja's immutable sandbox, bounded as the module says."""

    code_generator_class = BoundedCode
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options):
        super().__init__(finalize=self._finalize, **options)
        self.globals["range"] = self._range
        self.filters[LOOP_FILTER] = _loop_step

    def bound_filters(self) -> None:
        """Wrap every filter (call once all are added)."""
        self.filters = {name: func if name == LOOP_FILTER else _bounded_filter(func)
                        for name, func in self.filters.items()}

    def render_bounded(self, template: jinja2.Template, context: dict) -> str:
        """Render one document with a budget of its own."""
        token = _BUDGET.set(Budget(view_items(context)))
        try:
            return template.render(**context)
        finally:
            _BUDGET.reset(token)

    # -- counters the generated code and the sandbox call

    @staticmethod
    @jinja2.pass_context
    def _finalize(context, value):
        _budget().printed(len(value) if isinstance(value, str) else len(str(value)))
        return value

    @staticmethod
    def ratecard_printed(n: int) -> None:
        _budget().printed(n)

    @staticmethod
    def ratecard_value(value):
        return _check_value(value)

    @staticmethod
    def _range(*args):
        for value in args:
            _check_number(value)
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise TemplateLimit(f"range() of {len(numbers):,} numbers (at most {MAX_RANGE:,})")
        _budget().step(len(numbers))
        return numbers

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _budget().step(CALL_STEPS)
        for value in (*args, *kwargs.values()):
            _check_number(value)
        method = getattr(__obj, "__wrapped__", None)  # `str.format`, as Jinja's sandbox wraps it
        if getattr(method, "__name__", None) in ("format", "format_map"):
            _check_format_spec(getattr(method, "__self__", None))
        return _check_value(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator: str, left, right):
        if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            if abs(left).bit_length() * right > MAX_INT_BITS:
                raise TemplateLimit(f"{left} ** {right} is too large for a template "
                                    f"(at most {MAX_INT_BITS} bits)")
        elif operator == "*":
            if _is_int(left) and _is_int(right):
                if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                    raise TemplateLimit(f"a product too large for a template (at most {MAX_INT_BITS} bits)")
            else:
                count, seq = (left, right) if _is_int(left) else (right, left)
                if _is_int(count) and hasattr(seq, "__len__") and len(seq) * count > MAX_VALUE:
                    raise TemplateLimit(f"the template built a value of {len(seq) * count:,} characters "
                                        f"or items (at most {MAX_VALUE:,})")
        elif operator == "+" and hasattr(left, "__len__") and hasattr(right, "__len__"):
            if len(left) + len(right) > MAX_VALUE:
                raise TemplateLimit(f"the template built a value of {len(left) + len(right):,} characters "
                                    f"or items (at most {MAX_VALUE:,})")
        elif operator == "%":
            _check_printf(left)
        return _check_value(super().call_binop(context, operator, left, right))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
