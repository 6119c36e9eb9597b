"""Every line of every Arabic reply reads right to left, proved the way posts are: the real bot,
driven through the fake Bot API by an owner whose Telegram is in Arabic, through every command,
button and bad input; each line of each message, edit and button notice it sent is checked with
python-bidi (UBA: base level 1) and with the first strong letter counted inside isolates too
(Telegram Desktop's StringDirection and Chromium's dir=auto do not skip isolates)."""
from __future__ import annotations

from dataclasses import dataclass, field

from bidi import get_base_level

from bot.i18n import first_strong
from bot.services import CommandLimiter
from sandbox.telegram_api import FakeTelegram
from tests.bot.conftest import OWNER, REVIEW, button, buttons, plain
from tests.bot.test_opml import opml
from tests.bot.test_push import serve_article
from tests.bot.test_review import review_config, submit
from tests.fakes.feed_server import FeedItem

NEWS_CHAT = "@nashir_news"


@dataclass
class Checked:
    """What was checked: lines, and the texts they came from."""

    lines: int = 0
    texts: int = 0
    wrong: list[str] = field(default_factory=list)


def check_text(text: str | None, checked: Checked) -> None:
    """Each non-empty line resolves RTL under the UBA and under first-strong-without-isolates."""
    if not text:
        return
    checked.texts += 1
    for line in text.split("\n"):
        if not line.strip():
            continue
        checked.lines += 1
        if get_base_level(line) != 1 or first_strong(line, skip_isolates=False) not in ("R", "AL"):
            checked.wrong.append(line)


def check_everything(tg: FakeTelegram, chats: tuple[int, ...], checked: Checked) -> None:
    """Every message, every edit and every button notice the bot sent in those chats."""
    for message in tg.messages:
        if message.chat_id in chats:
            check_text(message.text if message.text is not None else message.caption, checked)
    for edit in tg.edits:
        if edit.chat_id in chats:
            check_text(edit.text if edit.text is not None else edit.caption, checked)
    for notice in tg.callback_answers:
        check_text(notice.get("text"), checked)


async def test_every_line_of_every_arabic_reply_reads_right_to_left(start_bot):
    """An Arabic-speaking owner goes through every command, button and bad input: every line of
    every reply, edit and notice is right to left (and the counts say the Arabic forms)."""
    async with start_bot(**review_config()) as bot:
        say = bot.say
        feed_items = [FeedItem(guid=f"g{n}", title=f"مقال رقم {n}",
                               link=f"https://example.org/a/{n}") for n in range(3, 0, -1)]
        bot.pages.add_feed("/feed.xml", title="مدونة التحليل", items=feed_items)
        feed = bot.pages.url("/feed.xml")

        await say(OWNER, "/start")
        [help_reply] = await say(OWNER, "/help")
        assert "\u200f\u2066/push URL [CHANNEL]\u2069" in (help_reply.text or "")
        [question] = await say(OWNER, "/lang")
        await bot.press(OWNER, question, button(question, "العربية"))
        for text in ("/list", "/unsubscribe", "/feeds", "/feeds export", "/addfeed",
                     f"/addfeed not-a-url {NEWS_CHAT}", "/channels", "/channels add",
                     f"/channels add {NEWS_CHAT}", f"/channels remove {NEWS_CHAT}", "/pause",
                     "/pause @nobody_here", "/editors", "/addeditor abc", "/addeditor 5555",
                     "/addeditor 5555", "/removeeditor 5555", "/removeeditor 5555", "/push",
                     "/push not-a-url", "/frobnicate", "مرحبا", "/removefeed"):
            await say(OWNER, text)

        [offer] = await say(OWNER, "/subscribe")
        await bot.press(OWNER, offer, buttons(offer)[0][1])
        await say(OWNER, "/list")
        [offer_out] = await say(OWNER, "/unsubscribe")
        await bot.press(OWNER, offer_out, buttons(offer_out)[0][1])

        [added] = await say(OWNER, f"/addfeed {feed} {NEWS_CHAT}")
        assert "في التغذية الآن 3 مواد" in plain(added.html)
        assert "نشر المواد الـ3 كلها" in [label for label, _ in buttons(added)]
        await bot.press(OWNER, added, button(added, "نشر الأحدث"))
        await bot.wait_edit(added, "مدونة التحليل")
        for text in (f"/addfeed {feed} {NEWS_CHAT}", f"/pause {feed}", f"/resume {feed}",
                     f"/pause {NEWS_CHAT}", f"/resume {NEWS_CHAT}", "/feeds", "/feeds export",
                     "/channels"):
            await say(OWNER, text)
        [status] = await say(OWNER, "/status")
        assert "تغذية واحدة سليمة" in plain(status.html) or "لا تغذية سليمة" in plain(status.html)
        assert "تغذيتان لم تُقرآ بعد" in plain(status.html)
        assert "لا منشورات اليوم." in plain(status.html)

        article = serve_article(bot)
        [preview] = await say(OWNER, f"/push {article} {NEWS_CHAT}")
        await bot.press(OWNER, preview, button(preview, "إلغاء"))
        await bot.wait_edit(preview, "ألغاه")
        [preview] = await say(OWNER, f"/push {article} {NEWS_CHAT}")
        await bot.press(OWNER, preview, button(preview, "انشر في"))
        await bot.wait_edit(preview, "نُشر في")
        [again] = await say(OWNER, f"/push {article} {NEWS_CHAT}")
        await bot.press(OWNER, again, button(again, "انشر في"))
        await bot.wait_edit(again, "نُشر من قبل")

        before = len(bot.tg.messages_to(OWNER))
        bot.tg.inject_document(OWNER, "feeds.opml",
                               opml(bot.pages.url("/feed.xml"), bot.pages.url("/gone.xml"),
                                    "not a url"), "text/x-opml", caption=NEWS_CHAT)
        [progress] = await bot.tg.wait_for(lambda: bot.tg.messages_to(OWNER)[before:] or None)
        final = await bot.wait_edit(progress, "انتهى الاستيراد")
        assert "لم تُضف أي تغذية، تغذية واحدة متابَعة من قبل، فشلت تغذيتان" in plain(final.html)
        await say(OWNER, f"/removefeed {feed}")
        await say(OWNER, f"/removefeed {feed}")
        [too_long] = await say(OWNER, "/push https://example.org/" + "a" * 3000)
        assert "3026 حرفاً" in plain(too_long.html)

        # Review cards, in the editors' group, decided by the same owner.
        _card_id, card = await submit(bot)
        before = len(bot.tg.messages_to(REVIEW))
        await bot.press(OWNER, card, button(card, "تعديل المقتطف"))
        [prompt] = await bot.tg.wait_for(lambda: bot.tg.messages_to(REVIEW)[before:] or None)
        assert "(حتى 1500 حرف)" in plain(prompt.html)
        [refused] = await say(OWNER, "ن" * 1600, chat_id=REVIEW,
                              reply_to_message_id=prompt.message_id)
        assert "بين حرف واحد و1500 حرف" in plain(refused.html)
        await say(OWNER, "مقتطف جديد كتبه المالك بعناية.", chat_id=REVIEW,
                  reply_to_message_id=prompt.message_id)
        await bot.press(OWNER, card, button(card, "جدولة"))
        await bot.tg.wait_for(lambda: any("بعد ساعة" in label
                                          for label, _ in buttons(bot.current(card))))
        await bot.press(OWNER, card, button(bot.current(card), "بعد ساعة"))
        await bot.wait_edit(card, "جدوله")
        await bot.press(OWNER, card, button(bot.current(card), "إلغاء الجدولة"))
        await bot.wait_edit(card, "للمراجعة")
        await bot.press(OWNER, card, button(bot.current(card), "رفض"))
        await bot.wait_edit(card, "رفضه")

        checked = Checked()
        check_everything(bot.tg, (OWNER, REVIEW), checked)
        print(f"\nArabic replies: {checked.texts} texts, {checked.lines} lines checked")
        assert checked.wrong == []
        assert checked.texts >= 70 and checked.lines >= 190


async def test_counted_replies_of_the_gate_use_the_arabic_forms(start_bot, redis):
    """The flood notice says "ثانية"/"ثوانٍ" as the number needs, and reads right to left."""
    limiter = CommandLimiter(redis, limit=2, window_s=600, clock=lambda: 6000.0)
    async with start_bot(limiter=limiter) as bot:
        await bot.say(OWNER, "/start")
        await bot.say(OWNER, "/start")
        [slow_down] = await bot.say(OWNER, "/start")
        text = plain(slow_down.html)
        assert text == "أوامر كثيرة في وقت قصير. انتظر 600 ثانية ثم أعد المحاولة.", text
        checked = Checked()
        check_everything(bot.tg, (OWNER,), checked)
        assert checked.wrong == [] and checked.lines >= 3
