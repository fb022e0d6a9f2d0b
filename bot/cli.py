"""The `repbot` command line."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from bot.config import Settings, describe_error
from bot.logs import configure_logging
from content.loader import BUNDLED_DIR, ContentError, load_bank, validate_paths

app = typer.Typer(
    help="RepBot: daily reps for release engineers.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
content_app = typer.Typer(help="The question bank.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")


def settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        typer.echo(describe_error(exc), err=True)
        raise typer.Exit(2) from None


def bank_or_exit(settings: Settings):  # type: ignore[no-untyped-def]
    try:
        return load_bank(settings.content_dirs)
    except ContentError as exc:
        typer.echo("question bank problems:\n" + str(exc), err=True)
        raise typer.Exit(2) from None


@app.command()
def run() -> None:
    """Start the bot: Slack and/or Discord when their tokens are set, else the console."""
    from bot.app import RepBot
    from storage.db import SchemaOutOfDate

    settings = settings_or_exit()
    configure_logging(
        settings.log_level if (settings.slack_enabled or settings.discord_enabled) else "WARNING", settings.secrets()
    )
    bank = bank_or_exit(settings)
    try:
        if settings.slack_enabled or settings.discord_enabled:
            from adapters.launcher import run_platforms

            code = asyncio.run(run_platforms(settings, bank))
        else:
            from adapters.console import ConsoleChat, run_console

            chat = ConsoleChat()
            bot = RepBot(settings.model_copy(update={"quiet_period_seconds": 0.0}), chat, bank=bank)
            code = asyncio.run(run_console(bot, chat, sys.stdin, settings.console_user))
    except SchemaOutOfDate as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


@app.command()
def config() -> None:
    """Print the effective settings, secrets masked."""
    settings = settings_or_exit()
    width = max(len(k) for k in settings.masked())
    for key, value in settings.masked().items():
        typer.echo(f"{key.ljust(width)}  {value}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the newest schema."""
    from storage.db import head_revision, upgrade_sync

    settings = settings_or_exit()
    upgrade_sync(settings.database_url)
    typer.echo(f"database at revision {head_revision()}")


@content_app.command("validate")
def content_validate(paths: Annotated[list[Path] | None, typer.Argument()] = None) -> None:  # noqa: UP007
    """Check question files (default: the bundled bank and REPBOT_CONTENT_DIRS)."""
    settings = settings_or_exit()
    targets = paths or [BUNDLED_DIR, *settings.content_dirs]
    problems = validate_paths(targets)
    if not paths:
        try:
            load_bank(settings.content_dirs)
        except ContentError as exc:
            problems += [p for p in exc.problems if p not in problems]
    for problem in problems:
        typer.echo(problem)
    typer.echo(f"{len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


@content_app.command("list")
def content_list(
    category: Annotated[str | None, typer.Option()] = None,  # noqa: UP007
    difficulty: Annotated[str | None, typer.Option()] = None,  # noqa: UP007
    format: Annotated[str | None, typer.Option("--format")] = None,  # noqa: UP007
) -> None:
    """List questions, optionally filtered."""
    bank = bank_or_exit(settings_or_exit())
    shown = 0
    for q in bank.all():
        if category and q.category.value != category:
            continue
        if difficulty and q.difficulty.value != difficulty:
            continue
        if format and format not in [f.value for f in q.formats]:
            continue
        shown += 1
        typer.echo(f"{q.id:45} {q.category.value:22} {q.difficulty.value:7} {q.title}")
    typer.echo(f"{shown} question(s)")


@content_app.command("show")
def content_show(question_id: str) -> None:
    """Show one question in full."""
    import yaml

    bank = bank_or_exit(settings_or_exit())
    question = bank.get(question_id)
    if question is None:
        typer.echo(f"no question '{question_id}'", err=True)
        raise typer.Exit(1)
    data = question.model_dump(mode="json", exclude_defaults=True)
    data["version"] = question.version
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))


@content_app.command("stats")
def content_stats() -> None:
    """Counts by category, difficulty and format."""
    bank = bank_or_exit(settings_or_exit())
    questions = bank.all()
    typer.echo(f"questions: {len(questions)}")
    for title, counter in (
        ("category", Counter(q.category.value for q in questions)),
        ("difficulty", Counter(q.difficulty.value for q in questions)),
        ("format", Counter(f.value for q in questions for f in q.formats)),
    ):
        typer.echo(f"\nby {title}:")
        for key, count in sorted(counter.items()):
            typer.echo(f"  {key:24} {count}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
