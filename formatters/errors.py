"""Errors the formatters raise.

    FormatterError                 base of everything below
    ├── UnrenderableArticle        an article that cannot become a post; `reason` says why (logged)
    └── TemplateError (ValueError) an operator's template is malformed; config validation shows it
"""
from __future__ import annotations


class FormatterError(Exception):
    """Base class of the formatters' errors."""


class UnrenderableArticle(FormatterError):
    """The article cannot become a valid post. The caller logs `reason` and skips the item."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemplateError(FormatterError, ValueError):
    """A channel template names an unknown field or is otherwise malformed."""
