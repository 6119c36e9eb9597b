"""Which strings must never be shown (the token, the webhook secret, REDIS_URL's password) and
how they are masked. Its own module: every command masks its output, and only `run` needs the
HTTP listener's libraries."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"


def secrets_of(settings: Any) -> list[str]:
    """The strings that must never be shown: the token (and its secret half), the webhook's
    secret, REDIS_URL's password, and their URL-encoded forms."""
    found: list[str] = []
    token = getattr(settings, "token", None) or ""
    if token:
        found.append(token)
        _, _, secret_half = token.partition(":")
        if len(secret_half) >= 8:
            found.append(secret_half)
    webhook_secret = getattr(settings, "webhook_secret", None) or ""
    if webhook_secret:
        found.append(webhook_secret)
    redis_url = getattr(settings, "redis_url", None) or ""
    if redis_url:
        try:
            password = urlsplit(redis_url).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    encoded = []
    for secret in found:
        for form in (secret.replace(":", "%3A"), secret.replace(":", "%3a")):
            if form != secret:
                encoded.append(form)
    # Longest first, so a secret containing another is masked whole.
    return sorted({s for s in found + encoded if len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ***."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def safe_url(url: str) -> str:
    """A URL with any user:password part masked (for REDIS_URL in messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"{MASK}@{host}").geturl()
