"""Agreement between a grader and human grades: pure functions, no I/O.

Used by `repbot grader eval` and the calibration tests. Every function takes two equal-length
sequences (human first, grader second) on the same scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation; 0.0 when either side has no variance (nothing to correlate)."""
    _check(xs, ys)
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks with ties given their average rank (as Spearman needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            result[order[k]] = average
        i = j + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    _check(xs, ys)
    return pearson(ranks(xs), ranks(ys))


def mae(xs: Sequence[float], ys: Sequence[float]) -> float:
    _check(xs, ys)
    return sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(xs)


def to_grade(value: float, max_score: int) -> int:
    """Round half up onto 0..max_score (Python's round() would send 2.5 to 2 and 3.5 to 4)."""
    return max(0, min(max_score, math.floor(value + 0.5)))


def confusion(xs: Sequence[float], ys: Sequence[float], max_score: int) -> list[list[int]]:
    """counts[human][grader] on the rounded 0..max_score scale."""
    _check(xs, ys)
    size = max_score + 1
    counts = [[0] * size for _ in range(size)]
    for x, y in zip(xs, ys, strict=True):
        counts[to_grade(x, max_score)][to_grade(y, max_score)] += 1
    return counts


def quadratic_weighted_kappa(xs: Sequence[float], ys: Sequence[float], max_score: int) -> float:
    """Cohen's kappa with quadratic weights on the rounded scale; 1 = perfect, 0 = chance."""
    counts = confusion(xs, ys, max_score)
    n = len(xs)
    size = max_score + 1
    row = [sum(counts[i]) for i in range(size)]
    col = [sum(counts[i][j] for i in range(size)) for j in range(size)]
    denominator = max(1, size - 1) ** 2
    observed = expected = 0.0
    for i in range(size):
        for j in range(size):
            weight = (i - j) ** 2 / denominator
            observed += weight * counts[i][j] / n
            expected += weight * row[i] * col[j] / (n * n)
    if expected == 0:
        return 1.0 if observed == 0 else 0.0
    return 1.0 - observed / expected


@dataclass(frozen=True, slots=True)
class Agreement:
    n: int
    pearson: float
    spearman: float
    qwk: float
    mae: float
    confusion: tuple[tuple[int, ...], ...]
    max_score: int


def agreement(human: Sequence[float], grader: Sequence[float], max_score: int) -> Agreement:
    """Every figure `repbot grader eval` prints, for one set of paired grades."""
    if max_score < 1:
        raise ValueError("max_score must be >= 1")
    return Agreement(
        n=len(human),
        pearson=pearson(human, grader),
        spearman=spearman(human, grader),
        qwk=quadratic_weighted_kappa(human, grader, max_score),
        mae=mae(human, grader),
        confusion=tuple(tuple(r) for r in confusion(human, grader, max_score)),
        max_score=max_score,
    )


def format_confusion(counts: Sequence[Sequence[int]]) -> str:
    """A small text table: rows are human grades, columns the grader's."""
    size = len(counts)
    width = max(4, *(len(str(c)) for r in counts for c in r))
    header = "human\\grader " + " ".join(str(j).rjust(width) for j in range(size))
    lines = [header]
    for i, r in enumerate(counts):
        lines.append(f"{i:>12} " + " ".join(str(c).rjust(width) for c in r))
    return "\n".join(lines)


def _check(xs: Sequence[float], ys: Sequence[float]) -> None:
    if len(xs) != len(ys):
        raise ValueError(f"length mismatch: {len(xs)} human vs {len(ys)} grader values")
    if not xs:
        raise ValueError("no grades to compare")
