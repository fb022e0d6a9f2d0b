"""The release-engineering thesaurus: groups of words and phrases that mean the same thing.

A rubric signal that contains any entry of a group also matches an answer that says another
entry of the same group instead ("blameless" / "no-blame", "change failure rate" / "CFR").
Bundled groups live in content/thesaurus/*.yaml; a team pack adds its own in a `thesaurus.yaml`
next to its questions. Groups that share an entry are merged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

BUNDLED_THESAURUS_DIR = Path(__file__).parent / "thesaurus"
PACK_THESAURUS_FILE = "thesaurus.yaml"


class ThesaurusFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[list[str]] = Field(min_length=1)

    @field_validator("groups")
    @classmethod
    def _groups_have_two_entries(cls, value: list[list[str]]) -> list[list[str]]:
        for group in value:
            cleaned = [str(entry).strip() for entry in group]
            if len(cleaned) < 2 or any(not entry for entry in cleaned):
                raise ValueError(f"a group needs at least two non-blank entries: {group}")
        return value


@dataclass(frozen=True)
class Thesaurus:
    """Equivalence groups of phrases, as written (the grader normalises them)."""

    groups: tuple[tuple[str, ...], ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.groups)


def read_thesaurus_file(path: Path) -> tuple[list[list[str]], list[str]]:
    """The groups of one file, or the problems that stop it from loading (file and field named)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [], [f"{path}: cannot read thesaurus: {exc}".replace("\n", " ")]
    try:
        parsed = ThesaurusFile.model_validate(raw)
    except ValidationError as exc:
        return [], [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return [[str(entry).strip() for entry in group] for group in parsed.groups], []


def thesaurus_files(pack_dirs: Iterable[Path] = (), *, bundled_dir: Path = BUNDLED_THESAURUS_DIR) -> list[Path]:
    files = sorted(bundled_dir.glob("*.y*ml")) if bundled_dir.is_dir() else []
    for folder in pack_dirs:
        candidate = Path(folder) / PACK_THESAURUS_FILE
        if candidate.is_file():
            files.append(candidate)
    return files


def load_thesaurus(pack_dirs: Iterable[Path] = (), *, bundled_dir: Path = BUNDLED_THESAURUS_DIR) -> Thesaurus:
    """Every group from the bundled folder and the packs, overlapping groups merged."""
    from content.loader import ContentError  # the loader imports this module's file name

    groups: list[set[str]] = []
    problems: list[str] = []
    for path in thesaurus_files(pack_dirs, bundled_dir=bundled_dir):
        file_groups, file_problems = read_thesaurus_file(path)
        problems += file_problems
        groups += [set(g) for g in file_groups]
    if problems:
        raise ContentError(problems)
    return Thesaurus(groups=tuple(tuple(sorted(g)) for g in _merge(groups)))


def _merge(groups: list[set[str]]) -> list[set[str]]:
    """Union groups that share an entry (case-insensitively)."""
    merged: list[set[str]] = []
    for group in groups:
        keys = {entry.lower() for entry in group}
        overlapping = [m for m in merged if keys & {entry.lower() for entry in m}]
        for m in overlapping:
            merged.remove(m)
            group = group | m
        merged.append(set(group))
    return merged
