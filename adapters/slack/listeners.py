"""bolt listeners: Slack requests -> neutral events -> `bot.handle` -> Slack replies.

The app runs with `process_before_response=True`, so a listener finishes before Slack gets its
200 (or its Socket Mode ack). A thread reply is held in the answer inbox (one INSERT, see
bot/inbox.py) before that ack, so Slack never considers an answer delivered that is not stored;
filing it and the 👀 follow within a second. Anything slow (slash commands, buttons, App Home) runs
as a lazy listener after an immediate ack.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.chat import SlackChat
from adapters.slack.events import (
    ANSWER_BLOCK,
    PRIVATE_ANSWER_CALLBACK,
    Kind,
    SlashCommand,
    button_event,
    command_event,
    modal_event,
    person,
    place,
    private_metadata,
    read_action,
    read_command,
    read_message,
    read_submission,
    team_of,
    to_event,
)
from adapters.slack.people import People
from adapters.slack.render import render
from adapters.slack.views import home_view, private_answer_modal, received_view
from bot.commands import Reply
from bot.events import AnswerPosted
from bot.intake import IntakeResult, Outcome
from bot.outage import Unavailable
from bot.views import ANSWER_PRIVATELY

if TYPE_CHECKING:
    from bot.app import RepBot

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]
# response_url accepts five posts; longer private replies go out as ephemeral messages.
RESPONSE_URL_USES = 5
_PUBLIC_FALLBACK = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


class SlackListeners:
    def __init__(self, bot: RepBot, chat: SlackChat, people: People, command: str = "/repbot"):
        self._bot = bot
        self._chat = chat
        self._people = people
        self._command = command

    def register(self, app: AsyncApp) -> None:
        app.event("message")(self.on_message)
        app.event("app_home_opened")(ack=_ack, lazy=[self.on_home_opened])
        app.command(self._command)(ack=_ack, lazy=[self.on_command])
        # An `await ack()` inside the listener would not speed up the 200 (it is sent when the
        # listener returns), so the work runs lazily; a trigger_id stays valid for views.open.
        app.action(re.compile(".+"))(ack=_ack, lazy=[self.on_action])
        app.view(PRIVATE_ANSWER_CALLBACK)(self.on_private_answer)
        app.error(self.on_error)

    async def on_error(self, error: Exception) -> None:
        """bolt answers a failed listener with 500 (Slack redelivers). A database outage is
        already counted in the bot's outage log: a traceback per request would flood the log."""
        if isinstance(error, Unavailable):
            return
        log.error("Failed to run listener function (error: %s)", error, exc_info=error)

    async def _first_time(self, body: dict[str, Any]) -> bool:
        event_id = body.get("event_id")
        return not event_id or await self._bot.first_time_seen(f"slack-event:{event_id}")

    # -- messages -------------------------------------------------------------------------------

    async def on_message(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        inbound = read_message(body, context.bot_user_id)
        if inbound is None:
            return
        # New answers are idempotent on their message ts in the core (same transaction as the
        # store), so they skip the event-id record and its extra commit before the ack. Edits,
        # deletes and DMs are not safe to replay (an old edit could overwrite a newer one).
        if inbound.kind is not Kind.ANSWER and not await self._first_time(body):
            return
        name = await self._people.name(inbound.team, inbound.user) if inbound.user else ""
        event = to_event(inbound, name)
        if isinstance(event, AnswerPosted):
            # One INSERT before the ack; finding the post, merging and the 👀 follow in the background.
            await self._bot.receive_answer(event)
            return
        result = await self._bot.handle(event)
        if inbound.kind is Kind.DIRECT and isinstance(result, Reply):
            await self._chat.post(place(inbound.team, inbound.channel), result.message)

    # -- slash command ------------------------------------------------------------------------------

    async def on_command(self, body: dict[str, Any], respond: Respond) -> None:
        command = read_command(body)
        if command is None:
            await respond(text="RepBot could not read that command; try `/repbot help`.", response_type="ephemeral")
            return
        try:
            user = await self._people.user(command.team, command.user)
            is_admin = await self._people.is_admin(command.team, command.user)
            reply = await self._bot.handle(command_event(command, user.name, is_admin))
            await self._send_command_reply(command, reply, respond)
        except Exception:
            log.exception("/repbot %s failed", command.name)
            await respond(
                text=f"Sorry, `{command.name[:40]}` failed on RepBot's side. Please try again in a minute.",
                response_type="ephemeral",
                replace_original=False,
            )

    async def _send_command_reply(self, command: SlashCommand, reply: Reply, respond: Respond) -> None:
        where = place(command.team, command.channel)
        if not reply.private:
            try:
                await self._chat.post(where, reply.message)
                return
            except SlackApiError as exc:
                if exc.response.get("error") not in _PUBLIC_FALLBACK:
                    raise
                # The bot is not in this channel; the response_url can still answer in it.
        rendered = render(reply.message)
        who = person(command.team, command.user)
        if len(rendered.messages) > RESPONSE_URL_USES:
            await self._chat.ephemeral(where, reply.message, who)
            return
        for part in rendered.messages:
            await respond(
                text=part.text,
                blocks=list(part.blocks) or None,
                response_type="ephemeral" if reply.private else "in_channel",
                replace_original=False,
            )
        await self._chat.upload_private(who, rendered.files)

    # -- buttons and the private answer box -----------------------------------------------------

    async def on_action(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        press = read_action(body)
        if press is None:
            return
        name = await self._people.name(press.team, press.user)
        reply = await self._bot.handle(button_event(press, name))
        if reply is None and press.action == ANSWER_PRIVATELY:
            await client.views_open(trigger_id=press.trigger_id, view=private_answer_modal(private_metadata(press)))
        elif isinstance(reply, Reply):
            await self._chat.ephemeral(place(press.team, press.channel), reply.message, person(press.team, press.user, name))

    async def on_private_answer(self, ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
        submission = read_submission(body)
        if submission is None or not submission.text.strip():
            await ack(response_action="errors", errors={ANSWER_BLOCK: "Write your answer first."})
            return
        name = await self._people.name(submission.team, submission.user)
        result = await self._bot.handle(modal_event(submission, name))
        if isinstance(result, IntakeResult) and result.outcome in (Outcome.STORED, Outcome.DUPLICATE):
            note = "Got it. Your answer is graded privately and stays hidden until the reveal."
            if result.late:
                note = "Got it. This question is closed, so your answer gets feedback but no points."
            await ack(response_action="update", view=received_view(note))
        else:
            await ack(response_action="errors", errors={ANSWER_BLOCK: "This question is no longer open for answers."})

    # -- App Home ---------------------------------------------------------------------------------

    async def on_home_opened(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        if not await self._first_time(body):
            return
        team = team_of(body)
        name = await self._people.name(team, event["user"])
        page = await self._bot.home_view(person(team, event["user"], name))
        await client.views_publish(user_id=event["user"], view=home_view(page))


async def _ack(ack: Callable[..., Awaitable[Any]]) -> None:
    await ack()
