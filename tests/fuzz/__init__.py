"""A property-based fuzzer for gradgen (issue 10: never a silent wrong gradient).

It generates random programs in gradgen's subset of Python and NumPy, runs
each through every mode gradgen generates (reverse, raw and simplified,
``preserve_result``, forward, callback, Hessian-vector products, float32) and
checks each against an oracle: finite differences that check themselves
(two step sizes; a disagreement makes a case *undecided*, never *wrong*), the
other modes, shapes and dtypes.  gradgen is used only through its public API.

Modules:

``grammar``     the program generator: a table of constructs (below)
``draw``        where random choices come from (seeded ``random`` or hypothesis)
``case``        a case (program, inputs, ``wrt``) and its file format
``oracles``     ``evaluate(case) -> Result``: the checks and the classification
``shrink``      delta debugging of a failing case, and finding signatures
``runner``      ``python -m tests.fuzz run``: parallel workers, timeouts, shrinking,
                the summary and ``fuzz-findings/``
``strategies``  ``programs()``, a hypothesis strategy of cases

Run it::

    make fuzz                       # 10,000 programs, all CPUs, findings in fuzz-findings/
    make fuzz FUZZ_N=500 FUZZ_SEED=3 FUZZ_JOBS=2
    .venv/bin/python -m tests.fuzz show 17 --seed 3          # one program and its result
    .venv/bin/python -m tests.fuzz replay fuzz-findings/wrong_*.py
    .venv/bin/python -m tests.fuzz constructs                # the construct table

A finding becomes a regression test by moving its file into
``tests/fuzz/regressions/`` (``tests/test_fuzz.py`` replays each file there
through all oracles and expects it to pass).

Adding a construct
------------------

Each construct is one function in :mod:`tests.fuzz.grammar`, registered with
``@construct(name, kind, feature, weight)``.  An expression construct gets
the generator ``g``, the ``shape`` to produce, the remaining ``depth`` and an
optional lower bound ``lo`` it may honour, and returns an
:class:`~tests.fuzz.grammar.Expr` (text, shape, bounds ``lo``/``hi``, whether
it is an atom, which names it may alias) or ``None`` when it does not apply::

    @construct("np.cbrt", "expr", "elementwise", 0.3)
    def cbrt(g, shape, depth, lo):
        a = g.expr(shape, depth, hi=8.0)          # an operand, |a| <~ 8
        return Expr(f"np.cbrt({a.text})", shape, None, 2.0, atom=True)

A statement construct ``fn(g, depth) -> list[str] | None`` returns source
lines; it reads and updates ``g.scope`` (names to :class:`Var`: kind, shape,
bounds, ownership), uses ``g.fresh()`` for new names, ``g.bind(name, e)`` to
assign, ``g.need(name)`` for the bounds a loop invariant imposes,
``g.block(...)``, ``g.branch_scopes(...)`` and ``g.loop(...)`` for compound
statements (they keep scopes, invariants and aliasing right).  A new kind of
loop, a dict, a comprehension, an early return or a keyword call is one such
entry; its ``feature`` flag lets a run enable or disable it
(``--features``/``--disable``, or ``Generator(draw, enabled, disabled)``).
Keep values in a safe domain: ask operands for the bounds you need (``lo`` for
``log``/``sqrt``/denominators, ``hi`` for ``exp``) and return honest bounds;
``g.coerce`` wraps an operand that does not fit.  The generator's own test
(``tests/test_fuzz.py``) checks that programs stay valid and that every
construct is used.
"""
