"""Slash commands, buttons and modal submissions -> neutral events, answered within Discord's 3 s.

Commands and the Hint/Skip buttons are deferred first (ephemeral "thinking"), then handled and
followed up. "Answer privately" must answer with the modal itself, so it only checks the post
before opening it. Every interaction id goes through `first_time_seen`: a gateway resume can
deliver one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.chat import DiscordChat, send_kwargs
from adapters.discord.events import (
    ANSWER_FIELD,
    interaction_key,
    interaction_place,
    interaction_source_id,
    is_admin,
    modal_value,
    person_of,
)
from adapters.discord.render import fit, parse_custom_id, render
from bot.commands import Reply
from bot.events import ButtonPressed, CommandInvoked, MessageRef, ModalSubmitted
from bot.intake import IntakeResult, Outcome
from bot.messages import Message, text_message
from bot.views import ANSWER_PRIVATELY

if TYPE_CHECKING:
    from bot.app import RepBot

log = logging.getLogger(__name__)

ALREADY_ACKNOWLEDGED = 40060  # Discord's error code for a second initial response
ANSWER_MODAL = "answer"  # custom_id "repbot:answer:<post id>"
MODAL_TITLE_LIMIT = 45
ANSWER_MAX_LENGTH = 4000  # Discord's limit for a text input


def answer_modal(post_id: str, title: str = "Your answer") -> discord.ui.Modal:
    """The private answer box. It is stopped before sending: the submission is handled by custom_id
    in on_interaction, so it survives a restart and discord.py keeps nothing in memory."""
    modal = discord.ui.Modal(title=fit(title, MODAL_TITLE_LIMIT), custom_id=f"repbot:{ANSWER_MODAL}:{post_id}", timeout=None)
    modal.add_item(
        discord.ui.TextInput(
            label="Your answer (private until the reveal)",
            style=discord.TextStyle.paragraph,
            custom_id=ANSWER_FIELD,
            min_length=1,
            max_length=ANSWER_MAX_LENGTH,
            required=True,
        )
    )
    modal.stop()
    return modal


def submission_reply(result: IntakeResult) -> Message:
    """What the person sees right after submitting the modal."""
    if result.outcome is Outcome.DUPLICATE:
        return text_message("Already received; your feedback follows.", tags=("received",))
    if result.outcome is not Outcome.STORED:
        return text_message("That question is closed or no longer exists, so the answer was not stored.", tags=("not_stored",))
    late = " It came after the close, so it is graded for feedback without points." if result.late else ""
    return text_message(
        f"Got your answer. It stays private until the reveal; feedback will appear here.{late}", tags=("received",)
    )


class Interactions:
    def __init__(self, bot: RepBot, chat: DiscordChat, admins: list[str]):
        self._bot = bot
        self._chat = chat
        self._admins = admins

    async def _first_time(self, interaction: discord.Interaction) -> bool:
        if await self._bot.first_time_seen(interaction_key(interaction)):
            return True
        log.info("interaction %s seen before (gateway replay); ignored", interaction.id)
        return False

    async def _deferred(self, interaction: discord.Interaction, work: Callable[[], Awaitable[None]]) -> None:
        """Defer first (the 3 s rule), skip replays, then run `work`; a failure after the deferral is
        told to the person. A replay was already acknowledged, which Discord reports with 40060."""
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:
                log.info("interaction %s was already acknowledged (gateway replay); ignored", interaction.id)
                return
            raise
        try:
            if await self._first_time(interaction):
                await work()
        except Exception:
            await self._fail(interaction)

    async def _send(self, interaction: discord.Interaction, message: Message, *, private: bool) -> None:
        if not private:
            # A deferred ephemeral response makes its first follow-up ephemeral too: remove it first.
            await interaction.delete_original_response()
        await self._chat.followup(interaction, render(message), ephemeral=private)

    async def _fail(self, interaction: discord.Interaction) -> None:
        log.exception("interaction %s failed", interaction.id)
        try:
            await self._send(interaction, text_message("Something went wrong on RepBot's side. Please try again."), private=True)
        except discord.HTTPException:
            log.warning("could not tell the user about the failure of interaction %s", interaction.id)

    # -- /repbot <name> -------------------------------------------------------------------

    async def command(self, interaction: discord.Interaction, name: str, args: tuple[str, ...]) -> None:
        async def run() -> None:
            # Outside a guild nobody has Manage Server; only REPBOT_ADMINS counts.
            permissions = interaction.permissions if interaction.guild_id else discord.Permissions.none()
            admin = is_admin(interaction.user, permissions, self._admins)
            person = person_of(interaction.user, interaction.guild_id)
            reply: Reply = await self._bot.handle(
                CommandInvoked(interaction_place(interaction), person, name, args, is_admin=admin)
            )
            await self._send(interaction, reply.message, private=reply.private)

        await self._deferred(interaction, run)

    # -- buttons and modals ---------------------------------------------------------------

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Components and modal submissions; app commands go through the command tree."""
        data: dict[str, Any] = dict(interaction.data or {})
        parsed = parse_custom_id(str(data.get("custom_id", "")))
        if parsed is None:
            return
        action, value = parsed
        if interaction.type is discord.InteractionType.component:
            await self._button(interaction, action, value)
        elif interaction.type is discord.InteractionType.modal_submit and action == ANSWER_MODAL:
            await self._modal(interaction, value, modal_value(data.get("components", [])) or "")

    async def _button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        place = interaction_place(interaction)
        message = None
        if interaction.message is not None:
            message = MessageRef(place, str(interaction.message.id), str(interaction.message.id))
        event = ButtonPressed(place, person_of(interaction.user, interaction.guild_id), action, value, message)
        if action == ANSWER_PRIVATELY:
            # The modal must be the first response, so there is no defer here; both checks are quick.
            if not await self._first_time(interaction):
                return
            reply = await self._bot.handle(event)
            if isinstance(reply, Reply):
                await interaction.response.send_message(**send_kwargs(render(reply.message)[0]), ephemeral=True)
                return
            title = interaction.message.embeds[0].title if interaction.message and interaction.message.embeds else None
            await interaction.response.send_modal(answer_modal(value, title or "Your answer"))
            return

        async def run() -> None:
            reply = await self._bot.handle(event)
            if isinstance(reply, Reply):
                await self._send(interaction, reply.message, private=True)

        await self._deferred(interaction, run)

    async def _modal(self, interaction: discord.Interaction, post_id: str, text: str) -> None:
        async def run() -> None:
            place = interaction_place(interaction)
            person = person_of(interaction.user, interaction.guild_id)
            # Feedback for this answer goes back to this interaction while its token lives.
            self._chat.pending.remember(person.user_id, place.channel, interaction)
            event = ModalSubmitted(place, person, ANSWER_PRIVATELY, post_id, text, interaction_source_id(interaction))
            result: IntakeResult = await self._bot.handle(event)
            await self._send(interaction, submission_reply(result), private=True)

        await self._deferred(interaction, run)
