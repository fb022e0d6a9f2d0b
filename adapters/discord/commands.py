"""The `/repbot` application-command group: the same subcommands as Slack's `/repbot`.

The subcommands are the issue's list plus whatever the core's command table has, with the
core's help and usage text. Each only parses its free-text option into `(name, args)`; the core
decides what it does, who may run it (admin-only commands are refused there) and answers
"Unknown command" for names it does not implement yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import discord
from discord import app_commands

from adapters.discord.events import command_args
from bot.commands import Command

GROUP = "repbot"
DESCRIPTION_LIMIT = 100
SUBCOMMANDS_LIMIT = 25  # Discord's limit for one group

# The list, in its order; descriptions are used when the core has no such command yet.
DEFAULTS: dict[str, str] = {
    "help": "What RepBot can do",
    "question": "Post a question now (or show the open one)",
    "leaderboard": "This channel's leaderboard",
    "stats": "Your points, answers and recent grades",
    "interview": "A mock interview in direct messages",
    "schedule": "Admin: show or change this channel's schedule",
    "topics": "Admin: show or set this channel's topics",
    "reveal": "Admin: close the open question and reveal the model answer",
    "export": "Admin: export this channel's results",
}

Runner = Callable[[discord.Interaction, str, tuple[str, ...]], Awaitable[None]]
Callback = Callable[..., Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    description: str
    args_hint: str | None  # None: the subcommand takes no arguments


def _short(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


def subcommands(core: Mapping[str, Command]) -> list[Subcommand]:
    names = list(DEFAULTS) + [name for name in core if name not in DEFAULTS]
    found: list[Subcommand] = []
    for name in names[:SUBCOMMANDS_LIMIT]:
        command = core.get(name)
        if command is None:
            found.append(Subcommand(name, _short(DEFAULTS[name]), "what you would type after the name"))
            continue
        hint = command.usage.removeprefix(name).strip() or None
        found.append(Subcommand(name, _short(("Admin: " if command.admin else "") + command.help), hint and _short(hint)))
    return found


def _plain(run: Runner, name: str) -> Callback:
    async def callback(interaction: discord.Interaction) -> None:
        await run(interaction, name, ())

    return callback


def _with_args(run: Runner, name: str, hint: str) -> Callback:
    @app_commands.describe(args=hint)
    async def callback(interaction: discord.Interaction, args: str | None = None) -> None:
        await run(interaction, name, command_args(args))

    return callback


def build_group(run: Runner, core: Mapping[str, Command]) -> app_commands.Group:
    """`/repbot <subcommand> [args]`."""
    group = app_commands.Group(name=GROUP, description="RepBot: daily interview reps for release engineers")
    for sub in subcommands(core):
        callback = _plain(run, sub.name) if sub.args_hint is None else _with_args(run, sub.name, sub.args_hint)
        group.add_command(app_commands.Command(name=sub.name, description=sub.description, callback=callback))
    return group
