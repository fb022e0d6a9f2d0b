"""Install helpers: the OAuth2 invite URL and `repbot doctor`'s Discord checks.

The doctor uses REST only (no gateway connection), so it runs next to a live bot.
"""

from __future__ import annotations

import base64
import binascii

import discord

from adapters.discord.endpoints import Endpoints
from bot.config import Settings

SCOPES = ("bot", "applications.commands")
# Exactly what RepBot does: read and post in channels and threads, start a thread on each question,
# react 👀 to answers, embed questions and feedback, attach charts and exports.
REQUIRED_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    read_message_history=True,
)
MAX_GUILDS_CHECKED = 25


def application_id_from_token(token: str) -> int | None:
    """A bot token starts with the bot's user id (= its application id), base64-encoded."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(decoded) if decoded.isdigit() else None


def invite_url(settings: Settings, client_id: int | None = None) -> str:
    """The OAuth2 URL that adds RepBot to a server with exactly the scopes and permissions it uses."""
    if client_id is None and settings.discord_token is not None:
        client_id = application_id_from_token(settings.discord_token.get_secret_value())
    if client_id is None:
        raise ValueError("no application id: set DISCORD_TOKEN or pass --client-id (Developer Portal > General Information)")
    return discord.utils.oauth_url(client_id, permissions=REQUIRED_PERMISSIONS, scopes=SCOPES)


def permission_names(permissions: discord.Permissions) -> list[str]:
    return [name for name, value in permissions if value]


def _intent_lines(settings: Settings, app: discord.AppInfo) -> list[str]:
    enabled = app.flags.gateway_message_content or app.flags.gateway_message_content_limited
    if settings.discord_message_content and not enabled:
        return [
            "discord: FAIL MESSAGE_CONTENT intent requested (REPBOT_DISCORD_MESSAGE_CONTENT=true) but not enabled in the "
            "Developer Portal (Bot > Privileged Gateway Intents); start-up would fail with close code 4014"
        ]
    if settings.discord_message_content:
        return ["discord: ok MESSAGE_CONTENT intent on and enabled in the portal: thread replies are answers"]
    portal = "enabled" if enabled else "not enabled"
    return [f"discord: ok MESSAGE_CONTENT intent off (portal: {portal}): people answer with the Answer privately button"]


async def _guild_lines(client: discord.Client) -> list[str]:
    assert client.user is not None
    guilds = [guild async for guild in client.fetch_guilds(limit=200)]
    if not guilds:
        return ["discord: warn the bot is in no server yet; add it with the URL from `repbot discord invite-url`"]
    lines = [f"discord: ok in {len(guilds)} server(s)"]
    for partial in guilds[:MAX_GUILDS_CHECKED]:
        label = f"{partial.name} ({partial.id})"
        try:
            guild = await client.fetch_guild(partial.id)
            member = await guild.fetch_member(client.user.id)
        except discord.HTTPException as exc:
            lines.append(f"discord: warn {label}: cannot read the server's roles ({exc.status})")
            continue
        have = member.guild_permissions
        missing = [name for name in permission_names(REQUIRED_PERMISSIONS) if not getattr(have, name)]
        if missing:
            lines.append(
                f"discord: FAIL {label}: missing server permissions {', '.join(missing)}; "
                "re-invite with `repbot discord invite-url` or grant them to the bot's role"
            )
        else:
            lines.append(f"discord: ok {label}: all needed permissions (server-wide; channel overrides not checked)")
    if len(guilds) > MAX_GUILDS_CHECKED:
        lines.append(f"discord: warn {len(guilds) - MAX_GUILDS_CHECKED} more server(s) not checked")
    return lines


async def discord_doctor(settings: Settings) -> list[str]:
    """Token, intents and server access; every line starts "discord: ok|warn|FAIL" (never the token)."""
    if settings.discord_token is None:
        return ["discord: warn DISCORD_TOKEN not set; Discord is off"]
    client = discord.Client(intents=discord.Intents.none())
    Endpoints(settings.discord_api_base, settings.discord_gateway_url).install(client)
    try:
        try:
            await client.login(settings.discord_token.get_secret_value())
        except discord.LoginFailure:
            return ["discord: FAIL the bot token was rejected (401); reset it under Bot > Reset Token and update DISCORD_TOKEN"]
        except (discord.HTTPException, OSError) as exc:
            return [
                f"discord: FAIL cannot reach the Discord API ({type(exc).__name__}); check REPBOT_DISCORD_API_BASE and the network"
            ]
        assert client.user is not None
        lines = [f"discord: ok token valid for {client.user.name} (application {client.user.id})"]
        lines += _intent_lines(settings, await client.application_info())
        lines.append("discord: ok other intents: guilds, guild messages, direct messages (not privileged)")
        lines += await _guild_lines(client)
        lines.append(f"discord: ok /repbot commands sync mode: {settings.discord_sync}")
        return lines
    except discord.HTTPException as exc:
        return [f"discord: FAIL Discord API error {exc.status} during the checks"]
    finally:
        await client.close()
