"""Answers kept aside: example answers to bank questions that no grader is tuned on.

The bank's own calibration answers (in each question) tune the offline grader and anchor the
LLM's scale; these files measure how well that generalises. Format, one file per category:
`answers: [{question, style, expected, text}]`.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from content.schema import AnswerStyle

HOLDOUT_DIR = Path(__file__).parent / "holdout"


class HoldoutAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    style: AnswerStyle
    expected: float = Field(ge=0, le=10)
    text: str = Field(min_length=10)


class HoldoutFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    answers: list[HoldoutAnswer] = Field(default_factory=list)


def load_holdout(folder: Path = HOLDOUT_DIR) -> list[HoldoutAnswer]:
    """Every kept-aside answer, file by file in name order."""
    answers: list[HoldoutAnswer] = []
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        answers += HoldoutFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {}).answers
    return answers
