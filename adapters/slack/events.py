"""Slack payloads -> neutral events. Pure functions: no I/O, no bolt objects, easy to table-test.

A message payload is first read into a small `Inbound` record (what happened, where, by whom);
`to_event` then builds the core's event once the adapter knows the person's display name.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.events import (
    AnswerDeleted,
    AnswerEdited,
    AnswerPosted,
    ButtonPressed,
    CommandInvoked,
    DirectMessage,
    MessageRef,
    ModalSubmitted,
    Person,
    Place,
)

PLATFORM = "slack"
# Message subtypes that are a person writing something new (thread_broadcast = "also send to channel").
NEW_MESSAGE_SUBTYPES = frozenset({None, "", "thread_broadcast", "file_share", "me_message"})
ANSWER_BLOCK = "answer"  # block_id and action_id of the private answer box
PRIVATE_ANSWER_CALLBACK = "repbot_private_answer"

Payload = Mapping[str, Any]


class Kind(StrEnum):
    ANSWER = "answer"
    EDIT = "edit"
    DELETE = "delete"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Inbound:
    kind: Kind
    team: str
    channel: str
    user: str | None
    ts: str
    thread_ts: str | None = None
    text: str = ""


log = logging.getLogger(__name__)


def tolerant(read: Callable[..., Any]) -> Callable[..., Any]:
    """A payload of the wrong shape is not ours to handle: None (logged), never a crash.

    Slack's payloads are signature-checked, but fields change and proxies replay; a listener that
    raises on one odd payload would make Slack retry it three times for nothing.
    """

    @functools.wraps(read)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            log.warning("ignored a malformed Slack payload in %s: %s", read.__name__, type(exc).__name__)
            return None

    return guarded


def source_id(team: str, channel: str, ts: str) -> str:
    """The idempotency key of one Slack message (stable across redeliveries and edits)."""
    return f"slack:{team}:{channel}:{ts}"


def is_dm_channel(channel: str) -> bool:
    return channel.startswith("D")


def place(team: str, channel: str) -> Place:
    return Place(PLATFORM, team, channel, is_dm=is_dm_channel(channel))


def person(team: str, user: str, name: str = "") -> Person:
    return Person(PLATFORM, team, user, name)


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def plain_from_slack(text: str) -> str:
    """Slack's message encoding -> the plain text a person typed (mentions/links as readable words)."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            name = label or target[1:].split("^", 1)[0]
            return name if name.startswith("@") else "@" + name
        return label or target

    return html.unescape(_LINK.sub(link, text)) if text else ""


def team_of(body: Payload) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    if not team:
        auths = body.get("authorizations") or []
        team = auths[0].get("team_id", "") if auths else ""
    return str(team)


def _from_bot(message: Payload, bot_user_id: str | None) -> bool:
    return (
        bool(message.get("bot_id"))
        or message.get("subtype") == "bot_message"
        or (bot_user_id is not None and message.get("user") == bot_user_id)
    )


def _in_thread(message: Payload) -> bool:
    thread_ts = message.get("thread_ts")
    return bool(thread_ts) and thread_ts != message.get("ts")


@tolerant
def read_message(body: Payload, bot_user_id: str | None) -> Inbound | None:
    """An Events API `message` callback -> what it means for RepBot (None = not ours to handle)."""
    event: Payload = body.get("event") or {}
    team = team_of(body)
    channel = str(event.get("channel") or "")
    subtype = event.get("subtype")
    if not channel:
        return None
    if subtype == "message_changed":
        new: Payload = event.get("message") or {}
        if _from_bot(new, bot_user_id) or not new.get("user") or not _in_thread(new) or is_dm_channel(channel):
            return None
        return Inbound(
            Kind.EDIT, team, channel, new["user"], new["ts"], new.get("thread_ts"), plain_from_slack(new.get("text", ""))
        )
    if subtype == "message_deleted":
        old: Payload = event.get("previous_message") or {}
        if old and (_from_bot(old, bot_user_id) or not _in_thread(old)):
            return None
        ts = event.get("deleted_ts") or old.get("ts")
        if not ts or is_dm_channel(channel):
            return None
        return Inbound(Kind.DELETE, team, channel, old.get("user"), ts, old.get("thread_ts"))
    if subtype not in NEW_MESSAGE_SUBTYPES or _from_bot(event, bot_user_id) or not event.get("user"):
        return None
    text = plain_from_slack(event.get("text", ""))
    if event.get("channel_type") == "im" or is_dm_channel(channel):
        return Inbound(Kind.DIRECT, team, channel, event["user"], event["ts"], None, text)
    if not _in_thread(event):
        return None  # a top-level channel message is conversation, not an answer
    return Inbound(Kind.ANSWER, team, channel, event["user"], event["ts"], event["thread_ts"], text)


def to_event(inbound: Inbound, display_name: str = "") -> AnswerPosted | AnswerEdited | AnswerDeleted | DirectMessage:
    sid = source_id(inbound.team, inbound.channel, inbound.ts)
    who = person(inbound.team, inbound.user, display_name) if inbound.user else None
    match inbound.kind:
        case Kind.ANSWER:
            assert who is not None
            ref = MessageRef(place(inbound.team, inbound.channel), inbound.ts, inbound.thread_ts)
            return AnswerPosted(who, inbound.text, sid, ref)
        case Kind.EDIT:
            assert who is not None
            return AnswerEdited(who, inbound.text, sid)
        case Kind.DELETE:
            return AnswerDeleted(who, sid)
        case Kind.DIRECT:
            assert who is not None
            return DirectMessage(who, inbound.text, sid, place(inbound.team, inbound.channel))


# -- slash commands ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlashCommand:
    team: str
    channel: str
    user: str
    name: str
    args: tuple[str, ...]


@tolerant
def read_command(body: Payload) -> SlashCommand | None:
    """`/repbot leaderboard month` -> name "leaderboard", args ("month",); bare `/repbot` -> help."""
    words = plain_from_slack(str(body.get("text") or "")).split()
    name = words[0].lower() if words else "help"
    return SlashCommand(
        team=team_of(body),
        channel=str(body.get("channel_id") or ""),
        user=str(body.get("user_id") or ""),
        name=name,
        args=tuple(words[1:]),
    )


def command_event(command: SlashCommand, display_name: str, is_admin: bool) -> CommandInvoked:
    return CommandInvoked(
        place(command.team, command.channel),
        person(command.team, command.user, display_name),
        command.name,
        command.args,
        is_admin=is_admin,
    )


# -- buttons and the private answer box -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Press:
    team: str
    channel: str
    user: str
    action: str
    value: str
    message_ts: str | None
    thread_ts: str | None
    trigger_id: str


@tolerant
def read_action(body: Payload) -> Press | None:
    actions = body.get("actions") or []
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    if not actions or not channel:
        return None
    action = actions[0]
    message: Payload = body.get("message") or {}
    return Press(
        team=team_of(body),
        channel=str(channel),
        user=str((body.get("user") or {}).get("id") or ""),
        action=str(action.get("action_id") or ""),
        value=str(action.get("value") or ""),
        message_ts=message.get("ts"),
        thread_ts=message.get("thread_ts") or message.get("ts"),
        trigger_id=str(body.get("trigger_id") or ""),
    )


def button_event(press: Press, display_name: str) -> ButtonPressed:
    where = place(press.team, press.channel)
    ref = MessageRef(where, press.message_ts, press.thread_ts) if press.message_ts else None
    return ButtonPressed(where, person(press.team, press.user, display_name), press.action, press.value, ref)


def private_metadata(press: Press) -> str:
    """What the modal must remember: which post, in which channel and workspace."""
    return json.dumps({"post": press.value, "channel": press.channel, "team": press.team, "action": press.action})


@dataclass(frozen=True, slots=True)
class Submission:
    team: str
    channel: str
    user: str
    action: str
    post: str
    text: str
    view_id: str


@tolerant
def read_submission(body: Payload) -> Submission | None:
    view: Payload = body.get("view") or {}
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return None
    values: Payload = (view.get("state") or {}).get("values") or {}
    text = ((values.get(ANSWER_BLOCK) or {}).get(ANSWER_BLOCK) or {}).get("value") or ""
    if not meta.get("post") or not meta.get("channel"):
        return None
    return Submission(
        team=str(meta.get("team") or team_of(body)),
        channel=str(meta["channel"]),
        user=str((body.get("user") or {}).get("id") or ""),
        action=str(meta.get("action") or ""),
        post=str(meta["post"]),
        text=str(text),
        view_id=str(view.get("id") or ""),
    )


def modal_event(sub: Submission, display_name: str) -> ModalSubmitted:
    # A view id is unique per opened box, so a double submit of one box stores one answer.
    return ModalSubmitted(
        place(sub.team, sub.channel),
        person(sub.team, sub.user, display_name),
        sub.action,
        sub.post,
        sub.text,
        source_id=f"slack:{sub.team}:view:{sub.view_id}",
    )
