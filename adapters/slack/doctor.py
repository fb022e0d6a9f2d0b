"""`repbot doctor`, Slack part: is the token good, which scopes are missing, which channels is the bot in.

Every line starts with "slack:" and then "ok", "warn" or "FAIL", so the CLI can set its exit code.
Tokens never appear in the output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from adapters.slack.client import make_client
from adapters.slack.config import SlackConfig, SlackConfigError, manifest_bot_scopes
from bot.config import Settings

MAX_CHANNELS_SHOWN = 20


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return ""


async def _check_token(client: AsyncWebClient, token: str, label: str) -> list[str]:
    lines: list[str] = []
    try:
        auth = await client.auth_test(token=token)
    except SlackApiError as exc:
        return [f"slack: FAIL {label}: auth.test rejected the bot token ({exc.response.get('error')}); copy a fresh xoxb- token"]
    except OSError as exc:
        return [
            f"slack: FAIL {label}: cannot reach the Slack Web API ({type(exc).__name__}); check SLACK_API_URL and the network"
        ]
    lines.append(f"slack: ok {label}: token valid for workspace {auth.get('team')} ({auth.get('team_id')}) as {auth.get('user')}")
    granted = {s.strip() for s in _header(auth.headers, "x-oauth-scopes").split(",") if s.strip()}
    missing = [s for s in manifest_bot_scopes() if s not in granted]
    if not granted:
        lines.append(f"slack: warn {label}: Slack did not report the token's scopes; cannot check them")
    elif missing:
        lines.append(
            f"slack: FAIL {label}: missing scopes: {', '.join(missing)} "
            "(add them under OAuth & Permissions or re-create the app from manifest.yml, then reinstall)"
        )
    else:
        lines.append(f"slack: ok {label}: all {len(manifest_bot_scopes())} scopes from manifest.yml granted")
    lines.append(await _channels(client, token, label))
    return lines


async def _channels(client: AsyncWebClient, token: str, label: str) -> str:
    names: list[str] = []
    cursor: str | None = None
    try:
        while True:
            page = await client.users_conversations(
                token=token, types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
            )
            names += [f"#{c.get('name', '?')} ({c.get('id')})" for c in page.get("channels") or []]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except SlackApiError as exc:
        return f"slack: FAIL {label}: cannot list the bot's channels ({exc.response.get('error')})"
    if not names:
        return f"slack: warn {label}: the bot is in no channel yet; in a channel, type /invite @RepBot"
    shown = ", ".join(names[:MAX_CHANNELS_SHOWN]) + (
        f" and {len(names) - MAX_CHANNELS_SHOWN} more" if len(names) > MAX_CHANNELS_SHOWN else ""
    )
    return f"slack: ok {label}: in {len(names)} channel(s): {shown}"


async def _check_app_token(client: AsyncWebClient, app_token: str) -> str:
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        return f"slack: FAIL Socket Mode app token rejected ({exc.response.get('error')}); it needs the connections:write scope"
    except OSError as exc:
        return f"slack: FAIL cannot reach the Slack Web API ({type(exc).__name__})"
    return "slack: ok Socket Mode app token valid"


async def _installed_tokens(config: SlackConfig) -> list[tuple[str, str]]:
    """(team, bot token) of every workspace installed through OAuth."""
    from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

    from storage.db import make_engine

    assert config.oauth is not None
    engine = make_engine(config.database_url)
    try:
        store = AsyncSQLAlchemyInstallationStore(client_id=config.oauth.client_id, engine=engine)
        await store.create_tables()
        c = store.bots.c
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.team_id, c.bot_token).where(c.client_id == config.oauth.client_id).order_by(c.installed_at.desc())
                )
            ).all()
    finally:
        await engine.dispose()
    latest: dict[str, str] = {}
    for team, token in rows:
        if team and token and team not in latest:
            latest[team] = token
    return sorted(latest.items())


async def slack_doctor(settings: Settings) -> list[str]:
    try:
        config = SlackConfig.from_settings(settings)
    except SlackConfigError as exc:
        return [f"slack: FAIL {exc}"]
    client = make_client(config)
    lines = [f"slack: ok {config.mode} mode, Web API at {config.api_url}"]
    if config.mode == "socket" and config.app_token:
        lines.append(await _check_app_token(client, config.app_token))
    if config.oauth is None:
        assert config.bot_token is not None
        lines += await _check_token(client, config.bot_token, "bot token")
        return lines
    installs = await _installed_tokens(config)
    if not installs:
        lines.append("slack: warn no workspace has installed RepBot yet; open /slack/install on the bot's HTTP endpoint")
    for team, token in installs:
        lines += await _check_token(client, token, f"workspace {team}")
    return lines
