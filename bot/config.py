"""Settings from REPBOT_* environment variables and an optional repbot.toml.

Slack and Discord tokens also accept their platform's usual names (SLACK_BOT_TOKEN, ...).
A wrong value stops start-up with one line naming the setting (see `describe_error`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = dict(zip(WEEKDAYS, ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), strict=True))
TOML_FILE = "repbot.toml"


def parse_weekdays(value: str | list[str]) -> list[str]:
    """'mon-fri' / 'mon,wed,fri' / ['mon', 'tue'] -> canonical list; raises ValueError."""
    items = value if isinstance(value, list) else [v for v in str(value).replace(" ", "").split(",") if v]
    days: list[str] = []
    for raw in items:
        original = str(raw).strip().lower()
        item = original if "-" in original else original[:3]
        if "-" in item:
            start, end = (p[:3] for p in item.split("-", 1))
            if start not in WEEKDAYS or end not in WEEKDAYS:
                raise ValueError(f"unknown weekday range '{item}' (use mon..sun)")
            i, j = WEEKDAYS.index(start), WEEKDAYS.index(end)
            days += list(WEEKDAYS[i : j + 1]) if i <= j else list(WEEKDAYS[i:] + WEEKDAYS[: j + 1])
        elif item in WEEKDAYS and WEEKDAY_NAMES[item].startswith(original):
            days.append(item)
        else:
            raise ValueError(f"unknown weekday '{original}' (use mon, tue, wed, thu, fri, sat, sun)")
    if not days:
        raise ValueError("at least one weekday is needed")
    return [d for d in WEEKDAYS if d in set(days)]


def parse_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone '{value}' (use an IANA name such as Europe/Berlin)") from exc
    return value


def parse_time(value: str | dt.time) -> dt.time:
    if isinstance(value, dt.time):
        return value
    try:
        hours, minutes = str(value).strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"bad time '{value}' (use HH:MM, 24-hour)") from exc


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REPBOT_",
        toml_file=TOML_FILE,
        extra="ignore",
        populate_by_name=True,
    )

    # storage
    database_url: str = "sqlite+aiosqlite:///repbot.db"
    auto_migrate: bool = True

    # schedule defaults for new channels
    timezone: str = "UTC"
    post_time: dt.time = dt.time(9, 30)
    weekdays: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    answer_window_hours: float = Field(default=8.0, gt=0, le=24 * 7)
    catch_up_grace_minutes: int = Field(default=180, ge=0)
    holiday_country: str | None = None

    # answers and grading
    quiet_period_seconds: float = Field(default=20.0, ge=0)
    answer_max_chars: int = Field(default=20_000, ge=100)
    grading_lease_seconds: int = Field(default=120, ge=5)
    grading_poll_seconds: float = Field(default=1.0, gt=0)
    grading_max_delay_minutes: float = Field(default=60.0, ge=0)
    interview_idle_hours: float = Field(default=24.0, gt=0)  # an idle DM interview ends with a partial scorecard

    # LLM grader (any OpenAI-compatible endpoint)
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_concurrency: int = Field(default=4, ge=1)
    llm_timeout_seconds: float = Field(default=30.0, gt=0)

    # content
    content_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    # people allowed to run admin commands: "platform:user_id" or bare user ids
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Slack
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "REPBOT_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "REPBOT_SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "REPBOT_SLACK_APP_TOKEN")
    )
    slack_api_url: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_API_URL", "REPBOT_SLACK_API_URL"))
    slack_mode: Literal["socket", "http"] = "socket"
    slack_port: int = 3000
    slack_requests_per_second: float = Field(default=20.0, gt=0)  # workspace-wide pace of chat.postMessage
    # multi-workspace OAuth install (HTTP mode); without these, SLACK_BOT_TOKEN serves one workspace
    slack_client_id: str | None = Field(default=None, validation_alias=AliasChoices("SLACK_CLIENT_ID", "REPBOT_SLACK_CLIENT_ID"))
    slack_client_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "REPBOT_SLACK_CLIENT_SECRET")
    )
    slack_redirect_uri: str | None = None

    # Discord
    discord_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("DISCORD_TOKEN", "REPBOT_DISCORD_TOKEN"))
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    discord_shards: int | None = None
    discord_message_content: bool = False  # privileged intent: thread replies become answers (docs/discord.md)
    discord_sync: Literal["global", "guild", "off"] = "global"  # app commands: global (production) or per guild (dev)

    # console adapter
    console_user: str = "you"

    # operations
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    http_port: int | None = None  # /healthz and /metrics when set

    # team dashboard (bot/dashboard/): links are signed with this key; unset = one made and kept in the database
    public_url: str | None = None  # how people reach REPBOT_HTTP_PORT (behind a reverse proxy: https://host/prefix)
    dashboard_secret: SecretStr | None = None
    dashboard_link_days: float = Field(default=7.0, gt=0, le=366)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return parse_timezone(value)

    @field_validator("post_time", mode="before")
    @classmethod
    def _post_time(cls, value: Any) -> dt.time:
        return parse_time(value)

    @field_validator("weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: Any) -> list[str]:
        return parse_weekdays(value)

    @field_validator("content_dirs", "admins", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (the address people open, e.g. https://repbot.example.com)")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls), file_secret_settings)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None or (self.slack_client_id is not None and self.slack_client_secret is not None)

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None

    def secrets(self) -> list[str]:
        """Every configured secret value, so logs can be checked and scrubbed."""
        values = [self.llm_api_key, self.slack_bot_token, self.slack_signing_secret, self.slack_app_token, self.discord_token]
        values += [self.slack_client_secret, self.dashboard_secret]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def masked(self) -> dict[str, str]:
        """Effective settings for display, secrets shown as ****."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = "****" if value.get_secret_value() else ""
            elif value is None:
                text = ""
            elif isinstance(value, list):
                text = ",".join(str(v) for v in value)
            elif isinstance(value, dt.time):
                text = value.strftime("%H:%M")
            else:
                text = str(value)
            if name == "database_url":
                text = _mask_url_password(text)
            shown[name] = text
        return shown


def _mask_url_password(url: str) -> str:
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:****@{host}"
    return url


def env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"REPBOT_{field.upper()}"


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad setting and why."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"configuration error: {env_name(field)}: {message}"
