"""Transports: how a delivery reaches its chat. The sender knows only this protocol; Telegram's
transport is `delivery.telegram_transport`, the dry-run's `delivery.preview`."""
from __future__ import annotations

from typing import Protocol

from model.delivery import Delivery, Posted

# Texts that say the bot cannot post in the chat at all (as opposed to: this post is bad).
_CHAT_UNUSABLE = ("chat not found", "need administrator rights", "not enough rights",
                  "have no rights to send", "chat_write_forbidden", "chat_admin_required",
                  "bot is not a member", "chat_restricted", "channel_private")


def chat_unusable(exc: Exception) -> bool:
    """Whether Telegram's words say the bot cannot post in the chat at all."""
    return any(s in str(exc).lower() for s in _CHAT_UNUSABLE)


class Transport(Protocol):
    async def send(self, delivery: Delivery) -> int | Posted:
        """Post the delivery (or apply the edit it carries); return the message id."""
        ...
