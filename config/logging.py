"""The only place logging is configured: JSON lines off a terminal, text on one.

Context such as feed, chat and article ids travels in `extra={...}` and is printed on every
line. Secrets (the bot token) are masked in every message, whatever logged them, and so are the
credentials inside URLs (`user:pw@`, `?apikey=`…) when the caller passes a `mask` for them
(main.py passes guards.urls.mask_urls_in_text; config sits below guards and cannot import it)."""
from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

_CONTEXT_FIELDS = ("feed", "chat", "article", "user", "command", "worker")


class _Redactor(logging.Filter):
    def __init__(self, secrets: list[str], mask: Callable[[str], str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]
        self.mask = mask

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return self.mask(text) if self.mask is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets or self.mask is not None:
            record.msg, record.args = self._mask(record.getMessage()), None
            for name in _CONTEXT_FIELDS:  # a feed URL in `extra` can carry a key too
                value = getattr(record, name, None)
                if isinstance(value, str):
                    setattr(record, name, self._mask(value))
            if record.stack_info:
                record.stack_info = self._mask(record.stack_info)
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text, record.exc_info = self._mask(text), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                data[name] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["error"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={getattr(record, name)}" for name in _CONTEXT_FIELDS
                           if getattr(record, name, None) not in (None, ""))
        return f"{line} [{context}]" if context else line


def configure_logging(log_format: str, *, secrets: list[str] | None = None,
                      level: int = logging.INFO,
                      mask: Callable[[str], str] | None = None) -> None:
    """Log to stderr as JSON lines or text; `secrets` are replaced by *** in every record and
    `mask` (if given) is applied to every message, context field and traceback."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_Redactor(secrets or [], mask))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # An exception nobody caught goes through logging too, so its traceback is masked.
    def excepthook(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)  # type: ignore[arg-type]
            return
        logging.getLogger("nashir").critical("uncaught error", exc_info=(kind, value, tb))  # type: ignore[arg-type]

    sys.excepthook = excepthook
    # Library chatter at INFO would drown the bot's own lines (httpx logs every request URL,
    # which contains the token).
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
