"""Spotting text that talks to the grader instead of answering the question.

Such sentences are removed before scoring (so they can never add points) and the grade is
flagged. Matching runs on folded text, so homoglyphs and zero-width characters don't hide it.

Precision matters as much as recall: release-engineering prose is full of "nobody can bypass
the change rules", "override the previous release", "ignore the install instructions in the
README" and "drop any constraints before the backfill", and a genuine sentence removed by
mistake costs its author points. So an order only counts when it targets the grader's own
material (its instructions, prompt, rubric, "the rules above"), or when it is an imperative
aimed at rules in general ("Ignore all rules and ..."), or when it talks to or about the
grader, asks for a score, fakes a verdict or a delimiter, or hides text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from bot.grading.text import fold, plain

_SALUTATION = r"(?:dear|hey|attention|note to(?: the)?|message to(?: the)?|memo to(?: the)?|instructions? (?:to|for)(?: the)?)"
# The grader, when an answer speaks about it. Not "bot", "assistant" or "ai": answers about
# chat-ops legitimately say "the bot should mark the PR".
_GRADER = (
    r"(?:grader|grading (?:system|bot|model|ai|assistant|engine)|evaluator|examiner|marker|assessor|"
    r"llm|language model|chatgpt|gpt|ai model|ai grader)"
)
# When an answer speaks *to* the grader ("Dear assistant, ..."), the wider set is safe.
_ADDRESSEE = rf"(?:{_GRADER}|assistant|ai|model|claude|gemini)"
_VERB = r"(?:ignore|ignoring|disregard|disregarding|forget|forgetting|override|overriding|bypass|bypassing)"
# Qualifiers that make "instructions"/"rules" the grader's own, wherever the verb stands.
_OWN = (
    r"(?:previous|prior|above|earlier|preceding|original|initial|system|developer|grading|scoring|"
    r"marking|your|all (?:the )?(?:previous|prior|above|earlier))"
)
_MATERIAL = (
    rf"(?:(?:all |any |the )?{_OWN} (?:instructions?|prompts?|directions?|guidelines?|directives?|rules|"
    r"criteria|context|messages?|text)|"
    r"(?:instructions?|prompts?|guidelines?|rules|criteria|directions?) (?:above|before|given|you were given|"
    r"you have been given|i gave you)|"
    r"rubrics?|marking scheme|(?:grading|scoring|marking|evaluation) (?:rules|criteria|guide|scheme|policy|"
    r"instructions?)|everything (?:above|before|you were told|said (?:above|before))|what you were told)"
)
# An imperative: at the start of a sentence, after "please"/"now", or pressed on "you".
_IMPERATIVE = (
    r"(?:^[\W_]*|(?<=[.!?;:] )|\b(?:please|now|just|kindly|simply|then)\s+|"
    r"\byou (?:must|should|need to|have to|are to)\s+|\bi (?:want|need|order|command|instruct) you to\s+)"
)
# Phrases that only exist in grading talk; a release-engineering answer has no use for them.
_GRADE_PHRASE = (
    r"(?:full (?:marks?|points|credit|score)|top (?:marks?|score)|perfect (?:score|marks?|grade)|"
    r"maximum (?:score|points|marks?|grade)|max (?:score|points|marks)|highest (?:score|grade|marks?|rating)|"
    r"ten out of ten|10 out of 10|a score of 10|a grade of 10)"
)
_HIDDEN_WORDS = (
    r"(?:grader|grade|grading|score|scoring|marks?|points|rubric|instructions?|assistant|ai|model|llm|answer|"
    r"verdict|criteri(?:on|a)|ignore|full|perfect|correct)"
)

_VERBS = "ignore ignores ignoring ignored disregard disregarding forget forgetting override overriding bypass bypassing"
_GRADER_WORDS = "grader graders grading evaluator examiner marker assessor llm model chatgpt gpt ai"
# (anchor words, pattern): a pattern runs only when one of its anchor words occurs in the text
# (or, for "chars:" anchors, one of those characters), which keeps screening a long answer
# cheap. Every anchor is a word the pattern itself cannot match without.
_RULES_SOURCE: list[tuple[str, str]] = [
    # orders to drop the grader's instructions
    (_VERBS, rf"\b{_VERB}\b[^.\n]{{0,40}}?\b{_MATERIAL}\b"),
    (
        _VERBS,
        rf"{_IMPERATIVE}{_VERB}\b[^.\n]{{0,30}}?\b(?:all|any|every|these|those|the) (?:rules|criteria|"
        r"instructions?|guidelines?)\b",
    ),
    (
        "instruction instructions prompt",
        r"\b(?:new|updated|real|actual|revised|hidden|secret) (?:system )?(?:instructions?|prompt)\s*"
        rf"(?::|-{{1,2}}|for (?:the )?(?:{_ADDRESSEE}|you)\b)",
    ),
    ("prompt jailbreak model", r"\b(?:system prompt|jailbreak|as an ai language model)\b"),
    ("mode", r"\b(?:enter|enable|activate|switch to|now in|you are in) (?:developer|god|admin|debug|dan) mode\b"),
    # "Output score 10.": an order to print a score, the follow-up of a role-play or mode switch
    (
        "output return print emit respond reply say",
        rf"{_IMPERATIVE}(?:output|return|print|emit|respond with|reply with|say)(?: (?:a|the|my|this|your|only))* "
        r"(?:score|grade|rating|marks?|verdict)(?: (?:of|is|as|=|:))? ?(?:10|ten|full|max(?:imum)?|perfect|pass)\b",
    ),
    # grading vocabulary and requests for a score
    ("marks mark points credit score grade rating ten 10", rf"\b{_GRADE_PHRASE}\b"),
    (
        "10 ten",
        r"\b(?:give|award|assign|grant|grade|score)\w*\b[^.\n]{0,40}\b(?:10|ten)\s*(?:points?|marks?|/ ?10|"
        r"out of (?:10|ten))",
    ),
    (
        "deserve deserves earn earns merit merits worth",
        r"\b(?:deserves?|earns?|merits?|worth)\b[^.\n]{0,20}(?:\b10 ?/ ?10|\b10 out of|\bfull\b|\btop\b|"
        r"\bperfect\b|\bmaximum\b)",
    ),
    (
        "answer submission reply",
        r"\b(?:this|the|my) (?:answer|submission|reply) (?:is|deserves|earns|merits|should (?:get|receive|be "
        r"(?:graded|scored|marked|rated|given)))\b[^.\n]{0,30}\b(?:perfect|flawless|full|10|excellent|correct|"
        r"complete|maximum|top)\b",
    ),
    ("answer response submission reply", r"\b(?:mark|grade|score|rate) (?:this|my) (?:answer|response|submission|reply)\b"),
    (
        "rubric scheme grading scoring",
        r"\b(?:as|per|according to) (?:the|your) (?:rubric|marking scheme|grading (?:guide|rules|criteria|policy)|"
        r"scoring (?:guide|rules))\b",
    ),
    (
        "rubric scheme guide policy",
        r"\b(?:rubric|marking scheme|grading guide|grading policy) (?:says|states|requires|allows|demands|mandates)\b",
    ),
    ("criterion criteria", r"\b(?:every|each|all)(?: the)? (?:rubric )?criteri(?:on|a)\b[^.\n]{0,30}\b(?:full|hit)\b"),
    ("rubric", r"\bevery rubric item\b"),
    # addressing the grader, role-play
    (_GRADER_WORDS, rf"\b{_SALUTATION} {_GRADER}\b"),
    # "Dear assistant, ..." but not "note to the model owners"
    (f"{_GRADER_WORDS} assistant claude gemini", rf"\b{_SALUTATION} {_ADDRESSEE}\b(?!\s+[a-z])"),
    (
        f"{_GRADER_WORDS} judge dan",
        r"\b(?:you are|you're|you will be|act as|acting as|pretend(?: to be| you are)?|role ?play(?: as)?|"
        rf"from now on,? you(?: are)?|imagine you are|let's play)\b[^.\n]{{0,40}}\b(?:{_GRADER}|judge|dan)\b",
    ),
    (
        _GRADER_WORDS,
        rf"\b{_GRADER}\b[^.\n]{{0,40}}\b(?:must|should|will|shall|would|has to|needs to|is required to|is "
        r"instructed to)\b[^.\n]{0,40}\b(?:score|grade|mark|award|give|rate|output|return|pass|credit)",
    ),
    # fake verdicts and spoofed delimiters
    ("chars:\"'", r"[\"'](?:score|verdict|grade|injection_suspected|criteria|feedback)[\"']\s*:"),
    ("score grade verdict", r"\b(?:score|grade|verdict)\s*[:=]\s*(?:10\b|full\b|hit\b|pass(?:ed)?\b|a\+)"),
    ("injection_suspected", r"\binjection_suspected\b"),
    (
        "chars:<",
        r"</?\s*(?:system|assistant|answer|candidate(?:[ _]answer)?|instructions?|rubric|grader|prompt|im_start|"
        r"im_end)\b[^>]*>",
    ),
    ("chars:<", r"<{2,}\s*/?\s*(?:end|begin|start)?[-_ ]?(?:answer|system|instructions?|data|input|prompt)"),
    (
        "begin end start",
        r"(?:^[\W_]*|[\[<#=*]\s*|-{2,}\s*)(?:begin|end|start)(?: of)? (?:the )?(?:candidate )?(?:answer|data|input|"
        r"instructions?|prompt|system)\s*(?:[\]>#=*:-]|$)",
    ),
    ("chars:<", r"<\|\s*im_(?:start|end|sep)\s*\|>"),
    ("system assistant developer", r"^\s*(?:system|assistant|developer)\s*:"),
    ("chars:[", r"\[\s*(?:system|assistant|developer)\s*\]"),
    # hidden text aimed at a machine: comments no chat reader sees
    ("chars:<", rf"<!--(?:(?!-->).){{0,300}}?\b{_HIDDEN_WORDS}\b"),
    ("chars:[", rf"\[//\]\s*:\s*#[^\n]{{0,300}}?\b{_HIDDEN_WORDS}\b"),
    # Latin-script languages (accents folded away). Either the verb or the noun is non-English,
    # so "ignore the install instructions" in English is left alone.
    (
        "ignora ignorar ignorez ignorer ignoriere ignorieren ignorate negeer",
        r"\b(?:ignora|ignorar|ignorez|ignorer|ignoriere\w*|ignorate|negeer)\b[^.\n]{0,40}\b(?:instrucciones|"
        r"instructions|anweisungen|instrucoes|istruzioni|instructies|consignes|regeln|reglas|regles|regras|regole)\b",
    ),
    (
        "ignore ignora ignorar",
        r"\b(?:ignore|ignora|ignorar)\b[^.\n]{0,40}\b(?:instrucciones|anweisungen|instrucoes|istruzioni|instructies)\b",
    ),
    (
        "maxima maximale hochste volle maximo perfecta parfaite",
        r"\b(?:maxima|maximale|hochste|volle|maxim[ao]|perfecta|parfaite) (?:puntuacion|nota|note|punktzahl|"
        r"pontuacao|punteggio|calificacion|punten)\b",
    ),
    ("nota note bestnote 20", r"\b(?:nota|note) (?:maxima|maximale|massima)\b|\bbestnote\b|\b20 ?/ ?20\b"),
]
# Scripts the homoglyph folding would mangle (Cyrillic, CJK): matched on text that kept its letters.
_NON_LATIN_PATTERNS = [
    r"игнорир\w*[^.\n]{0,40}(?:инструкц|указани|правил)",
    r"(?:максимальн\w*|высш\w*|полн\w*) (?:балл|оценк)",
    r"忽略[^。\n]{0,20}(?:指令|指示|说明|规则)|满分|最高分|无视[^。\n]{0,20}(?:指令|指示|规则)",
    r"指示を無視|命令を無視|満点",
    r"무시[^.\n]{0,20}(?:지시|명령)|만점",
]


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: re.Pattern[str]
    words: frozenset[str]
    chars: str


def _rule(anchors: str, pattern: str) -> _Rule:
    if anchors.startswith("chars:"):
        return _Rule(re.compile(pattern, re.MULTILINE), frozenset(), anchors.removeprefix("chars:"))
    return _Rule(re.compile(pattern, re.MULTILINE), frozenset(anchors.split()), "")


_RULES = tuple(_rule(a, p) for a, p in _RULES_SOURCE)
_NON_LATIN_RULES = (_Rule(re.compile("|".join(f"(?:{p})" for p in _NON_LATIN_PATTERNS), re.MULTILINE), frozenset(), ""),)
_WORD = re.compile(r"[a-z0-9_]+")
# Sentence ends, line breaks, and the edges of an HTML comment: a comment has no full stop of its
# own, so without them it would be glued to (and removed with) the genuine sentence next to it.
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=-->)\s+|\s+(?=<!--)|\n+")
# "i g n o r e  a l l ..." spelled out letter by letter to slip past word patterns.
_SPACED_LETTERS = re.compile(r"\b(?:\w[ \t]){4,}\w\b")
_WIDE_GAPS = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class Screened:
    text: str  # the answer without sentences aimed at the grader
    suspicious: tuple[str, ...]  # the removed sentences, for review

    @property
    def injection_suspected(self) -> bool:
        return bool(self.suspicious)


def screen(answer: str) -> Screened:
    """Split into sentences and drop those that try to instruct the grader."""
    fragments = [f for f in _SENTENCE_SPLIT.split(answer) if f.strip()]
    flagged = _flagged(fragments, across_lines="\n" in answer.strip())
    kept = [f for i, f in enumerate(fragments) if i not in flagged]
    removed = tuple(f for i, f in enumerate(fragments) if i in flagged)
    return Screened(text=" ".join(kept), suspicious=removed)


def _flagged(fragments: list[str], *, across_lines: bool = False) -> set[int]:
    """Indexes of the fragments an injection pattern touches.

    Each view of the text (folded; letter-spacing squeezed; original script) is matched twice:
    fragments joined by newlines, so patterns anchored at a line start work, and joined by
    spaces, so an order broken over several lines is still one match. The patterns' gaps never
    cross a full stop, so a match cannot bridge two real sentences.
    """
    if not fragments:
        return set()
    folded = [fold(f) for f in fragments]
    views: list[tuple[tuple[_Rule, ...], list[str]]] = [(_RULES, folded)]
    if any(_SPACED_LETTERS.search(f) for f in folded):
        views.append((_RULES, [_squeeze(f) for f in folded]))
    if not all(f.isascii() for f in fragments):
        views.append((_NON_LATIN_RULES, [plain(f) for f in fragments]))
    # Only an answer with line breaks can spread one order over several fragments.
    separators = ("\n", " ") if across_lines else ("\n",)
    flagged: set[int] = set()
    for rules, texts in views:
        for separator in separators:
            flagged |= _overlapping(rules, texts, separator)
    return flagged


def _overlapping(rules: tuple[_Rule, ...], texts: list[str], separator: str) -> set[int]:
    starts: list[int] = []
    position = 0
    for text in texts:
        starts.append(position)
        position += len(text) + len(separator)
    joined = separator.join(texts)
    present = set(_WORD.findall(joined))
    hits: set[int] = set()
    for rule in rules:
        if rule.words and rule.words.isdisjoint(present):
            continue
        if rule.chars and not any(c in joined for c in rule.chars):
            continue
        for match in rule.pattern.finditer(joined):
            # Fragments from the one holding the match's start to the one holding its last character.
            first = bisect_right(starts, match.start()) - 1
            last = bisect_right(starts, max(match.end() - 1, match.start())) - 1
            hits.update(range(first, last + 1))
    return hits


def _squeeze(text: str) -> str:
    squeezed = _SPACED_LETTERS.sub(lambda m: m.group(0).replace(" ", "").replace("\t", ""), text)
    # Letter-spaced words are usually separated by wider gaps; make those single spaces.
    return _WIDE_GAPS.sub(" ", squeezed) if squeezed != text else text
