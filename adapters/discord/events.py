"""Discord payloads -> the core's neutral events, plus the identity rules they share.

Identity: workspace = guild id ("@me" for DMs), channel = the channel id where the question was
posted (a thread's PARENT, because the core finds a post by channel + thread), thread = the
thread channel id. A message's source id uses the channel the message is in (for a thread
reply, the thread), so creates, edits and deletes all compute the same key without lookups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import discord

from bot.events import AnswerDeleted, AnswerEdited, AnswerPosted, DirectMessage, MessageRef, Person, Place

PLATFORM = "discord"
DM_WORKSPACE = "@me"  # Discord's own name for the DM scope; DMs belong to no guild
ANSWER_FIELD = "answer"  # custom_id of the modal's text input
MANAGE_SERVER = "manage_guild"

# Message types a person types themselves (a plain message or a reply); joins, pins, thread
# starter messages and the like are not answers.
_USER_MESSAGE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def workspace_of(guild_id: int | None) -> str:
    return str(guild_id) if guild_id else DM_WORKSPACE


def person_of(user: discord.abc.User, guild_id: int | None) -> Person:
    return Person(PLATFORM, workspace_of(guild_id), str(user.id), user.display_name)


def message_source_id(guild_id: int | None, channel_id: int, message_id: int) -> str:
    return f"discord:{workspace_of(guild_id)}:{channel_id}:{message_id}"


def interaction_source_id(interaction: discord.Interaction) -> str:
    return f"discord:{workspace_of(interaction.guild_id)}:{interaction.channel_id}:interaction:{interaction.id}"


def interaction_key(interaction: discord.Interaction) -> str:
    """The `first_time_seen` key: a gateway resume can deliver the same interaction twice."""
    return f"discord:interaction:{interaction.id}"


def dm_key(message: discord.Message) -> str:
    return f"discord:dm:{message.id}"


def thread_parent(channel: object) -> int | None:
    """The parent channel id when `channel` is a thread, else None."""
    if isinstance(channel, discord.Thread):
        return channel.parent_id
    return None


def interaction_place(interaction: discord.Interaction) -> Place:
    """Where an interaction happened, as the core knows it (a thread counts as its parent channel)."""
    if interaction.guild_id is None:
        return Place(PLATFORM, DM_WORKSPACE, str(interaction.channel_id), is_dm=True)
    channel_id = thread_parent(interaction.channel) or interaction.channel_id
    return Place(PLATFORM, workspace_of(interaction.guild_id), str(channel_id))


def _is_person(message: discord.Message) -> bool:
    return not message.author.bot and message.webhook_id is None and message.type in _USER_MESSAGE_TYPES


def thread_answer(message: discord.Message, parent_id: int) -> AnswerPosted | None:
    """A person's message in a (question) thread; None for bots, system messages and empty text
    (without the MESSAGE_CONTENT intent Discord delivers guild messages with empty content)."""
    if message.guild is None or not _is_person(message) or not message.content.strip():
        return None
    place = Place(PLATFORM, workspace_of(message.guild.id), str(parent_id))
    ref = MessageRef(place, str(message.id), thread_id=str(message.channel.id))
    return AnswerPosted(
        person_of(message.author, message.guild.id),
        message.content,
        message_source_id(message.guild.id, message.channel.id, message.id),
        ref,
    )


def direct_message(message: discord.Message) -> DirectMessage | None:
    if message.guild is not None or not _is_person(message) or not message.content.strip():
        return None
    place = Place(PLATFORM, DM_WORKSPACE, str(message.channel.id), is_dm=True)
    return DirectMessage(
        person_of(message.author, None), message.content, message_source_id(None, message.channel.id, message.id), place
    )


def answer_edited(message: discord.Message) -> AnswerEdited | None:
    """An edit of a guild message; the core ignores edits of messages it never stored."""
    if message.guild is None or not _is_person(message) or not message.content.strip():
        return None
    return AnswerEdited(
        person_of(message.author, message.guild.id),
        message.content,
        message_source_id(message.guild.id, message.channel.id, message.id),
    )


def answers_deleted(guild_id: int | None, channel_id: int, message_ids: Iterable[int]) -> list[AnswerDeleted]:
    if guild_id is None:
        return []
    return [AnswerDeleted(None, message_source_id(guild_id, channel_id, mid)) for mid in message_ids]


def modal_value(components: Iterable[Mapping[str, Any]], field_id: str = ANSWER_FIELD) -> str | None:
    """The submitted value of one text input, wherever it sits (action rows or labels)."""
    for component in components:
        if component.get("custom_id") == field_id and "value" in component:
            return str(component["value"])
        children = list(component.get("components", []))
        if "component" in component:
            children.append(component["component"])
        found = modal_value(children, field_id)
        if found is not None:
            return found
    return None


def command_args(text: str | None) -> tuple[str, ...]:
    """A free-text option split like a Slack command's text."""
    return tuple(text.split()) if text else ()


def is_admin(user: discord.abc.User, permissions: discord.Permissions, admins: Iterable[str]) -> bool:
    """Manage Server in this channel, or listed in REPBOT_ADMINS as discord:<user>, discord:role:<role>
    or a bare user id."""
    if getattr(permissions, MANAGE_SERVER, False) or permissions.administrator:
        return True
    wanted = set(admins)
    if f"{PLATFORM}:{user.id}" in wanted or str(user.id) in wanted:
        return True
    roles = getattr(user, "roles", [])
    return any(f"{PLATFORM}:role:{role.id}" in wanted for role in roles)
