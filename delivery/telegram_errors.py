"""Telegram's error classes for the sender, imported on first use.

The sender matches what a transport raised against them, and `except` evaluates its classes only
when something was raised: a dry run, whose preview never raises them, does not import
python-telegram-bot (0.13 s of a `once` start-up).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram.error import BadRequest as BadRequest
    from telegram.error import ChatMigrated as ChatMigrated
    from telegram.error import Forbidden as Forbidden
    from telegram.error import NetworkError as NetworkError
    from telegram.error import RetryAfter as RetryAfter
    from telegram.error import TelegramError as TelegramError
    from telegram.error import TimedOut as TimedOut
    from telegram.warnings import PTBDeprecationWarning as PTBDeprecationWarning


def __getattr__(name: str) -> Any:
    if name.startswith("_"):   # the import system's own questions must not load the library
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import telegram.error
    import telegram.warnings

    module = telegram.warnings if name.endswith("Warning") else telegram.error
    value = getattr(module, name)   # an unknown name raises AttributeError, as it should
    globals()[name] = value         # looked up once
    return value
