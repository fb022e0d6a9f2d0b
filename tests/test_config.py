"""Settings: environment and repbot.toml, validation with one-line errors, secrets masked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_error, parse_weekdays


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("REPBOT_TIMEZONE", "Mars/Olympus", "configuration error: REPBOT_TIMEZONE: unknown timezone 'Mars/Olympus'"),
        ("REPBOT_POST_TIME", "25:99", "configuration error: REPBOT_POST_TIME: bad time '25:99'"),
        ("REPBOT_WEEKDAYS", "mon,funday", "configuration error: REPBOT_WEEKDAYS: unknown weekday 'funday'"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    line = describe_error(caught.value)
    assert line.startswith(expected) and "\n" not in line


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", ["mon", "tue", "wed", "thu", "fri"]),
        ("fri-mon", ["mon", "fri", "sat", "sun"]),
        ("Tuesday,thu", ["tue", "thu"]),
        (["sun", "sat"], ["sat", "sun"]),
    ],
)
def test_weekday_forms(text: str | list[str], days: list[str]) -> None:
    assert parse_weekdays(text) == days


def test_environment_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "repbot.toml").write_text('timezone = "Asia/Tokyo"\npost_time = "10:15"\nweekdays = "mon,wed"\n')
    monkeypatch.setenv("REPBOT_POST_TIME", "11:45")
    settings = Settings()
    assert settings.timezone == "Asia/Tokyo"  # from the file
    assert settings.post_time == dt.time(11, 45)  # environment wins over the file
    assert settings.weekdays == ["mon", "wed"]


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    monkeypatch.setenv("REPBOT_LLM_API_KEY", "sk-another-secret")
    monkeypatch.setenv("REPBOT_DATABASE_URL", "postgresql+asyncpg://bot:hunter22@db:5432/repbot")
    settings = Settings()
    shown = "\n".join(f"{k}={v}" for k, v in settings.masked().items())
    for secret in ("xoxb-very-secret-token", "sk-another-secret", "hunter22"):
        assert secret not in shown
    assert "slack_bot_token=****" in shown and "bot:****@db" in shown
    assert settings.slack_enabled and settings.llm_enabled
    assert sorted(settings.secrets()) == ["sk-another-secret", "xoxb-very-secret-token"]
