"""Self-check for authors: `python -m content.check FILE...`.

Validates each file, then grades every model answer with the offline grader (must score
>= 8) and an off-topic paragraph (must score <= 2), naming criteria the model answer misses.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.grading.model import Verdict
from bot.grading.offline import OfflineGrader, TermWeights
from content.loader import BUNDLED_DIR, _yaml_files, load_file

OFF_TOPIC = (
    "To bake a good sourdough loaf you feed the starter the night before, mix flour, water and salt, "
    "then let the dough rest and fold it every half hour. After shaping it proofs overnight in the "
    "fridge and bakes in a very hot covered pot until the crust is deep brown and crackles as it cools."
)
MODEL_MIN, OFF_TOPIC_MAX = 8.0, 2.0


def check(paths: list[Path]) -> list[str]:
    corpus = [q for f in _yaml_files(BUNDLED_DIR) for q in load_file(f)[0]]
    grader = OfflineGrader(TermWeights.from_documents(q.model_answer for q in corpus))
    problems: list[str] = []
    for path in paths:
        questions, file_problems = load_file(path, strict=True)
        problems += file_problems
        for q in questions:
            own = grader.grade_sync(q, q.model_answer)
            if own.score < MODEL_MIN:
                weak = [r.criterion_id for r in own.criteria if r.verdict is not Verdict.HIT]
                problems.append(
                    f"{path}: {q.id}: model answer scores {own.score} (< {MODEL_MIN}); criteria not fully hit: {weak}"
                )
            off = grader.grade_sync(q, OFF_TOPIC)
            if off.score > OFF_TOPIC_MAX:
                problems.append(
                    f"{path}: {q.id}: off-topic paragraph scores {off.score} (> {OFF_TOPIC_MAX}); signals too generic: {[r.evidence for r in off.criteria if r.evidence]}"
                )
            for m in q.misconceptions:
                if grader.matches_any(q.model_answer, m.signals):
                    problems.append(f"{path}: {q.id}: model answer contains a signal of misconception '{m.claim}'")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or _yaml_files(BUNDLED_DIR)
    problems = check(paths)
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in {len(paths)} file(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
