"""The sandbox's web chat: a page (plain HTML/JS in sandbox/web/) showing your private chat with
the bot and the channels as Telegram would, fed from the fake Bot API's records; what you type
and the buttons you press become updates the bot receives. It also serves the sample article
pages and feed from samples/, so /push works offline."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from aiohttp import web

from sandbox.telegram_api import FakeTelegram, SentMessage
from sandbox.telegram_rich import block_texts
from sandbox.world import BOT_NAME, BOT_USERNAME, CHANNELS, USER_ID

JSON = dict[str, Any]
WEB_DIR = Path(__file__).with_name("web")
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_TYPES = {".html": "text/html", ".xml": "application/rss+xml"}


class WebChat:
    """The page, its JSON API (`/api/state`, `/api/send`, `/api/press`) and the samples."""

    def __init__(self, fake: FakeTelegram, *, status_url: str = "") -> None:
        self.fake = fake
        self.status_url = status_url
        self.url = ""
        self._mine: list[JSON] = []   # what you wrote, as your chat shows it
        self._runner: web.AppRunner | None = None

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/chat.js", self._static)
        app.router.add_get("/chat.css", self._static)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_get("/api/photo/{chat}/{message}", self._photo)
        app.router.add_get("/samples/{name}", self._sample)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def samples(self) -> list[str]:
        """The sample article pages, as /push wants them."""
        return [f"{self.url}/samples/{p.name}" for p in sorted(SAMPLES_DIR.glob("article-*.html"))]

    # --- pages ---------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / "index.html")

    async def _static(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / request.path.lstrip("/"))

    async def _sample(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        path = SAMPLES_DIR / name
        kind = SAMPLE_TYPES.get(path.suffix)
        if kind is None or "/" in name or not path.is_file():
            raise web.HTTPNotFound(text="no such sample")
        return web.Response(body=path.read_bytes(), content_type=kind, charset="utf-8")

    # --- the API -------------------------------------------------------------------------------

    def version(self) -> str:
        """Changes whenever anything the page shows may have changed."""
        fake = self.fake
        return (f"{len(fake.messages)}.{len(fake.edits)}.{len(fake.deleted)}."
                f"{len(fake.callback_answers)}.{len(self._mine)}")

    async def _state(self, request: web.Request) -> web.Response:
        version = self.version()
        if request.query.get("v") == version:
            return web.json_response({"version": version})
        return web.json_response(self.state())

    def state(self) -> JSON:
        chats = [{"id": USER_ID, "kind": "private", "title": BOT_NAME,
                  "username": BOT_USERNAME}]
        chats += [{"id": c.chat_id, "kind": "channel", "title": c.title, "username": c.username,
                   "language": c.language} for c in CHANNELS]
        messages = [*self._mine, *(_message(m) for m in self.fake.messages if not m.deleted)]
        messages.sort(key=lambda m: (m["chat"], m["id"]))
        answers = self.fake.callback_answers
        return {"version": self.version(), "user": USER_ID, "chats": chats,
                "messages": messages, "status_url": self.status_url,
                "samples": self.samples(), "answers": len(answers),
                "answer": _answer(answers[-1]) if answers else None}

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        text = str(body.get("text", "")).strip()
        if not text:
            raise web.HTTPBadRequest(text="nothing to send")
        update = self.fake.inject_message(USER_ID, text[:4096])
        message = update["message"]
        self._mine.append({"chat": USER_ID, "id": message["message_id"], "from": "user",
                           "date": message["date"], "text": text[:4096],
                           "entities": message.get("entities", []), "buttons": []})
        return web.json_response({"ok": True, "version": self.version()})

    async def _press(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            self.fake.inject_callback_query(USER_ID, str(body["data"]), int(body["message"]),
                                            chat_id=int(body["chat"]))
        except (KeyError, ValueError) as exc:
            raise web.HTTPBadRequest(text=f"cannot press that button: {exc}") from None
        return web.json_response({"ok": True})

    async def _photo(self, request: web.Request) -> web.Response:
        for sent in self.fake.messages:
            if (str(sent.chat_id) == request.match_info["chat"]
                    and str(sent.message_id) == request.match_info["message"]
                    and isinstance(sent.photo, bytes)):
                return web.Response(body=sent.photo, content_type="image/jpeg")
        raise web.HTTPNotFound()


def _message(sent: SentMessage) -> JSON:
    """A message the bot sent, as the page draws it: text (or caption) with its entities, the
    photo, the inline keyboard."""
    api = sent.api
    text, entities = api.get("text"), api.get("entities", [])
    if text is None:
        text, entities = api.get("caption", ""), api.get("caption_entities", [])
    if sent.rich is not None:  # a rich message: its blocks' texts, one paragraph each
        text = "\n\n".join(t for _, t in block_texts(sent.rich.get("blocks") or []))
        entities = []
    photo = None
    if isinstance(sent.photo, bytes):
        photo = f"/api/photo/{sent.chat_id}/{sent.message_id}"
    elif isinstance(sent.photo, str) and sent.photo.startswith(("http://", "https://")):
        photo = sent.photo
    buttons = [[{k: b[k] for k in ("text", "callback_data", "url") if k in b} for b in row]
               for row in (api.get("reply_markup") or {}).get("inline_keyboard", [])]
    return {"chat": sent.chat_id, "id": sent.message_id, "from": "bot", "date": api["date"],
            "edited": sent.edit_count > 0, "text": text or "", "entities": entities,
            "photo": photo, "buttons": buttons,
            "preview": not (sent.link_preview_options or {}).get("is_disabled", False)}


def _answer(answer: JSON) -> JSON:
    return {"text": str(answer.get("text") or ""),
            "alert": str(answer.get("show_alert", "")).lower() in ("true", "1")}
