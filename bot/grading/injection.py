"""Spotting text that talks to the grader instead of answering the question.

Such sentences are removed before scoring (so they can never add points) and the grade is
flagged. Matching runs on folded text, so homoglyphs and zero-width characters don't hide it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.grading.text import fold

_PATTERNS = [
    # orders to forget the rules
    r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,60}\b(instruction|rule|rubric|prompt|guideline|criteria|above|previous|prior)",
    # asking for a score
    r"\b(give|award|assign|grade|score|rate|mark|return|output)\w*\b[^.\n]{0,50}"
    r"(10\s*/\s*10|10 out of 10|ten out of ten|full (mark|score|point|credit)|maximum (score|point|mark)|"
    r"perfect (score|mark)|top mark|highest (score|grade|mark)|all criteria (hit|met|full))",
    r"\b(this|the|my) answer (is|deserves|should (get|receive|be graded))\b[^.\n]{0,30}\b(perfect|full|10|excellent|correct|maximum)",
    # addressing the grader / role-play
    r"\b(dear|hey|attention|note to (the )?)\s*(grader|grading|evaluator|examiner|assistant|ai|model|llm|chatgpt|gpt)\b",
    r"\b(you are|you're|act as|pretend|role ?play|roleplay|from now on you)\b[^.\n]{0,40}\b(grader|evaluator|assistant|ai|model|examiner|judge|dan)\b",
    r"\b(system prompt|new instructions?|developer mode|jailbreak|as an ai language model)\b",
    r"\b(grader|evaluator|examiner|llm|language model)\b[^.\n]{0,40}\b(must|should|will|shall|has to|needs to)\b",
    # fake verdicts and spoofed delimiters
    r"[\"']?\b(score|verdict|grade|total|injection_suspected|criteria)\b[\"']?\s*[:=]\s*[\"']?(\d|true|false|full|hit|\[|\{)",
    r"</?\s*(system|assistant|user|answer|candidate|data|instructions?|rubric)\b[^>]*>",
    r"\b(begin|end)( of)? (candidate )?(answer|data|input|instructions?)\b",
    r"^\s*(system|assistant)\s*:",
]
_COMPILED = [re.compile(p, re.MULTILINE) for p in _PATTERNS]
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Screened:
    text: str  # the answer without sentences aimed at the grader
    suspicious: tuple[str, ...]  # the removed sentences, for review

    @property
    def injection_suspected(self) -> bool:
        return bool(self.suspicious)


def looks_like_injection(sentence: str) -> bool:
    folded = fold(sentence)
    return any(p.search(folded) for p in _COMPILED)


def screen(answer: str) -> Screened:
    """Split into sentences and drop those that try to instruct the grader."""
    kept: list[str] = []
    removed: list[str] = []
    for sentence in _SENTENCE_SPLIT.split(answer):
        if not sentence.strip():
            continue
        (removed if looks_like_injection(sentence) else kept).append(sentence)
    return Screened(text=" ".join(kept), suspicious=tuple(removed))
