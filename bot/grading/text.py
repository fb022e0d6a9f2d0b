"""Text normalisation for grading: unicode folding, tokens, stems, copied-span removal.

Pure functions; no I/O. Hidden characters and look-alike letters are folded first so that
an answer cannot hide text from the grader or dodge a signal with homoglyphs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

import snowballstemmer

# Zero-width and bidi control characters: people paste them by accident, attackers on purpose.
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x180E] + list(range(0x202A, 0x202F)) + list(range(0x2066, 0x206A))
)

# Cyrillic and Greek letters that look like Latin ones (the common confusables).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "ɡ": "g",
        "ո": "n",
        "α": "a",
        "β": "b",
        "ε": "e",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ѵ": "v",
        "ԝ": "w",
        "ɩ": "i",
    }
)

_TOKEN = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers him his how i if in into is it its itself just me more most my
    no nor not now of off on once only or other our ours out over own same she should so some such
    than that the their theirs them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours also
    may might must shall us via per let lets well get gets got make makes one two first then thing
    things way ways would want use used using like really even much many every""".split()
)

# For matching an answer against a reference, only words that carry no meaning on their own are
# skipped. STOPWORDS above is wider (it measures prose); it drops "no", "not", "first", "two",
# "in", "out", which decide answers like "last in, first out" or "at most two children".
# Words that fit any topic: filler is made of them, so they never make a sentence "on topic".
VAGUE_WORDS = frozenset(
    """something anything everything nothing someone anyone everyone somebody anybody thing things stuff
    lot lots quite rather really actually basically honestly generally kind sort""".split()
)
MATCH_STOPWORDS = (
    frozenset(
        """a an the is are was were be been being of to and or it its that this these those as at by for
        with on from which who whom what when where why how do does did can could would should will shall
        may might must i you we they he she them their there here so such than then also very just""".split()
    )
    | VAGUE_WORDS
) - {"nothing"}  # "nothing" negates: "nothing is rebuilt"

_stemmer = snowballstemmer.stemmer("english")


def plain(text: str) -> str:
    """NFKC, invisible (zero-width, bidi) characters dropped, lowercase; letters keep their script."""
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).lower()


def fold(text: str) -> str:
    """`plain`, then look-alike letters mapped to Latin and accents stripped."""
    if text.isascii():  # nothing to fold but case; most answers, and the grader's hot path
        return text.lower()
    text = plain(text).translate(_HOMOGLYPHS)
    # Strip combining marks so "rollbáck" and "rollback" meet.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


@lru_cache(maxsize=262144)
def stem(word: str) -> str:
    return _stemmer.stemWord(word)


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry meaning (stopwords dropped)."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def stopword_ratio(tokens: Sequence[str]) -> float:
    if not tokens:
        return 0.0
    return sum(1 for t in tokens if t in STOPWORDS) / len(tokens)


def copied_span_mask(tokens: Sequence[str], source: Iterable[str], n: int = 5) -> list[bool]:
    """keep[i] is False when token i is part of a run of >= n tokens found verbatim in `source`."""
    source_list = list(source)
    keep = [True] * len(tokens)
    if len(tokens) < n or len(source_list) < n:
        return keep
    grams = {tuple(source_list[i : i + n]) for i in range(len(source_list) - n + 1)}
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n]) in grams:
            for j in range(i, i + n):
                keep[j] = False
    return keep


@lru_cache(maxsize=65536)
def _trigrams(word: str) -> frozenset[str]:
    padded = f" {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@lru_cache(maxsize=262144)
def word_similarity(reference_word: str, answer_word: str) -> float:
    """How well `answer_word` stands for `reference_word`, 0..1.

    Same stem = 1; the reference word glued into a longer token ("lognwhere" for "log", which
    happens when punctuation is lost) = 0.9; otherwise the Dice overlap of character trigrams, so
    typos and inflections still count ("refrenece" ~ "reference"), with weak overlaps cut to 0.
    """
    if reference_word == answer_word or stem(reference_word) == stem(answer_word):
        return 1.0
    if (
        len(reference_word) >= 3
        and len(answer_word) > len(reference_word) + 1
        and (answer_word.startswith(reference_word) or answer_word.endswith(reference_word))
    ):
        return 0.9
    a, b = _trigrams(reference_word), _trigrams(answer_word)
    dice = 2 * len(a & b) / (len(a) + len(b))
    return dice if dice >= 0.5 else 0.0


def char_grams(tokens: Iterable[str], n: int = 4) -> set[str]:
    """Character n-grams of each word with its boundaries (" log", "log "): robust to morphology,
    typos and words run together, which exact word matching misses."""
    grams: set[str] = set()
    for token in tokens:
        padded = f" {token} "
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams
