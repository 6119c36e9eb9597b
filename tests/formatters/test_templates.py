"""Operator templates: fields by name, literal text escaped, unknown fields refused."""
from __future__ import annotations

import pytest

from formatters.errors import TemplateError, UnrenderableArticle
from formatters.post import render_post
from formatters.templates import DEFAULT_TEMPLATES, FIELDS, validate_template
from tests.formatters.conftest import (
    FIRST_SEEN,
    article,
    channel,
    check_post,
    strip_marks,
)


def test_default_templates_are_valid_and_use_every_field() -> None:
    """Both default templates pass validation and name all seven fields."""
    for template in DEFAULT_TEMPLATES.values():
        validate_template(template)
        for field in FIELDS:
            assert "{" + field + "}" in template


@pytest.mark.parametrize("template", [
    "{titel}", "{title.__class__}", "{0}", "{}", "{title!r}", "{date:%Y}", "{title[0]}",
    "{title", "title}", "{{title}", "x" * 2001,
])
def test_bad_templates_are_refused_with_a_clear_error(template: str) -> None:
    """Unknown fields, attribute access, format specs and stray braces are a ValueError."""
    with pytest.raises(ValueError) as error:
        validate_template(template)
    assert isinstance(error.value, TemplateError)
    assert str(error.value)


def test_unknown_field_message_names_the_field_and_the_choices() -> None:
    """The operator learns which field is wrong and which ones exist."""
    with pytest.raises(TemplateError, match=r"unknown field \{titel\}.*\{title\}, \{date\}"):
        validate_template("📰 {titel}\n{date}")


def test_literal_text_is_escaped_and_cannot_break_the_html() -> None:
    """Tags, entities and braces in the operator's text show as text."""
    template = "<b>عاجل</b> & {{مهم}} {title}\n</a><i>{date}\n{link}"
    validate_template(template)
    post = render_post(article(), channel(template=template), timezone="UTC",
                       first_seen=FIRST_SEEN)
    text = strip_marks(check_post(post))
    assert text.split("\n")[0] == "<b>عاجل</b> & {مهم} الدوافع الاستراتيجية للتقارب السوري الروسي"
    assert text.split("\n")[1].startswith("</a><i>")
    assert "&lt;b&gt;عاجل&lt;/b&gt; &amp; {مهم}" in strip_marks(post.html)


def test_lines_whose_fields_are_all_empty_are_left_out() -> None:
    """'بقلم: {author}' disappears when there is no author; blank lines never pile up."""
    post = render_post(article(author="", source_name="", categories=()), channel(),
                       timezone="UTC", first_seen=FIRST_SEEN)
    text = strip_marks(check_post(post))
    assert "بقلم" not in text and "المصدر" not in text
    assert "\n\n\n" not in text
    assert not text.endswith("\n")


def test_custom_template_fields_by_name() -> None:
    """A custom template places our fields where the operator wants them."""
    template = "📰 {source} | {date}\n{title}\n{excerpt}\n{hashtags}"
    post = render_post(article(), channel(template=template, hashtags=True), timezone="UTC",
                       first_seen=FIRST_SEEN)
    lines = strip_marks(check_post(post)).split("\n")
    assert lines[0] == "📰 مركز الدراسات | الخميس 18 سبتمبر 2025"
    assert lines[1] == "الدوافع الاستراتيجية للتقارب السوري الروسي"
    assert lines[-1] == "#الشأن_السوري #روسيا"
    assert "<b>الدوافع" in post.html


def test_an_invalid_template_at_render_time_is_a_clear_skip() -> None:
    """A template that slipped past validation makes a logged skip, not a crash."""
    with pytest.raises(UnrenderableArticle, match="template is invalid"):
        render_post(article(), channel(template="{nope}"), timezone="UTC", first_seen=FIRST_SEEN)


def test_a_template_too_long_for_a_caption_falls_back_to_a_text_post() -> None:
    """When even the bare caption is over 1024, the post goes out as text with a preview."""
    template = "{title}\n" + "ا" * 1500 + "\n{link}"
    post = render_post(article(), channel(template=template, photo=True), timezone="UTC",
                       first_seen=FIRST_SEEN)
    check_post(post)
    assert post.photo_url is None and post.preview_url is not None
