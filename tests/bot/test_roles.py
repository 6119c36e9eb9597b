"""Roles and refusals, owners' editor management, the audit log, the command lists registered
with Telegram, and the bad-input answers (unknown command, huge message, command flood)."""
from __future__ import annotations

import pytest

from bot.services import CommandLimiter, Role
from store import keys
from tests.bot.conftest import EDITOR, NEWS_CHAT, OWNER, READER, REVIEW, STRANGER, eventually, plain

EDITOR_COMMANDS = ["/push https://example.org/a", "/feeds",
                   f"/addfeed https://example.org/f {NEWS_CHAT}",
                   "/removefeed https://example.org/f", f"/pause {NEWS_CHAT}",
                   f"/resume {NEWS_CHAT}", "/channels", "/status"]
OWNER_COMMANDS = ["/editors", "/addeditor 5555", "/removeeditor 5555"]


@pytest.mark.parametrize("command", EDITOR_COMMANDS + OWNER_COMMANDS)
async def test_stranger_is_refused_politely(bot, command):
    """Anyone else asking for an editor's or owner's command: a polite refusal, nothing done."""
    [reply] = await bot.say(STRANGER, command)
    text = plain(reply.html)
    assert text.startswith("Sorry,")
    assert await bot.app.bot_data.audit.latest(10) == []
    assert await bot.app.bot_data.registry.current() == bot.config
    assert await bot.app.bot_data.roles.added_editors() == []


async def test_editor_is_refused_owner_commands(bot):
    """Editors are not owners: /addeditor is refused and nobody is added."""
    [reply] = await bot.say(EDITOR, "/addeditor 5555")
    assert plain(reply.html) == "Sorry, only the bot's owners can do this."
    assert await bot.app.bot_data.roles.role(5555) is Role.USER


async def test_refusal_in_arabic(bot):
    """The refusal speaks the user's language."""
    [reply] = await bot.say(READER, "/status")
    assert plain(reply.html).startswith("عذراً، هذا الأمر لمحرري المنصة فقط.")


async def test_owner_manages_editors(bot):
    """An owner adds and removes editors; the new editor can use editor commands at once and
    gets the editor command list; config editors cannot be removed by command."""
    [reply] = await bot.say(OWNER, "/addeditor 5555", lang="en")
    assert plain(reply.html) == "✅ 5555 is now an editor."
    roles = bot.app.bot_data.roles
    assert await roles.role(5555) is Role.EDITOR
    [status] = await bot.say(5555, "/status", lang="en")
    assert "Status" in plain(status.html)
    scope = {"type": "chat", "chat_id": 5555}
    assert "push" in [c["command"] for c in bot.tg.commands(scope)]
    assert "push" in [c["command"] for c in bot.tg.commands(scope, "ar")]

    [listing] = await bot.say(OWNER, "/editors", lang="en")
    text = plain(listing.html)
    assert f"Owners: {OWNER}" in text and f"config file: {EDITOR}" in text
    assert "added by command: 5555" in text

    [reply] = await bot.say(OWNER, f"/removeeditor {EDITOR}", lang="en")
    assert "config file" in plain(reply.html)
    [reply] = await bot.say(OWNER, "/removeeditor 5555", lang="en")
    assert plain(reply.html) == "✅ 5555 is no longer an editor."
    assert await roles.role(5555) is Role.USER
    [refused] = await bot.say(5555, "/status", lang="en")
    assert plain(refused.html).startswith("Sorry,")
    [reply] = await bot.say(OWNER, "/addeditor abc", lang="en")
    assert "Usage: /addeditor ID" in plain(reply.html)

    entries = await bot.app.bot_data.audit.latest(10)
    assert [(e.action, e.detail, e.user_id) for e in entries[:2]] == [
        ("editor.remove", "5555", OWNER), ("editor.add", "5555", OWNER)]
    assert entries[0].user_name == "@owner_user" and entries[0].time > 0


async def test_command_lists_registered(bot):
    """setMyCommands: subscribers' list in English and Arabic for private chats, the editors'
    list for each editor, the owners' list for each owner, and the review group."""
    private = {"type": "all_private_chats"}
    english = [c["command"] for c in bot.tg.commands(private)]
    assert english == ["start", "help", "subscribe", "unsubscribe", "list", "lang"]
    arabic = bot.tg.commands(private, "ar")
    assert [c["command"] for c in arabic] == english
    assert arabic[0]["description"] == "الترحيب وما أقدمه"
    editor = [c["command"] for c in bot.tg.commands({"type": "chat", "chat_id": EDITOR})]
    assert {"push", "feeds", "addfeed", "removefeed", "pause", "resume", "channels",
            "status"} <= set(editor)
    assert "addeditor" not in editor
    owner = [c["command"] for c in bot.tg.commands({"type": "chat", "chat_id": OWNER}, "ar")]
    assert {"push", "editors", "addeditor", "removeeditor"} <= set(owner)


async def test_review_group_commands(start_bot):
    """With a review group, its members see the editors' command list there."""
    async with start_bot(review_chat=REVIEW) as bot:
        group = [c["command"] for c in bot.tg.commands({"type": "chat", "chat_id": REVIEW})]
        assert "push" in group


async def test_unknown_command_and_stray_text(bot):
    """Unknown commands and plain text get a short pointer to /help."""
    [reply] = await bot.say(STRANGER, "/frobnicate")
    assert plain(reply.html) == "I do not know that command. /help lists what I can do."
    [reply] = await bot.say(STRANGER, "hello there")
    assert plain(reply.html) == "I answer commands. /help lists them."
    [reply] = await bot.say(READER, "/frobnicate")
    assert plain(reply.html) == "لا أعرف هذا الأمر. يعرض /help ما أستطيع فعله."


async def test_huge_message(bot):
    """A huge message is refused with its size, not processed."""
    text = "/push https://example.org/" + "a" * 3000
    [reply] = await bot.say(EDITOR, text)
    assert "too long" in plain(reply.html) and "3026" in plain(reply.html)
    assert await bot.app.bot_data.audit.latest(10) == []


async def test_command_flood(start_bot, redis):
    """A flood of commands from one user: the first over the limit gets one short answer, the
    rest are dropped; other users are not affected."""
    limiter = CommandLimiter(redis, limit=5, window_s=600, clock=lambda: 6000.0)
    async with start_bot(limiter=limiter) as bot:
        for _ in range(5):
            await bot.say(STRANGER, "/help")
        [slow_down] = await bot.say(STRANGER, "/help")
        assert plain(slow_down.html).startswith("Too many commands at once. Wait")
        before = len(bot.tg.messages_to(STRANGER))
        for _ in range(3):
            bot.tg.inject_message(STRANGER, "/help")
        window = 10

        async def all_counted() -> bool:
            return int(await redis.get(keys.bot_rate(STRANGER, window)) or 0) >= 9

        await eventually(all_counted, what="the three extra commands to reach the limiter")
        [other] = await bot.say(EDITOR, "/help")
        assert "Commands" in plain(other.html)
        assert len(bot.tg.messages_to(STRANGER)) == before
