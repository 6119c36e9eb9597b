"""What the config schema alone cannot tell: whether each channel's template makes a post.

A template is checked when the config is loaded (at start, by `check`, and on SIGHUP reload):
its fields and braces (formatters.templates), then a sample article rendered with it, so a
mistyped template is refused naming `template` instead of losing every post of the channel."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from config.schema import BotConfig, ConfigError, load_config
from formatters.errors import TemplateError, UnrenderableArticle
from formatters.templates import validate_template
from model.article import Article
from pipeline.render import render_for

SAMPLE = Article(
    uid="sample", feed_url="https://example.org/feed.xml",
    url="https://example.org/analysis/sample",
    title="الممرات التجارية الجديدة: هل تعيد رسم خريطة النفوذ في شرق المتوسط؟",
    published_at=datetime(2025, 9, 18, 9, 30, tzinfo=UTC), author="سارة الخطيب",
    categories=("الاقتصاد السياسي", "شرق المتوسط"),
    content_html="<p>تتسابق الدول المطلة على شرق المتوسط لاجتذاب ممرات التجارة الجديدة، بعد "
                 "أن ارتفعت كلفة الشحن عبر البحر الأحمر. ويرى محللون أن المشروع قد يغيّر "
                 "موازين النفوذ إذا تجاوز عقبات التمويل.</p>",
    image_url="https://example.org/images/sample.jpg", source_name="مرصد ناشر للتحليلات")


def config_problems(config: BotConfig) -> list[str]:
    """One line per channel setting the formatters cannot honour, naming the key."""
    problems = []
    first_seen = datetime(2025, 9, 18, 12, 0, tzinfo=UTC)
    for index, channel in enumerate(config.channels):
        if channel.template is None:
            continue
        key = f"channels[{index}].template = {channel.template!r}"
        try:
            validate_template(channel.template)
        except TemplateError as exc:
            problems.append(f"{key}: {exc}")
            continue
        try:
            render_for(config, channel, SAMPLE, first_seen)
        except UnrenderableArticle as exc:
            problems.append(f"{key}: a sample article cannot be posted with it: {exc.reason}")
    return problems


def load_checked_config(path: Path) -> BotConfig:
    """`config.schema.load_config`, then the checks above; ConfigError names every problem."""
    config = load_config(path)
    problems = config_problems(config)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    return config
