"""Editing and deleting messages, and the chat lookups (getMe, getChat, getChatMember,
getChatAdministrators)."""
from __future__ import annotations

import time
from typing import Any

from sandbox.telegram_html import ParsedText, finish_text, parse_entities
from sandbox.telegram_params import _int, _link_preview, _reply_markup, _str
from sandbox.telegram_records import JSON, Edit, FakeChat, SentMessage, _Call, bad_request
from sandbox.telegram_rich import check_rich_message
from sandbox.telegram_sending import _Sending

_CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "link_preview_options",
                 "rich_message")


class _Editing(_Sending):
    """editMessageText (plain or rich), editMessageCaption, editMessageReplyMarkup,
    deleteMessage, and the chat lookups."""

    # --- editing and deleting ---------------------------------------------------------------------

    async def _edit_message_text(self, call: _Call) -> JSON:
        p = call.params
        if self.rich_messages and p.get("rich_message") not in (None, ""):
            return await self._edit_rich_message(call)
        # An older server does not know rich_message and ignores it, as any unknown parameter.
        markup = _reply_markup(p)
        preview = _link_preview(p)
        parsed = parse_entities(_str(p, "text") or "", _str(p, "parse_mode"))
        sent = self._editable(p)
        if sent.text is None:
            raise bad_request("there is no text in the message to edit")
        final = finish_text(parsed)
        content: JSON = {"text": final.text}
        if final.entities:
            content["entities"] = [e.to_api() for e in final.entities]
        if preview:
            content["link_preview_options"] = preview
        return self._apply_edit(call, sent, content, markup, final, html=_str(p, "text"))

    async def _edit_message_caption(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        raw = _str(p, "caption") or ""
        parsed = parse_entities(raw, _str(p, "parse_mode"), caption=True)
        sent = self._editable(p)
        if sent.text is not None or sent.rich is not None:
            raise bad_request("there is no caption in the message to edit")
        final = finish_text(parsed, caption=True)
        content: JSON = {}
        if final.text:
            content["caption"] = final.text
        if final.entities:
            content["caption_entities"] = [e.to_api() for e in final.entities]
        return self._apply_edit(call, sent, content, markup, final, html=raw or None)

    async def _edit_message_reply_markup(self, call: _Call) -> JSON:
        markup = _reply_markup(call.params)
        sent = self._editable(call.params)
        keep = {k: sent.api[k] for k in _CONTENT_KEYS if k in sent.api}
        return self._apply_edit(call, sent, keep, markup, None, html=sent.html)

    def _editable(self, p: JSON) -> SentMessage:
        if p.get("inline_message_id"):
            raise bad_request("inline messages are not imitated by the fake")
        chat = self._resolve_chat(p.get("chat_id"))
        message_id = _int(p, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        sent = self._sent.get((chat.id, message_id))
        if sent is None or sent.deleted:
            raise bad_request("message to edit not found")
        self._check_can_send(chat, "text messages")
        return sent

    def _apply_edit(self, call: _Call, sent: SentMessage, content: JSON, markup: JSON | None,
                    parsed: ParsedText | None, *, html: str | None,
                    rich: JSON | None = None) -> JSON:
        """Apply an edit (`parsed` is None when only the keyboard or rich content changes)."""
        old = {k: sent.api[k] for k in _CONTENT_KEYS if k in sent.api}
        old_markup = sent.api.get("reply_markup")
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if old == content and old_markup == new_markup:
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply "
                              "markup of the message")
        chat = self._chats[sent.chat_id]
        self._check_delivery(chat, call.method)
        now = self.clock()
        self._count_send(chat, now)
        for key in _CONTENT_KEYS:
            sent.api.pop(key, None)
        sent.api.update(content, edit_date=int(time.time()))
        # Editing without reply_markup removes the keyboard, as on Telegram.
        if new_markup:
            sent.api["reply_markup"] = new_markup
        else:
            sent.api.pop("reply_markup", None)
        sent.reply_markup = markup
        if rich is not None:
            sent.rich = rich
        if parsed is not None:
            sent.html, sent.entities = html, parsed.entities
            if sent.text is not None:
                sent.text = parsed.text
            else:
                sent.caption = parsed.text or None
        sent.edit_count += 1
        self.edits.append(Edit(sent.chat_id, sent.message_id, call.method, sent.html, sent.text,
                               sent.caption, sent.entities, markup, now, rich=sent.rich))
        return sent.api

    async def _edit_rich_message(self, call: _Call) -> JSON:
        p = call.params
        markup = _reply_markup(p)
        if p.get("text") not in (None, ""):
            raise bad_request("text and rich_message can't be specified together")
        rich = check_rich_message(p.get("rich_message"))
        sent = self._editable(p)
        if sent.rich is None:
            raise bad_request("there is no rich content in the message to edit")
        chat = self._chats[sent.chat_id]
        self._check_rich(chat, rich, call)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if sent.rich == rich.source and sent.api.get("reply_markup") == new_markup:
            raise bad_request("message is not modified: specified new message content and reply "
                              "markup are exactly the same as a current content and reply "
                              "markup of the message")
        return self._apply_edit(call, sent, {"rich_message": self._rich_object(rich, call)},
                                markup, None, html=None, rich=rich.source)
    async def _delete_message(self, call: _Call) -> bool:
        chat = self._resolve_chat(call.params.get("chat_id"))
        message_id = _int(call.params, "message_id")
        key = (chat.id, message_id or 0)
        if key not in self._stored:
            raise bad_request("message to delete not found")
        del self._stored[key]
        if key in self._sent:
            self._sent[key].deleted = True
        self.deleted.append(key)
        return True

    # --- chats ------------------------------------------------------------------------------------

    async def _get_me(self, call: _Call) -> JSON:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _visible_chat(self, raw: Any) -> FakeChat:
        chat = self._resolve_chat(raw)
        # A private group or channel the bot is not in cannot be looked up at all.
        if chat.bot_status in ("left", "kicked") and not chat.username and chat.user is None:
            raise bad_request("chat not found")
        return chat

    async def _get_chat(self, call: _Call) -> JSON:
        chat = self._visible_chat(call.params.get("chat_id"))
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription", "gifts_from_channels"), False)
        return {**chat.to_api(), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    async def _get_chat_member(self, call: _Call) -> JSON:
        chat = self._visible_chat(call.params.get("chat_id"))
        user_id = _int(call.params, "user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        if user_id == self.bot_id:
            return self._member(chat, self._bot_user(), chat.bot_status, bot=True)
        if user_id not in self._users:
            raise bad_request("user not found")
        user = self._users[user_id]
        status = "member" if chat.id == user_id else chat.members.get(user_id, "left")
        return self._member(chat, user.to_api(), status)

    async def _get_chat_administrators(self, call: _Call) -> list[JSON]:
        chat = self._visible_chat(call.params.get("chat_id"))
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [self._member(chat, self._users[uid].to_api(), status)
                  for uid, status in chat.members.items() if status in ("creator", "administrator")]
        if chat.bot_status in ("creator", "administrator"):
            admins.append(self._member(chat, self._bot_user(), chat.bot_status, bot=True))
        return admins

    def _member(self, chat: FakeChat, user: JSON, status: str, *, bot: bool = False) -> JSON:
        """A ChatMember object; for the bot, its rights reflect `can_post`."""
        can_post = chat.can_post if bot else True
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = dict.fromkeys((
                "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_change_info", "can_invite_users",
                "can_post_stories", "can_edit_stories", "can_delete_stories"), True)
            member: JSON = {"status": "administrator", "user": user, "can_be_edited": False,
                            "is_anonymous": False, "can_promote_members": False, **rights}
            if chat.type == "channel":
                member.update(can_post_messages=can_post, can_edit_messages=can_post)
            else:
                member["can_pin_messages"] = True
            return member
        if status == "member" and bot and not can_post and chat.type != "channel":
            permissions = dict.fromkeys((
                "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
                "can_send_videos", "can_send_video_notes", "can_send_voice_notes",
                "can_send_polls", "can_send_other_messages", "can_add_web_page_previews",
                "can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics",
                "can_edit_tag", "can_react_to_messages"), False)
            return {"status": "restricted", "user": user, "is_member": True, "until_date": 0,
                    **permissions}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}
