"""Options of one gradient request, as a frozen value.

One ``Options`` describes what to generate for one function; it is part of
the decorator's cache key, so every field must be hashable and have a stable
``repr``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# reverse: grad_f, the gradient; forward: jvp_f, (output, tangent of the output);
# callback: vjp_f, (output, backprop) with backprop(d_output) -> gradient (Thinc);
# hvp: hvp_f, Hessian-vector products (forward mode over the gradient).
MODES = ("reverse", "forward", "callback", "hvp")


@dataclass(frozen=True)
class Options:
    """What to generate for one function.

    wrt: parameters to differentiate with respect to, by index or name.
    preserve_result: the gradient function returns ``(value, gradient)``.
    simplify: run the simplifier (``False`` keeps the raw adjoint, for debugging).
    mode: ``"reverse"`` (a gradient function), ``"forward"`` (a JVP),
        ``"callback"`` (forward pass returning ``(output, backprop)``) or
        ``"hvp"`` (Hessian-vector products); see ``MODES``.
    shapes: optional ``{param: "n d"}`` shape annotations; they add to
        annotations written in the function's signature.
    rules: paths of extra rule files (the contract of templates/README.md),
        read after the bundled ones: a rule there overrides a bundled one.
    """

    wrt: tuple[int | str, ...] = (0,)
    preserve_result: bool = False
    simplify: bool = True
    mode: str = "reverse"
    shapes: tuple[tuple[str, str], ...] = field(default=())
    rules: tuple[str, ...] = ()

    @staticmethod
    def make(
        wrt=(0,),
        preserve_result: bool = False,
        simplify: bool = True,
        mode: str = "reverse",
        shapes=None,
        rules=None,
    ) -> "Options":
        """Build Options from loose user values (an int, a name, a list, a dict)."""
        if isinstance(wrt, (int, str)):
            wrt = (wrt,)
        if mode not in MODES:
            from gradgen.errors import UsageError

            raise UsageError(f"unknown mode {mode!r}", hint=f"modes: {', '.join(MODES)}")
        shape_items = tuple(sorted((shapes or {}).items()))
        if isinstance(rules, str):
            rules = (rules,)
        rule_files = tuple(os.path.abspath(os.fspath(r)) for r in (rules or ()))
        return Options(tuple(wrt), bool(preserve_result), bool(simplify), mode, shape_items,
                       rule_files)
