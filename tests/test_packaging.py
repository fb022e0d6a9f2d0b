"""Repository-level promises: layering, the compose file, and CI wiring."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_platform_libraries() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(slack_bolt|slack_sdk|discord)\b", re.MULTILINE)
    offenders = [str(p) for p in (ROOT / "bot").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_compose_file_matches_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"bot", "postgres"}
    bot, db = services["bot"], services["postgres"]
    known = {env_name(f) for f in Settings.model_fields}
    env = bot["environment"]
    names = set(env) if isinstance(env, dict) else {e.split("=", 1)[0] for e in env}
    assert "REPBOT_DATABASE_URL" in names
    assert names <= known, f"unknown settings in compose: {names - known}"
    url = env["REPBOT_DATABASE_URL"] if isinstance(env, dict) else next(e for e in env if e.startswith("REPBOT_DATABASE_URL="))
    assert "postgresql+asyncpg://" in url and "@postgres:" in url
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in db and any(v.split(":")[0] in compose.get("volumes", {}) for v in db["volumes"])
    command = bot.get("command") or []
    assert command[-1] == "run" or command == ["repbot", "run"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "repbot" in dockerfile


def test_ci_requires_postgres_and_runs_make_test() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "REPBOT_REQUIRE_POSTGRES=1" in ci and "make test" in ci


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert [env_name(f) for f in Settings.model_fields if env_name(f) not in readme] == []
