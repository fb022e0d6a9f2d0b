"""Which question a channel gets next: no repeat until the channel has seen the whole bank."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence


def choose_question(candidates: Sequence[str], history: Sequence[str], seed: str) -> str:
    """Pick among the least-seen candidates, never the one asked last; deterministic per seed.

    `history` is every question id this channel was asked, oldest first.
    """
    if not candidates:
        raise ValueError("no questions to choose from")
    counts = Counter(history)
    fewest = min(counts.get(c, 0) for c in candidates)
    fresh = sorted(c for c in candidates if counts.get(c, 0) == fewest)
    if len(fresh) > 1 and history and history[-1] in fresh:
        fresh.remove(history[-1])
    return random.Random(seed).choice(fresh)
