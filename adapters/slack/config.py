"""The Slack part of Settings, checked once: which mode, which tokens, where the Web API lives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from bot.config import Settings

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
MANIFEST = Path(__file__).with_name("manifest.yml")


class SlackConfigError(ValueError):
    """A Slack setting is missing or contradicts another; the message names the variable."""


def manifest_bot_scopes(path: Path = MANIFEST) -> tuple[str, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(data["oauth_config"]["scopes"]["bot"])


def manifest_command(path: Path = MANIFEST) -> str:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = data.get("features", {}).get("slash_commands") or [{"command": "/repbot"}]
    return str(commands[0]["command"])


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str | None = None


@dataclass(frozen=True, slots=True)
class SlackConfig:
    mode: Literal["socket", "http"]
    api_url: str
    port: int
    database_url: str = field(repr=False)
    bot_token: str | None = field(default=None, repr=False)
    signing_secret: str = field(default="", repr=False)
    app_token: str | None = field(default=None, repr=False)
    oauth: OAuthConfig | None = None
    admins: tuple[str, ...] = ()
    path: str = EVENTS_PATH
    requests_per_second: float = 20.0  # workspace-wide pace of posts

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackConfig:
        def secret(value: object) -> str | None:
            got = value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]
            return got or None

        bot_token = secret(settings.slack_bot_token)
        signing = secret(settings.slack_signing_secret) or ""
        app_token = secret(settings.slack_app_token)
        client_secret = secret(settings.slack_client_secret)
        oauth = (
            OAuthConfig(settings.slack_client_id, client_secret, settings.slack_redirect_uri)
            if settings.slack_client_id and client_secret
            else None
        )
        mode: Literal["socket", "http"] = "http" if settings.slack_mode == "http" else "socket"
        if mode == "socket" and oauth is not None and app_token is None:
            mode = "http"  # OAuth installs need the HTTP endpoints; there is nothing else to pick
        if mode == "http" and not signing:
            raise SlackConfigError("SLACK_SIGNING_SECRET is required in HTTP mode (Basic Information > App Credentials)")
        if mode == "socket" and app_token is None:
            raise SlackConfigError(
                "SLACK_APP_TOKEN (xapp-…, with connections:write) is required for Socket Mode; "
                "or set REPBOT_SLACK_MODE=http and SLACK_SIGNING_SECRET"
            )
        if mode == "socket" and oauth is not None:
            raise SlackConfigError("multi-workspace install (SLACK_CLIENT_ID) needs REPBOT_SLACK_MODE=http")
        if bot_token is None and oauth is None:
            raise SlackConfigError("SLACK_BOT_TOKEN (xoxb-…) is required, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
        api_url = settings.slack_api_url or DEFAULT_API_URL
        return cls(
            mode=mode,
            api_url=api_url if api_url.endswith("/") else api_url + "/",
            port=settings.slack_port,
            database_url=settings.database_url,
            bot_token=None if oauth is not None else bot_token,
            signing_secret=signing,
            app_token=app_token,
            oauth=oauth,
            admins=tuple(settings.admins),
            requests_per_second=settings.slack_requests_per_second,
        )
