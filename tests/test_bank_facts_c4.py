"""Facts fixed in the bank (issue 14) for build systems, artifacts, supply-chain security, containers,
infrastructure as code and client releases: each test reads the bundled question and fails on the
text it replaced."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from content.loader import load_bank
from content.schema import Question

# The regular expression semver.org publishes for SemVer 2.0.0.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


@pytest.fixture(scope="module")
def bank() -> dict[str, Question]:
    return dict(load_bank().questions)


def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def _version_script(answer: str) -> str:
    match = re.search(r"```bash\n(.*?)```", answer, re.S)
    assert match, "the version-stamp model answer should contain its bash script"
    return match.group(1)


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash")
def test_version_stamp_script_prints_valid_semver_on_dirty_trees(bank: dict[str, Question], tmp_path: Path) -> None:
    """The old script appended ".dirty" after the patch number (1.4.0.dirty), which is not SemVer."""
    script = _version_script(bank["art-build-version-stamp"].model_answer)
    env = {**os.environ, "CI_BRANCH": "feature/login", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, env=env)

    def version() -> str:
        out = subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True, env=env)
        return out.stdout.strip()

    git("init", "-q")
    git("-c", "user.email=a@example.com", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "one")
    git("tag", "v1.4.0")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    seen = {"dirty exact tag": version()}
    git("-c", "user.email=a@example.com", "-c", "user.name=a", "commit", "-q", "-m", "two")
    seen["clean after tag"] = version()
    (tmp_path / "f").write_text("y")
    seen["dirty after tag"] = version()
    for case, value in seen.items():
        assert SEMVER.match(value), f"{case}: {value!r} is not valid SemVer"
    assert seen["dirty exact tag"] == "1.4.0+dirty"
    assert seen["clean after tag"].startswith("1.4.1-feature-login.1+g")
    assert seen["dirty after tag"].endswith(".dirty") and "+" in seen["dirty after tag"]


def test_version_stamp_answer_puts_dirty_in_build_metadata(bank: dict[str, Question]) -> None:
    answer = bank["art-build-version-stamp"].model_answer
    assert 'version="$version.dirty"' not in answer
    assert "1.4.0+dirty" in answer
    for example in re.findall(r"\b\d+\.\d+\.\d+[-+][0-9A-Za-z.+-]*[0-9A-Za-z]", answer):
        assert SEMVER.match(example), f"{example!r} in the model answer is not valid SemVer"


def test_remote_cache_question_that_asks_about_test_results_answers_it(bank: dict[str, Question]) -> None:
    question = bank["build-cache-local-remote-rbe"]
    assert "test results" in _flat(question.prompt)
    answer = _flat(question.model_answer)
    assert "tests are cached" in answer or "cached test" in answer
    assert "nocache_test_results" in answer and "external" in answer
    assert question.criterion("test-results") is not None


def test_at_most_two_build_cache_questions_in_build_systems(bank: dict[str, Question]) -> None:
    cache_centred = [q.id for q in bank.values() if q.category.value == "build-systems" and "remote-cache" in q.tags]
    assert len(cache_centred) <= 2, cache_centred


def test_slsa_question_knows_the_current_version_and_the_source_track(bank: dict[str, Question]) -> None:
    """The old answer said SLSA 1.0 concentrates on a Build track only; v1.2 adds a Source track."""
    question = bank["sc-slsa-build-levels"]
    answer = _flat(question.model_answer)
    assert "1.2" in answer and "source track" in answer
    assert "version 1.0 concentrates" not in answer
    # Each Build level stated by what it requires (slsa.dev, Build track basics).
    assert "hosted build platform" in answer and "signs the provenance" in answer
    assert "user-defined build steps" in answer and "influence one another" in answer
    levels = question.criterion("levels")
    assert levels is not None and "v1.0 Build levels" not in levels.description


def test_slsa_rollout_misconception_explains_why_repo_scripts_cannot_reach_l3(bank: dict[str, Question]) -> None:
    why = " ".join(m.why for m in bank["sc-slsa-l3-org-rollout"].misconceptions).lower()
    assert "user-defined build steps" in why and "signing" in why


def test_s3_state_locking_uses_the_native_lockfile_not_only_dynamodb(bank: dict[str, Question]) -> None:
    """Terraform 1.10+ locks S3 state with use_lockfile; DynamoDB-table locking is deprecated."""
    answer = _flat(bank["iac-state-locking-remote"].model_answer)
    assert "use_lockfile" in answer and "deprecated" in answer


def test_sensitive_flag_is_not_described_as_keeping_secrets_out_of_state(bank: dict[str, Question]) -> None:
    question = bank["iac-secrets-in-state"]
    answer = _flat(question.model_answer)
    assert "only affects display" in answer
    assert "write-only arguments" in answer and "ephemeral resources" in answer
    assert any("sensitive" in m.claim.lower() for m in question.misconceptions)


def test_saved_plan_is_applied_and_stale_plans_are_refused(bank: dict[str, Question]) -> None:
    answer = _flat(bank["iac-plan-apply-pipeline"].model_answer)
    assert "plan -out" in answer and "terraform apply tfplan" in answer
    assert "stale" in answer


def test_registry_cache_needs_max_mode_for_builder_stages(bank: dict[str, Question]) -> None:
    """Docker docs: min mode (the default, and the only mode of the inline cache) exports only the final stage."""
    answer = _flat(bank["cont-buildkit-ci-cache"].model_answer)
    assert "mode=max" in answer and "mode=min" in answer
    assert "not part of what --cache-to exports" in answer


def test_authenticode_timestamp_keeps_signatures_valid_after_expiry(bank: dict[str, Question]) -> None:
    answer = _flat(bank["client-signing-timestamp-incident"].model_answer)
    assert "rfc 3161" in answer and "stays valid after the certificate expires" in answer


def test_macos_notarization_steps_are_complete(bank: dict[str, Question]) -> None:
    answer = _flat(bank["client-macos-sign-notarize"].model_answer)
    for step in ("developer id application", "--options runtime", "--timestamp", "notarytool submit", "stapler staple"):
        assert step in answer, step


def test_debian_and_rpm_pre_releases_use_a_tilde(bank: dict[str, Question]) -> None:
    answer = _flat(bank["client-linux-repo-signing"].model_answer)
    assert "1.2.0~rc1" in answer and "signed-by" in answer and "apt-key is deprecated" in answer


def test_cross_compiling_go_with_cgo_needs_cgo_enabled_explicitly(bank: dict[str, Question]) -> None:
    """Go turns cgo off by default when cross-compiling, so a cgo SQLite binding silently breaks."""
    answer = _flat(bank["build-cross-compile-arm64"].model_answer)
    assert "disables cgo by default when cross-compiling" in answer and "cgo_enabled=1" in answer
