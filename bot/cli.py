"""The `repbot` command line."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings, describe_error
from bot.logs import configure_logging
from content.loader import BUNDLED_DIR, ContentError, load_bank, validate_paths

T = TypeVar("T")

app = typer.Typer(
    help="RepBot: daily reps for release engineers.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
content_app = typer.Typer(help="The question bank.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(content_app, name="content")
discord_app = typer.Typer(help="Discord install helpers.", no_args_is_help=True)
app.add_typer(discord_app, name="discord")
grader_app = typer.Typer(help="Check the grader against human grades; grading usage and cost.", no_args_is_help=True)
app.add_typer(grader_app, name="grader")


@discord_app.command("invite-url")
def discord_invite_url(
    client_id: Annotated[int | None, typer.Option(help="application id; default: read from DISCORD_TOKEN")] = None,  # noqa: UP007
) -> None:
    """Print the OAuth2 URL that adds RepBot to a server with exactly the scopes and permissions it needs."""
    from adapters.discord.tools import invite_url

    try:
        typer.echo(invite_url(settings_or_exit(), client_id))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


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
    from bot.supervise import Fatal
    from storage.db import SchemaOutOfDate

    settings = settings_or_exit()
    platforms = settings.slack_enabled or settings.discord_enabled
    # The console shares the terminal with the conversation: only warnings, unless asked for more.
    configure_logging(
        settings.log_level if platforms or "log_level" in settings.model_fields_set else "WARNING",
        settings.secrets(),
        json_lines=settings.log_format == "json",
    )
    bank = bank_or_exit(settings)
    try:
        if settings.slack_enabled or settings.discord_enabled:
            from adapters.launcher import run_platforms

            code = asyncio.run(run_platforms(settings, bank))
        else:
            from adapters.console import ConsoleChat, run_console

            chat = ConsoleChat()
            # An empty line sends a finished channel answer: graded at once. Interview answers keep
            # the quiet period, so they can take several messages.
            bot = RepBot(settings, chat, bank=bank, channel_quiet_seconds=0.0)
            code = asyncio.run(run_console(bot, chat, sys.stdin, settings.console_user, admins=frozenset(settings.admins)))
    except SchemaOutOfDate as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except Fatal as exc:  # a wrong setting or a refused token: one line naming the fix
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from None
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


@app.command()
def doctor() -> None:
    """Check the configured chat platforms: tokens, scopes, channels. Exit 1 when something FAILs."""
    settings = settings_or_exit()

    async def checks() -> list[str]:
        lines: list[str] = []
        if settings.slack_enabled:
            from adapters.slack.doctor import slack_doctor

            lines += await slack_doctor(settings)
        if settings.discord_enabled:
            from adapters.discord.tools import discord_doctor

            lines += await discord_doctor(settings)
        return lines or ["no chat platform configured (set SLACK_BOT_TOKEN or DISCORD_TOKEN); the console needs no checks"]

    lines = asyncio.run(checks())
    for line in lines:
        typer.echo(line)
    raise typer.Exit(1 if any(" FAIL " in f" {line} " for line in lines) else 0)


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
    """Counts by category, difficulty and format; sources, calibration answers and thesaurus size."""
    bank = bank_or_exit(settings_or_exit())
    questions = bank.all()
    typer.echo(f"questions: {len(questions)} in {len({q.category for q in questions})} categories")
    typer.echo(
        f"references: {sum(len(q.references) for q in questions)} "
        f"({sum(1 for q in questions if q.references)} of {len(questions)} questions cite at least one)"
    )
    typer.echo(f"calibration answers: {sum(len(q.calibration) for q in questions)}")
    typer.echo(f"thesaurus groups: {len(bank.thesaurus)}")
    for title, counter in (
        ("category", Counter(q.category.value for q in questions)),
        ("difficulty", Counter(q.difficulty.value for q in questions)),
        ("format", Counter(f.value for q in questions for f in q.formats)),
    ):
        typer.echo(f"\nby {title}:")
        for key, count in sorted(counter.items()):
            typer.echo(f"  {key:24} {count}")


@grader_app.command("eval")
def grader_eval(
    file: Annotated[
        Path | None,  # noqa: UP007
        typer.Argument(help="CSV: answer,score[,max_score] and question_id, or question,reference_answer"),
    ] = None,
    grader: Annotated[str, typer.Option("--grader", help="offline, llm, composite or overlap (a baseline)")] = "offline",
    bank_set: Annotated[
        str | None,  # noqa: UP007
        typer.Option("--set", help="instead of a file: the bank's `calibration` answers or the `holdout` answers"),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="write every row back with the grader's score and flags")] = None,  # noqa: UP007
    split: Annotated[str, typer.Option("--split", help="all, or dev / held-out: even / odd questions")] = "all",
) -> None:
    """Grade human-graded answers; print n, Pearson, Spearman, QWK, MAE and a confusion table."""
    from rich.console import Console
    from rich.progress import Progress

    from bot.grading import evaluate as ev

    settings = settings_or_exit()
    bank = bank_or_exit(settings)
    try:
        if (file is None) == (bank_set is None):
            raise ev.EvalError("give a CSV file or --set calibration|holdout (one of the two)")
        read = ev.with_bank(ev.read_rows(file), bank) if file is not None else ev.bank_rows(bank, bank_set or "")
        rows = ev.select_split(read, split)
        offline = ev.offline_grader_for(rows, (q.model_answer for q in bank.all()), thesaurus=bank.thesaurus)
        chosen = ev.eval_grader(grader, settings, offline)
    except ev.EvalError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    console = Console(stderr=True)
    todo = sum(1 for r in rows if r.problem is None)

    async def grade_all() -> ev.Report:
        try:
            with Progress(console=console, transient=True, disable=todo < 200 or not console.is_terminal) as bar:
                task = bar.add_task(f"grading with {grader}", total=todo)
                return await ev.evaluate(rows, chosen.grader, bank=bank, progress=lambda n: bar.advance(task, n))
        finally:
            await chosen.aclose()

    report = asyncio.run(grade_all())
    for line in ev.format_report(report):
        typer.echo(line)
    if out is not None:
        ev.write_rows(out, report)
        typer.echo(f"wrote {len(report.rows)} row(s) to {out}")
    raise typer.Exit(0 if report.agreement is not None else 1)


@grader_app.command("stats")
def grader_stats(
    days: Annotated[int, typer.Option("--days", min=1, help="how many days back, today included")] = 14,
    price_in: Annotated[float | None, typer.Option("--price-in", min=0, help="USD per million input tokens")] = None,  # noqa: UP007
    price_out: Annotated[float | None, typer.Option("--price-out", min=0, help="USD per million output tokens")] = None,  # noqa: UP007
) -> None:
    """Grades by grader, tokens in/out and cost estimate per day, grades flagged for review or injection."""
    import datetime as dt

    from bot.grading import usage

    settings = settings_or_exit()
    since = dt.datetime.combine(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days - 1), dt.time(), dt.UTC)
    price = None if price_in is None and price_out is None else usage.Price(price_in or 0.0, price_out or 0.0)

    async def load(sessions: async_sessionmaker[AsyncSession]) -> list[usage.UsageRow]:
        async with sessions() as session:
            return await usage.load_usage(session, since)

    rows = on_database(settings, load)
    typer.echo(f"grades since {since.date().isoformat()} (UTC days)")
    for line in usage.format_days(usage.summarize(rows, price=price)):
        typer.echo(line)


@app.command()
def export(
    channel: Annotated[str, typer.Option(help="PLATFORM:WORKSPACE:CHANNEL, or a channel id or name RepBot knows")],
    since: Annotated[str, typer.Option(help="first day, YYYY-MM-DD")] = "1970-01-01",
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",  # noqa: A002
    out: Annotated[Path | None, typer.Option(help="write here instead of standard output")] = None,
) -> None:
    """Export a channel's answers and grades (the same rows as `/repbot export`)."""
    import datetime as dt

    from sqlalchemy import or_, select

    from bot.reports import Reports, export_file
    from storage.models import Channel

    if format not in ("csv", "json"):
        typer.echo("--format is csv or json", err=True)
        raise typer.Exit(2)
    try:
        first_day = dt.date.fromisoformat(since)
    except ValueError:
        typer.echo(f"--since '{since}' is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from None
    settings = settings_or_exit()
    bank = bank_or_exit(settings)

    async def rows(sessions: async_sessionmaker[AsyncSession]) -> bytes | None:
        parts = channel.split(":")
        async with sessions() as session:
            if len(parts) == 3:
                query = select(Channel).where(
                    Channel.platform == parts[0], Channel.workspace == parts[1], Channel.channel_ref == parts[2]
                )
            else:
                query = select(Channel).where(or_(Channel.channel_ref == channel, Channel.name == channel.lstrip("#")))
            found = (await session.execute(query)).scalars().all()
        if len(found) != 1:
            return None
        data = await Reports(sessions, bank).export_rows(found[0].id, first_day)
        return export_file(data, format, "export").data

    data = on_database(settings, rows)
    if data is None:
        typer.echo(f"no single channel matches '{channel}'; use PLATFORM:WORKSPACE:CHANNEL", err=True)
        raise typer.Exit(1)
    if out is None:
        sys.stdout.write(data.decode())
    else:
        out.write_bytes(data)


def on_database(settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run a read-only command against the configured database (never migrating it); an old
    schema exits with status 2 and the message naming `repbot db upgrade`."""
    from storage.db import SchemaOutOfDate, ensure_schema, make_engine, make_sessionmaker

    async def run() -> T:
        engine = make_engine(settings.database_url)
        try:
            await ensure_schema(engine, settings.database_url, auto_migrate=False)
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except SchemaOutOfDate as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
