"""The question-bank schema: what a question is, checked with pydantic.

Two levels of strictness: every question (including team packs) must satisfy `Question`;
bundled questions must also pass `bundled_problems`, which asks for full depth.
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG = r"^[a-z0-9][a-z0-9-]{1,80}$"


class Category(StrEnum):
    CI_CD_PIPELINES = "ci-cd-pipelines"
    DEPLOYMENT_STRATEGIES = "deployment-strategies"
    PRODUCTION_INCIDENTS = "production-incidents"
    BUILD_SYSTEMS = "build-systems"
    DATABASE_MIGRATIONS = "database-migrations"
    ARTIFACTS = "artifacts"
    BRANCHING_VERSIONING = "branching-versioning"
    RELEASE_METRICS = "release-metrics"
    KUBERNETES = "kubernetes"
    SUPPLY_CHAIN_SECURITY = "supply-chain-security"
    RELEASE_GOVERNANCE = "release-governance"
    SCRIPTING_AUTOMATION = "scripting-automation"
    DEVELOPER_EXPERIENCE = "developer-experience"
    FUNDAMENTALS = "fundamentals"
    GIT_IN_PRACTICE = "git-in-practice"
    SEMVER_LIBRARY_RELEASES = "semver-library-releases"
    CONTAINERS = "containers"
    INFRASTRUCTURE_AS_CODE = "infrastructure-as-code"
    CI_PLATFORM = "ci-platform"
    FEATURE_FLAGS = "feature-flags"
    CLIENT_RELEASES = "client-releases"  # installable software: mobile, desktop, packages, auto-update
    CUSTOM = "custom"  # team packs may use their own topics under this name


class Difficulty(StrEnum):
    JUNIOR = "junior"
    MID = "mid"
    SENIOR = "senior"
    STAFF = "staff"


class Format(StrEnum):
    PIPELINE_DESIGN = "pipeline-design"
    SCRIPTING = "scripting"
    INCIDENT_PROCESS = "incident-process"
    BEHAVIORAL = "behavioral"
    CONCEPT = "concept"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Criterion(_Strict):
    id: str = Field(pattern=SLUG)
    description: str = Field(min_length=10)
    weight: float = Field(default=1.0, gt=0, le=10)
    signals: list[str] = Field(min_length=1)

    @field_validator("signals")
    @classmethod
    def _signals_not_blank(cls, value: list[str]) -> list[str]:
        cleaned = [str(s).strip() for s in value]
        if any(not s for s in cleaned):
            raise ValueError("a signal is blank")
        return cleaned


class Misconception(_Strict):
    claim: str = Field(min_length=5)
    signals: list[str] = Field(min_length=1)
    penalty: float = Field(default=1.0, ge=0, le=5)
    # One sentence on why the claim is wrong; feedback quotes it when an answer asserts the claim.
    why: str = ""


class Reference(_Strict):
    """Official documentation or a standard that the question's facts rely on."""

    title: str = Field(min_length=3)
    url: str = Field(pattern=r"^https://\S+$")


class AnswerStyle(StrEnum):
    TERSE_EXPERT = "terse-expert"  # 2-3 dense, correct sentences
    THOROUGH = "thorough"  # a complete answer, in the writer's own words
    PARTIAL = "partial"  # about half of the substance
    WRONG = "wrong"  # fluent but asserts a misconception
    VAGUE = "vague"  # on topic, says nothing checkable


class CalibrationAnswer(_Strict):
    """An example answer with the score a senior interviewer would give it (0-10).

    The author check grades it with the offline grader, which must land within `band`
    (default: expected +/- 1.5).
    """

    style: AnswerStyle
    text: str = Field(min_length=10)
    expected: float = Field(ge=0, le=10)
    band: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _band_holds_expected(self) -> CalibrationAnswer:
        if self.band is not None:
            low, high = self.band
            if not 0 <= low <= self.expected <= high <= 10:
                raise ValueError(f"band {list(self.band)} must hold expected {self.expected} within 0-10")
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        if self.band is not None:
            return self.band
        return max(0.0, self.expected - CALIBRATION_TOLERANCE), min(10.0, self.expected + CALIBRATION_TOLERANCE)


CALIBRATION_TOLERANCE = 1.5


class FollowUp(_Strict):
    criterion: str
    ask: str = Field(min_length=10)


class Question(_Strict):
    id: str = Field(pattern=SLUG)
    title: str = Field(min_length=3, max_length=150)
    prompt: str = Field(min_length=10)
    category: Category = Category.CUSTOM
    difficulty: Difficulty = Difficulty.MID
    formats: list[Format] = Field(default_factory=lambda: [Format.CONCEPT])
    tags: list[str] = Field(default_factory=list)
    rubric: list[Criterion] = Field(default_factory=list)
    misconceptions: list[Misconception] = Field(default_factory=list)
    model_answer: str = Field(min_length=20)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)
    common_mistakes: list[str] = Field(default_factory=list)
    time_limit_minutes: int | None = Field(default=None, ge=1, le=120)
    references: list[Reference] = Field(default_factory=list)
    calibration: list[CalibrationAnswer] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> Question:
        ids = [c.id for c in self.rubric]
        if len(ids) != len(set(ids)):
            raise ValueError("rubric criterion ids repeat")
        for follow_up in self.follow_ups:
            if self.rubric and follow_up.criterion not in ids:
                raise ValueError(f"follow_ups: criterion '{follow_up.criterion}' is not a rubric id ({', '.join(ids)})")
        return self

    @property
    def version(self) -> str:
        """Content hash: changes whenever anything a grader could see changes."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]

    @property
    def total_weight(self) -> float:
        return sum(c.weight for c in self.rubric)

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.rubric if c.id == criterion_id), None)


def word_count(text: str) -> int:
    return len(re.findall(r"\S+", text))


def bundled_problems(question: Question) -> list[str]:
    """Depth rules for the bundled bank (packs may be lighter). Empty list = fine."""
    problems: list[str] = []
    if question.category is Category.CUSTOM:
        problems.append("category: bundled questions need one of the named categories")
    if not 4 <= len(question.rubric) <= 8:
        problems.append(f"rubric: needs 4-8 criteria, has {len(question.rubric)}")
    words = word_count(question.model_answer)
    if not 150 <= words <= 400:
        problems.append(f"model_answer: needs 150-400 words, has {words}")
    if len(question.follow_ups) < 2:
        problems.append(f"follow_ups: needs at least 2, has {len(question.follow_ups)}")
    if not question.formats:
        problems.append("formats: needs at least one")
    for criterion in question.rubric:
        if len(criterion.signals) < 3:
            problems.append(f"rubric.{criterion.id}.signals: needs at least 3 phrases")
    return problems


def authoring_problems(question: Question) -> list[str]:
    """What `content validate` and the author check also ask of bundled questions: sources,
    calibration answers and the reason behind each misconception. Loading does not need them."""
    problems: list[str] = []
    for number, misconception in enumerate(question.misconceptions, start=1):
        if not misconception.why:
            problems.append(f"misconceptions.{number}.why: say in one sentence why the claim is wrong")
    if question.difficulty in (Difficulty.SENIOR, Difficulty.STAFF) and not question.references:
        problems.append("references: senior and staff questions cite at least one official source")
    styles = {answer.style for answer in question.calibration}
    missing = [style.value for style in AnswerStyle if style not in styles]
    if len(question.calibration) < 5 or missing:
        problems.append(
            f"calibration: needs at least 5 example answers covering every style; has {len(question.calibration)}"
            + (f", missing {', '.join(missing)}" if missing else "")
        )
    return problems


class PackSettings(_Strict):
    """`pack.yaml` in a team pack folder: what of the bundled bank to switch off."""

    name: str = "team pack"
    disable_categories: list[Category] = Field(default_factory=list)
    disable_questions: list[str] = Field(default_factory=list)


class QuestionFile(_Strict):
    questions: list[Question] = Field(min_length=1)
