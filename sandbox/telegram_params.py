"""Reading a Bot API request's parameters as telegram-bot-api does (query, form, JSON,
multipart), checking the shared ones (reply markup, link preview, media), and small helpers."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from sandbox.telegram_records import JSON, UploadedFile, _Call, bad_request

MAX_INLINE_BUTTONS = 100
MAX_MARKUP_BYTES = 10_240



async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    """Query string, then the body: form-encoded, JSON or multipart, as Telegram accepts."""
    params: JSON = {key: value for key, value in parse_qsl(
        request.query_string, keep_blank_values=True, errors="surrogateescape")}
    files: dict[str, UploadedFile] = {}
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if isinstance(body, dict):
            params.update(body)
    elif content_type == "application/x-www-form-urlencoded":
        text = (await request.read()).decode("latin-1")
        # Invalid UTF-8 becomes lone surrogates, which the text checks then refuse.
        params.update(parse_qsl(text, keep_blank_values=True, errors="surrogateescape"))
    elif content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = bytes(await part.read())
            if part.filename:
                mime = part.headers.get("Content-Type", "application/octet-stream")
                files[part.name] = UploadedFile(part.filename, mime, data)
            else:
                params[part.name] = data.decode("utf-8", "surrogateescape")
    return params, files


def _str(p: JSON, name: str) -> str | None:
    value = p.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _int(p: JSON, name: str) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        return None
    number = _maybe_int(value)
    if number is None:
        raise bad_request(f"invalid {name} specified")
    return number


def _maybe_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _bool(p: JSON, name: str) -> bool:
    value = p.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _json_param(p: JSON, name: str, what: str) -> Any:
    """A nested object: a JSON string in forms, already decoded in JSON bodies."""
    value = p.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise bad_request(f"can't parse {what} JSON object") from None


def _reply_markup(p: JSON) -> JSON | None:
    markup = _json_param(p, "reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("Object expected as reply markup")
    # Telegram refuses an inline keyboard of more than 100 buttons, or about 10 kB of markup
    # (tginfo/Telegram-Limits), with this text.
    count = sum(len(row) for row in markup.get("inline_keyboard", []) if isinstance(row, list))
    size = len(json.dumps(markup, ensure_ascii=False).encode())
    if count > MAX_INLINE_BUTTONS or size > MAX_MARKUP_BYTES:
        raise bad_request("reply markup is too long")
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not isinstance(button, dict) or "text" not in button:
                raise bad_request("can't parse inline keyboard button: Text is not specified")
            if len(button) == 1:
                raise bad_request("can't parse inline keyboard button: Text buttons are "
                                  "unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _link_preview(p: JSON) -> JSON | None:
    preview = _json_param(p, "link_preview_options", "link preview options")
    if preview is None and _bool(p, "disable_web_page_preview"):
        preview = {"is_disabled": True}
    if preview is not None and not isinstance(preview, dict):
        raise bad_request("Object expected as link preview options")
    return preview


def _media_param(call: _Call, kind: str) -> str | UploadedFile:
    value = call.params.get(kind)
    if isinstance(value, str) and value.startswith("attach://"):
        value = call.files.get(value.removeprefix("attach://"))
    elif value is None or value == "":
        value = call.files.get(kind)
    if value is None or value == "":
        raise bad_request(f"there is no {kind} in the request")
    return value


def _scope_key(scope: Any) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _commands_key(p: JSON) -> tuple[str, str]:
    """Command lists are kept per scope and language, as Telegram keeps them."""
    return _scope_key(_json_param(p, "scope", "BotCommandScope")), _str(p, "language_code") or ""


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _describe(predicate: Callable[[], Any]) -> str:
    code = getattr(predicate, "__code__", None)
    where = f" ({code.co_filename.rsplit('/', 1)[-1]}:{code.co_firstlineno})" if code else ""
    return f"{getattr(predicate, '__qualname__', repr(predicate))}{where}"


def _json_response(body: JSON, status: int) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json")
