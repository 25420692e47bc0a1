"""Hypothesis strategies: ``programs()`` draws a :class:`~tests.fuzz.case.Case`.

Every choice of the generator is a hypothesis draw (see
:class:`tests.fuzz.draw.HypothesisDraw`), so hypothesis shrinks failing
programs by shrinking the choices (fewer statements, earlier table entries,
smaller shapes).  Example::

    from hypothesis import given, settings
    from tests.fuzz.strategies import programs
    from tests.fuzz.oracles import evaluate

    @settings(max_examples=50, deadline=None, database=None)
    @given(programs())
    def test_gradgen(case):
        assert evaluate(case).status not in ("wrong", "crash")
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.case import make_case
from tests.fuzz.draw import HypothesisDraw


def programs(features=None, disabled=()):
    """A strategy of fuzz cases over the given feature flags (default: all)."""

    @st.composite
    def _cases(draw):
        return make_case(HypothesisDraw(draw), features, disabled, origin="hypothesis")

    return _cases()
