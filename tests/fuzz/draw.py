"""Where the generator's random choices come from.

The program generator (:mod:`tests.fuzz.grammar`) never calls a random number
generator itself: it asks a :class:`Draw` for integers, choices and coin
flips.  Two implementations:

* :class:`RandomDraw`: a seeded :class:`random.Random`; program ``index`` of
  run ``seed`` is ``RandomDraw.for_program(seed, index)``, the same on every
  machine and in every worker process (what ``make fuzz`` uses);
* :class:`HypothesisDraw`: every choice is a hypothesis draw, so
  :func:`tests.fuzz.strategies.programs` is an ordinary hypothesis strategy
  and hypothesis can shrink programs (choices shrink towards the first
  alternative, towards ``False`` and towards the lower bound, which the
  construct tables order from simplest to richest).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Draw:
    """The choices a generator can make; subclasses supply :meth:`integer`."""

    def integer(self, lo: int, hi: int) -> int:  # inclusive bounds
        raise NotImplementedError

    def boolean(self, p: float = 0.5) -> bool:
        """True with probability ``p`` (False is the 'simpler' answer)."""
        return self.integer(0, 999) >= round((1.0 - p) * 1000)

    def choice(self, items: Sequence[T]) -> T:
        if not items:
            raise ValueError("choice from an empty sequence")
        return items[self.integer(0, len(items) - 1)]

    def weighted(self, items: Sequence[T], weights: Sequence[float]) -> T:
        """One of ``items``, with probability proportional to ``weights``."""
        total = sum(weights)
        if not items or total <= 0:
            raise ValueError("weighted choice from nothing")
        ticks = [max(0, round(1000 * w / total)) for w in weights]
        point = self.integer(0, max(sum(ticks) - 1, 0))
        for item, tick in zip(items, ticks):
            if point < tick:
                return item
            point -= tick
        return items[-1]

    def seed(self) -> int:
        """A 31-bit seed, for NumPy generators of input values."""
        return self.integer(0, 2**31 - 1)


class RandomDraw(Draw):
    def __init__(self, rng: random.Random):
        self.rng = rng

    @classmethod
    def for_program(cls, seed: int, index: int) -> RandomDraw:
        # str seeds hash with SHA-512: stable across processes and Pythons
        return cls(random.Random(f"gradgen-fuzz:{seed}:{index}"))

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class HypothesisDraw(Draw):
    def __init__(self, draw):
        from hypothesis import strategies as st

        self._draw = draw
        self._st = st

    def integer(self, lo: int, hi: int) -> int:
        return self._draw(self._st.integers(lo, hi))
