"""Post templates: the operator writes text with named fields; we fill the fields with markup.

Mechanism: `string.Formatter().parse` splits the template into literal text and `{field}`
names. Literal text is the operator's and is escaped (so `<b>` in a template shows as text and
can never break the HTML); fields are our own, already-valid Telegram HTML. Only the names in
FIELDS are allowed, with no format spec, conversion, attribute or index: `{title.__class__}`,
`{0}`, `{title!r}` and `{date:%Y}` are errors, reported by `validate_template`.

Line rule: a template line that holds fields, all of them empty for this article, is left out
(so "بقلم: {author}" disappears when there is no author), and blank lines never pile up.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from string import Formatter

from formatters.errors import TemplateError
from formatters.labels import DEFAULT_TEMPLATES
from formatters.rtl import isolate_line
from formatters.telegram_html import escape_text
from formatters.text import strip_controls

__all__ = ["DEFAULT_TEMPLATES", "EMPTY", "FIELDS", "Fragment", "compile_template", "render",
           "validate_template"]

FIELDS = ("title", "date", "excerpt", "link", "author", "source", "hashtags")
MAX_TEMPLATE_CHARS = 2000



@dataclass(frozen=True, slots=True)
class Fragment:
    """A piece of a post twice: as Telegram HTML, and as the text Telegram will show."""

    html: str
    text: str


EMPTY = Fragment("", "")


@dataclass(frozen=True, slots=True)
class _Piece:
    literal: Fragment | None = None
    field: str | None = None


Line = tuple[_Piece, ...]


def _parse(template: str) -> list[list[tuple[str, str | None]]]:
    if not isinstance(template, str):
        raise TemplateError("the template must be a string")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    lines = []
    for number, line in enumerate(template.replace("\r\n", "\n").split("\n"), start=1):
        try:
            parsed = list(Formatter().parse(line))
        except ValueError as exc:  # "Single '}' encountered", "expected '}' before end of string"
            raise TemplateError(f"template line {number}: {exc} (write {{{{ or }}}} for a brace)") \
                from None
        pieces: list[tuple[str, str | None]] = []
        for literal, name, spec, conversion in parsed:
            if literal:
                pieces.append((literal, None))
            if name is None:
                continue
            if name not in FIELDS:
                known = ", ".join("{" + f + "}" for f in FIELDS)
                shown = "{" + name + "}" if name else "{}"
                raise TemplateError(f"template line {number}: unknown field {shown}; "
                                    f"the fields are {known}")
            if spec or conversion:
                raise TemplateError(f"template line {number}: field {{{name}}} takes no "
                                    f"format or conversion")
            pieces.append(("", name))
        lines.append(pieces)
    return lines


def validate_template(template: str) -> None:
    """Raise TemplateError (a ValueError) if the template is unusable (checked at config load)."""
    _parse(template)


@lru_cache(maxsize=64)
def compile_template(template: str, language: str) -> tuple[Line, ...]:
    """The template as lines of escaped, direction-safe literals and field slots."""
    compiled = []
    for pieces in _parse(template):
        line: list[_Piece] = []
        for literal, name in pieces:
            if name is not None:
                line.append(_Piece(field=name))
                continue
            text = isolate_line(strip_controls(literal).replace("\n", " "), language)
            line.append(_Piece(literal=Fragment(escape_text(text), text)))
        compiled.append(tuple(line))
    return tuple(compiled)


def render(lines: tuple[Line, ...], fields: Mapping[str, Fragment]) -> Fragment:
    """Fill the fields; leave out lines whose fields are all empty; tidy blank lines.

    Field fragments are clean text (never only whitespace), so "empty" means "". Blank lines
    in the result are exactly "" and never first, last or doubled.
    """
    out_html: list[str] = []
    out_text: list[str] = []
    blank = True  # no blank line at the top
    for line in lines:
        if len(line) == 1:  # the usual "{field}" line, made fast
            piece = line[0]
            fragment = piece.literal if piece.field is None else fields.get(piece.field, EMPTY)
            assert fragment is not None
            if not fragment.text:
                if piece.field is None and not blank:
                    out_html.append("")
                    out_text.append("")
                    blank = True
                continue
            html, text = fragment.html, fragment.text
        else:
            html_parts, text_parts = [], []
            has_field = filled = False
            for piece in line:
                fragment = piece.literal
                if fragment is None:
                    fragment = fields.get(piece.field, EMPTY)  # type: ignore[arg-type]
                    has_field = True
                    filled = filled or bool(fragment.text)
                html_parts.append(fragment.html)
                text_parts.append(fragment.text)
            if has_field and not filled:
                continue
            html, text = "".join(html_parts), "".join(text_parts)
        if not text or text.isspace():
            if not blank:
                out_html.append("")
                out_text.append("")
                blank = True
            continue
        out_html.append(html.rstrip(" "))
        out_text.append(text.rstrip(" "))
        blank = False
    if blank and out_text:
        out_text.pop()
        out_html.pop()
    return Fragment("\n".join(out_html), "\n".join(out_text))
