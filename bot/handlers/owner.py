"""Owners' commands: /editors, /addeditor ID, /removeeditor ID."""
from __future__ import annotations

from telegram import Update

from bot.context import NashirContext
from bot.handlers.common import check_user_id, join_lines, reply, translator_for, user_label
from bot.menu import register_editor_commands, unregister_editor_commands


async def editors(update: Update, context: NashirContext) -> None:
    t = await translator_for(update, context)
    roles = context.data.roles
    added = await roles.added_editors()
    lines = [t("<b>Owners</b>: {ids}", ids=", ".join(map(str, sorted(roles.owners))) or "-"),
             t("<b>Editors in the config file</b>: {ids}",
               ids=", ".join(map(str, sorted(roles.config_editors))) or "-"),
             t("<b>Editors added by command</b>: {ids}", ids=", ".join(map(str, added)) or "-")]
    await reply(update, join_lines(t, lines))


async def addeditor(update: Update, context: NashirContext) -> None:
    await _change_editor(update, context, add=True)


async def removeeditor(update: Update, context: NashirContext) -> None:
    await _change_editor(update, context, add=False)


async def _change_editor(update: Update, context: NashirContext, *, add: bool) -> None:
    """/addeditor ID or /removeeditor ID; owners and the config file's editors stay as they are."""
    t = await translator_for(update, context)
    args = context.args or []
    user_id = check_user_id(args[0]) if len(args) == 1 else None
    if user_id is None:
        await reply(update, t("Usage: /addeditor ID (the user's numeric Telegram id)") if add else
                    t("Usage: /removeeditor ID"))
        return
    roles = context.data.roles
    if user_id in roles.owners or user_id in roles.config_editors:
        await reply(update, t("{id} is already an editor (config file).", id=user_id) if add else
                    t("{id} is named in the config file; remove them there.", id=user_id))
        return
    changed = await (roles.add_editor(user_id) if add else roles.remove_editor(user_id))
    if not changed:
        await reply(update, t("{id} is already an editor.", id=user_id) if add else
                    t("{id} is not an editor.", id=user_id))
        return
    me = update.effective_user
    await context.data.audit.record(me.id if me else 0, user_label(update),
                                    "editor.add" if add else "editor.remove", str(user_id))
    commands = register_editor_commands if add else unregister_editor_commands
    await commands(context.application, user_id)  # type: ignore[arg-type]
    await reply(update, t("✅ {id} is now an editor.", id=user_id) if add else
                t("✅ {id} is no longer an editor.", id=user_id))
