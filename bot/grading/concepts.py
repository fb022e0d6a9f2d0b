"""Concept matching for rubric signals: wording, spelling and polarity resolved before a point counts.

A signal is a short phrase naming a concept. It matches an answer that says the concept in
another form:
- the same words in any inflection (stems), in any order, with a couple of words between them
  ("freeze features" for "feature freeze");
- words misspelt by an edit or two ("succes rate" for "success rate");
- another entry of a thesaurus group ("no-blame" for "blameless", "CFR" for "change failure rate");
- numbers in common forms ("46%", "46 percent", "~46 %"; "100,000", "100k"), informal shorthand
  ("w/", "b/c", "+", "dont").

Polarity: a match inside a negated or rejected stretch ("I would not roll back", "instead of
skipping the gates", "the mistake is to overwrite", "... is an anti-pattern") does not assert the
concept. Negations cancel in pairs ("we never skip the canary" asserts the canary).

Why a lexicon and edit distance rather than a learned model: the grader must run offline at
hundreds of answers a second in ~150 MiB, explain every point it gives by quoting the answer,
and be corrected by a team editing a YAML file. The thesaurus makes the knowledge reviewable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from bot.grading.text import MATCH_STOPWORDS, fold, stem

# One token: a number (thousands separators allowed), a word, or a symbol that stands for a word.
_TOKEN = re.compile(r"w/o|w/|b/c|\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?k\b|\d+(?:\.\d+)?|[a-z0-9]+|[%~&+]")
# Where a clause ends; polarity never crosses one.
_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\n]|\s[-–—]\s|—|–")
_SENTENCE_END = re.compile(r"[.!?;\n]")
_SYMBOL_WORDS = {
    "w/o": "without",
    "w/": "with",
    "b/c": "because",
    "%": "percent",
    "~": "approximately",
    "&": "and",
    "+": "and",
}
_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000"}
# Contractions written without the apostrophe, and the "n" half of one written with it ("don't" -> don, t).
_GLUED_NEGATIONS = frozenset(
    "dont doesnt didnt wont cant cannot shouldnt wouldnt couldnt isnt arent wasnt werent havent hasnt hadnt aint neednt mustnt".split()
)
_NEGATION_STUBS = frozenset(
    "don doesn didn won can shouldn wouldn couldn isn aren wasn weren haven hasn hadn ain needn mustn".split()
)

# Words that turn what follows in their clause against itself.
_NEGATORS = frozenset({"not", "no", "never", "without", "nor", "neither", "none", "nobody", "nothing"})
# Verbs of rejection: "avoid X", "skip X", "stop doing X". Two of them cancel ("never skip the canary").
_REJECTING = frozenset(
    stem(w)
    for w in """avoid avoiding skip skipping bypass bypassing ignore ignoring disable disabling forbid ban banned
    prevent preventing stop stopping abandon dropping eliminate eliminating resist refuse reject rejecting
    tempting tempted""".split()
)
# Phrases before a stretch that say it is the wrong thing to do.
_REJECTING_PHRASES = (
    ("instead", "of"),
    ("rather", "than"),
    ("as", "opposed", "to"),
    ("opposed", "to"),
    ("mistake", "is"),
    ("mistake", "would", "be"),
    ("mistake", "to"),
    ("tempting", "to"),
    ("trap", "is"),
    ("wrong", "to"),
    ("myth", "that"),
    ("bad", "idea", "to"),
    ("anti", "pattern", "is"),
    ("antipattern", "is"),
)
# "not only", "no matter", "not just": not a negation.
_NOT_NEGATING_NEXT = frozenset({"only", "just", "matter", "doubt", "problem", "wonder"})
# Judgements after a stretch that reject it: "comparing to yesterday is not enough", "... is an anti-pattern".
_REJECTING_AFTER = (
    ("mistake",),
    ("wrong",),
    ("anti", "pattern"),
    ("antipattern",),
    ("bad", "idea"),
    ("bad", "practice"),
    ("trap",),
    ("myth",),
    ("dangerous",),
    ("not", "enough"),
    ("not", "sufficient"),
    ("insufficient",),
    ("not", "work"),
    ("never", "works"),
    ("fallacy",),
)
_BE = frozenset({"is", "are", "was", "were", "be", "been", "gets", "get", "got"})
# A clause that starts with one of these may judge the one before it.
_BACK_REFERENCES = frozenset({"that", "this", "which", "it", "both"})
# Words that end the reach of a negation inside a clause.
_CONTRAST = frozenset({"but", "however", "instead", "whereas", "although", "though", "yet", "so", "because", "then", "which"})
NEGATION_REACH = 6
# Extra words allowed inside a multi-word match ("freeze all features" for "feature freeze").
MATCH_SLACK = 2


def _breaks(gap: str) -> bool:
    """Whether the text between two tokens ends a clause. Punctuation with no space around it is
    part of a name, not a break: "4.0.0", "main..release", "ci/cd"."""
    return bool(_CLAUSE_END.search(gap)) and any(c.isspace() or c in "()[]" for c in gap)


@dataclass(frozen=True, slots=True)
class Token:
    word: str  # normalised surface form: "percent" for "%", "not" for "n't"
    stem: str
    start: int  # character span in the folded answer text
    end: int
    sentence: int
    clause: int


@lru_cache(maxsize=65536)
def _normal_word(raw: str) -> str:
    if raw in _SYMBOL_WORDS:
        return _SYMBOL_WORDS[raw]
    if raw in _GLUED_NEGATIONS:
        return "not"
    if raw in _NUMBER_WORDS:
        return _NUMBER_WORDS[raw]
    if raw[0].isdigit():
        number = raw.replace(",", "")
        if number.endswith("k"):
            value = float(number[:-1]) * 1000
            return str(int(value)) if value.is_integer() else str(value)
        return number
    return raw


def tokenize(text: str) -> tuple[str, list[Token]]:
    """The folded text and its tokens, each with its sentence and clause number."""
    folded = fold(text)
    tokens: list[Token] = []
    sentence = clause = 0
    last_end = 0
    for match in _TOKEN.finditer(folded):
        gap = folded[last_end : match.start()]
        if tokens and _breaks(gap):
            clause += 1
            if _SENTENCE_END.search(gap):
                sentence += 1
        raw = match.group()
        word = _normal_word(raw)
        if raw == "t" and tokens and tokens[-1].word in _NEGATION_STUBS and match.start() - tokens[-1].end <= 1:
            word = "not"
        elif word in _CONTRAST and tokens:
            clause += 1
        tokens.append(Token(word, stem(word), match.start(), match.end(), sentence, clause))
        last_end = match.end()
    return folded, tokens


@dataclass(frozen=True, slots=True)
class Term:
    """One word of a signal: its stem and its spelling, for typo-tolerant comparison."""

    stem: str
    word: str


Phrase = tuple[Term, ...]


@lru_cache(maxsize=32768)
def compile_phrase(phrase: str) -> Phrase:
    """The words of a phrase that carry its meaning (all of them if every word is a stopword)."""
    tokens = tokenize(phrase)[1]
    kept = [t for t in tokens if t.word not in MATCH_STOPWORDS or t.word in _NEGATORS]
    return tuple(Term(t.stem, t.word) for t in (kept or tokens))


class ThesaurusIndex:
    """Thesaurus groups as compiled phrases: what each phrase may be replaced with."""

    def __init__(self, groups: Iterable[Sequence[str]] = ()):
        # Entries by their first stem, so a phrase only looks at the groups its words could start.
        self._by_first: dict[str, list[tuple[tuple[str, ...], Phrase, tuple[Phrase, ...]]]] = {}
        for group in groups:
            compiled = tuple(dict.fromkeys(p for p in (compile_phrase(entry) for entry in group) if p))
            if len(compiled) < 2:
                continue
            for entry in compiled:
                stems = tuple(t.stem for t in entry)
                self._by_first.setdefault(stems[0], []).append((stems, entry, compiled))
        self._alternatives = lru_cache(maxsize=65536)(self._build_alternatives)

    def alternatives(self, phrase: Phrase) -> tuple[Phrase, ...]:
        """The phrase itself, then the phrase with any group entry it contains swapped for another."""
        return self._alternatives(phrase)

    def _build_alternatives(self, phrase: Phrase) -> tuple[Phrase, ...]:
        stems = tuple(t.stem for t in phrase)
        found: list[Phrase] = [phrase]
        for i, first in enumerate(stems):
            for entry_stems, entry, group in self._by_first.get(first, ()):
                n = len(entry_stems)
                if stems[i : i + n] != entry_stems:
                    continue
                found += [phrase[:i] + other + phrase[i + n :] for other in group if other != entry]
        # Glued and split spellings: "roll back" / "rollback", "hot fix" / "hotfix".
        for alt in list(found):
            for i in range(len(alt) - 1):
                joined = alt[i].word + alt[i + 1].word
                found.append(alt[:i] + (Term(stem(joined), joined),) + alt[i + 2 :])
        return tuple(dict.fromkeys(found))[:48]


@dataclass(frozen=True, slots=True)
class Match:
    start: int  # token positions, end exclusive
    end: int
    negated: bool
    complete: bool  # every word of the phrase was found (else all but one of a long phrase)


def _fuzzy_limit(word: str) -> int:
    # Short words are too close to other words ("abort" / "about") to allow a slip.
    if len(word) >= 10:
        return 2
    if len(word) >= 6:
        return 1
    return 0


class AnswerText:
    """An answer prepared for concept matching: tokens, where each stem occurs, negated stretches."""

    def __init__(self, text: str, *, drop: Sequence[bool] | None = None, known: frozenset[str] = frozenset()):
        """`known`: stems of real words (the bank's vocabulary); those are never taken for a typo of
        another word ("server" is not a misspelt "semver")."""
        self.folded, tokens = tokenize(text)
        if drop is not None:
            tokens = [t for t, d in zip(tokens, drop, strict=True) if not d]
        self.tokens = tokens
        self._known = known
        # Distance inside a match is counted in words that carry meaning: "report them to their
        # manager" is two words apart, like "report manager".
        self._content_at: list[int] = []
        count = 0
        for t in tokens:
            self._content_at.append(count)
            if t.word not in MATCH_STOPWORDS or t.word in _NEGATORS:
                count += 1
        self._positions: dict[str, list[int]] = {}
        for i, t in enumerate(tokens):
            self._positions.setdefault(t.stem, []).append(i)
            self._positions.setdefault(t.word, []).append(i)
        # Glued spelling of two neighbours, so "hot fix" meets a signal "hotfix".
        self._joined: dict[str, list[int]] = {}
        for i in range(len(tokens) - 1):
            if tokens[i].sentence == tokens[i + 1].sentence:
                self._joined.setdefault(tokens[i].word + tokens[i + 1].word, []).append(i)
        self._by_length: dict[int, list[str]] = {}
        for t in tokens:
            if len(t.word) >= 4 and t.word not in self._by_length.get(len(t.word), ()):
                self._by_length.setdefault(len(t.word), []).append(t.word)
        self._found: dict[Term, tuple[int, ...]] = {}
        self._negated = self._negation_marks()

    def __len__(self) -> int:
        return len(self.tokens)

    def occurrences(self, term: Term) -> tuple[int, ...]:
        """Positions of tokens that say `term`: same stem or word, or a misspelling of it."""
        if term not in self._found:
            hits = set(self._positions.get(term.stem, ())) | set(self._positions.get(term.word, ()))
            limit = _fuzzy_limit(term.word)
            # Words with digits are names or numbers ("maxunavailable0", "v2"): only exact matches.
            if limit and not any(ch.isdigit() for ch in term.word):
                n = len(term.word)
                for size in range(n - limit, n + limit + 1):
                    for candidate in self._by_length.get(size, ()):
                        if (
                            candidate[0] == term.word[0]
                            and stem(candidate) not in self._known
                            and Levenshtein.distance(term.word, candidate, score_cutoff=limit) <= limit
                        ):
                            hits.update(self._positions[candidate])
            self._found[term] = tuple(sorted(hits))
        return self._found[term]

    def find(self, phrase: Phrase, *, allow_partial: bool = False) -> list[Match]:
        """Every place the phrase is said (words in any order within a short stretch of one sentence)."""
        if not phrase or not self.tokens:
            return []
        if len(phrase) == 1:
            term = phrase[0]
            glued = set(self._joined.get(term.word, ())) | set(self._joined.get(term.stem, ()))
            spots = [(i, i + 1) for i in self.occurrences(term)] + [(i, i + 2) for i in glued]
            return [Match(s, e, self.negated(s, e), True) for s, e in sorted(set(spots))]
        places = [self.occurrences(term) for term in phrase]
        need = len(phrase) if not allow_partial or len(phrase) < 3 else len(phrase) - 1
        reach = len(phrase) + MATCH_SLACK
        matches: list[Match] = []
        anchor_index = min(range(len(phrase)), key=lambda k: len(places[k]) or 10**9)
        at = self._content_at
        for anchor in places[anchor_index]:
            sentence = self.tokens[anchor].sentence
            used = {anchor}
            for k, spots in enumerate(places):
                if k == anchor_index:
                    continue
                near = [
                    p for p in spots if p not in used and abs(at[p] - at[anchor]) < reach and self.tokens[p].sentence == sentence
                ]
                if near:
                    used.add(min(near, key=lambda p: abs(p - anchor)))
            if len(used) >= need and at[max(used)] - at[min(used)] < reach:
                start, end = min(used), max(used) + 1
                # A negation between the phrase's own words turns it: "admins are not exempt".
                inside = sum(1 for p in range(start, end) if p not in used and self.tokens[p].word in _NEGATORS)
                negated = self.negated(start, end) != (inside % 2 == 1)
                matches.append(Match(start, end, negated, len(used) == len(phrase)))
        return matches

    def quote(self, match: Match) -> str:
        return self.folded[self.tokens[match.start].start : self.tokens[match.end - 1].end]

    def negated(self, start: int, end: int) -> bool:
        """Whether the stretch [start, end) is said against: negated, rejected or judged wrong."""
        if self._negated[start] % 2 == 1:
            return True
        # A judgement after the stretch rejects it whatever came before ("tempting to X, but that's wrong").
        after = self._judged_with(end)
        # So does a negated predicate right after it: "the release gates are not kept".
        if after and (after[0] in _NEGATORS or (after[0] in _BE and len(after) > 1 and after[1] in _NEGATORS)):
            return True
        return any(_starts_with(after, i, phrase) for phrase in _REJECTING_AFTER for i in range(len(after)))

    def _judged_with(self, end: int) -> list[str]:
        """Words after a stretch that can judge it: the rest of its clause, or a next clause about it
        ("..., but that's exactly wrong", "... - which is a mistake")."""
        if end >= len(self.tokens):
            return []
        clause, sentence = self.tokens[end - 1].clause, self.tokens[end - 1].sentence
        following = [t for t in self.tokens[end : end + NEGATION_REACH + 3] if t.sentence == sentence]
        same = [t.word for t in following if t.clause == clause]
        rest = [t.word for t in following if t.clause != clause]
        while rest and rest[0] in ("but", "and"):
            rest = rest[1:]
        if rest and rest[0] in _BACK_REFERENCES:
            return same + rest
        return same

    def _negation_marks(self) -> list[int]:
        """For each token, how many negations reach it from earlier in its clause."""
        words = [t.word for t in self.tokens]
        marks = [0] * len(self.tokens)
        for i, t in enumerate(self.tokens):
            cue_length = _cue_at(words, i, t)
            if not cue_length:
                continue
            for j in range(i + cue_length, min(len(self.tokens), i + cue_length + NEGATION_REACH)):
                if self.tokens[j].clause != t.clause:
                    break
                marks[j] += 1
        return marks


def _starts_with(words: Sequence[str], i: int, phrase: Sequence[str]) -> bool:
    return tuple(words[i : i + len(phrase)]) == tuple(phrase)


def _cue_at(words: Sequence[str], i: int, token: Token) -> int:
    """Length of the negation cue starting at token i, 0 if none."""
    word = token.word
    if word in _NEGATORS:
        following = words[i + 1] if i + 1 < len(words) else ""
        return 0 if following in _NOT_NEGATING_NEXT else 1
    if token.stem in _REJECTING:
        return 1
    for phrase in _REJECTING_PHRASES:
        if _starts_with(words, i, phrase):
            return len(phrase)
    return 0
