"""Loading question banks from YAML folders, with errors that name file, question and field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from content.schema import Category, PackSettings, Question, QuestionFile, authoring_problems, bundled_problems
from content.thesaurus import PACK_THESAURUS_FILE, Thesaurus, load_thesaurus

BUNDLED_DIR = Path(__file__).parent / "bank"
PACK_SETTINGS_FILE = "pack.yaml"


class ContentError(Exception):
    """A bank that cannot be used; the message lists every problem, one per line."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class QuestionBank:
    questions: dict[str, Question]
    sources: dict[str, Path] = field(default_factory=dict)
    thesaurus: Thesaurus = field(default_factory=Thesaurus)  # bundled groups plus the packs'

    def __len__(self) -> int:
        return len(self.questions)

    def get(self, question_id: str) -> Question | None:
        return self.questions.get(question_id)

    def ids(self) -> list[str]:
        return sorted(self.questions)

    def all(self) -> list[Question]:
        return [self.questions[i] for i in self.ids()]


def _location(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """(question id, dotted field) for a pydantic error location inside a question file."""
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        qid = f"#{loc[1] + 1}"
        try:
            qid = str(raw["questions"][loc[1]].get("id") or qid)
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        return qid, ".".join(str(p) for p in loc[2:]) or "(question)"
    return "-", ".".join(str(p) for p in loc) or "(file)"


def load_file(path: Path, *, strict: bool = False, authoring: bool = False) -> tuple[list[Question], list[str]]:
    """Parse one YAML file. `strict` adds the bundled-bank depth rules, `authoring` the author rules
    (sources, calibration answers) that `content validate` checks."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read: {exc}"]
    except yaml.YAMLError as exc:
        return [], [f"{path}: not valid YAML: {exc}".replace("\n", " ")]
    if isinstance(raw, list):
        raw = {"questions": raw}
    try:
        parsed = QuestionFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            qid, where = _location(raw, tuple(error["loc"]))
            problems.append(f"{path}: question '{qid}' field {where}: {error['msg']}")
        return [], problems
    problems = []
    if strict:
        for question in parsed.questions:
            problems += [f"{path}: question '{question.id}' field {p}" for p in bundled_problems(question)]
            if authoring:
                problems += [f"{path}: question '{question.id}' field {p}" for p in authoring_problems(question)]
    return list(parsed.questions), problems


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*.y*ml") if p.is_file() and p.name not in (PACK_SETTINGS_FILE, PACK_THESAURUS_FILE)
    )


def _pack_settings(folder: Path) -> tuple[PackSettings, list[str]]:
    settings_path = folder / PACK_SETTINGS_FILE
    if not settings_path.exists():
        return PackSettings(), []
    try:
        return PackSettings.model_validate(yaml.safe_load(settings_path.read_text(encoding="utf-8")) or {}), []
    except (yaml.YAMLError, ValidationError) as exc:
        return PackSettings(), [f"{settings_path}: {exc}".replace("\n", " ")]


def load_bank(pack_dirs: Iterable[Path] = (), *, bundled_dir: Path = BUNDLED_DIR) -> QuestionBank:
    """Bundled questions (strict) plus team packs; a duplicate id is an error naming both files."""
    questions: dict[str, Question] = {}
    sources: dict[str, Path] = {}
    problems: list[str] = []
    disabled_categories: set[Category] = set()
    disabled_ids: set[str] = set()

    folders = [(bundled_dir, True)] + [(Path(d), False) for d in pack_dirs]
    for folder, strict in folders:
        if not folder.is_dir():
            problems.append(f"{folder}: content folder does not exist")
            continue
        if not strict:
            settings, settings_problems = _pack_settings(folder)
            problems += settings_problems
            disabled_categories |= set(settings.disable_categories)
            disabled_ids |= set(settings.disable_questions)
        for path in _yaml_files(folder):
            loaded, file_problems = load_file(path, strict=strict)
            problems += file_problems
            for question in loaded:
                if question.id in questions:
                    problems.append(f"duplicate question id '{question.id}' in {sources[question.id]} and {path}")
                    continue
                questions[question.id] = question
                sources[question.id] = path
    if problems:
        raise ContentError(problems)
    kept = {
        qid: q
        for qid, q in questions.items()
        if qid not in disabled_ids and not (q.category in disabled_categories and sources[qid].is_relative_to(bundled_dir))
    }
    if not kept:
        raise ContentError(["the question bank is empty after applying pack settings"])
    return QuestionBank(questions=kept, sources={q: sources[q] for q in kept}, thesaurus=load_thesaurus(pack_dirs))


def validate_paths(paths: Iterable[Path]) -> list[str]:
    """Problems in the given files or folders (strict rules for the bundled folder)."""
    problems: list[str] = []
    for path in paths:
        files = _yaml_files(path) if path.is_dir() else [path]
        for file in files:
            strict = file.resolve().is_relative_to(BUNDLED_DIR.resolve())
            problems += load_file(file, strict=strict, authoring=strict)[1]
    return problems
