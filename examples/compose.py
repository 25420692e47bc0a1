"""Composing callback-style layers, as seed 000 does with Thinc's ``chain``.

Seed 000 (000_3668e43861e08f77.txt) moves the backward pass into a callback,
``forward(X) -> (Y, backprop)``, because then layers compose: ``chain(f, g)``
runs ``f`` then ``g`` forward and their callbacks in reverse.  Here the two
layers are differentiated by gradgen in callback style (``mode = "callback"``:
``generated/compose_vjp.py`` holds ``vjp_unit_rows`` and
``vjp_logsumexp_rows``), composed with the seed's ``chain``, and the result
is compared with the generated gradient of the composed function written out
(``generated/compose_grad.py``).  Run it: ``python -m examples.compose``.
"""

import numpy as np


# Layer 1: each row of X scaled to unit length.
def unit_rows(X):
    norms = np.sqrt(np.sum(X * X, axis=1, keepdims=True))
    return X / norms


# Layer 2: a log-sum-exp per row (a smooth max), summed over the rows.
def logsumexp_rows(H):
    m = np.max(H, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(H - m), axis=1, keepdims=True))
    return np.sum(lse)


# The two layers written as one function: what chain(...) must differentiate.
def unit_rows_logsumexp(X):
    norms = np.sqrt(np.sum(X * X, axis=1, keepdims=True))
    H = X / norms
    m = np.max(H, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(H - m), axis=1, keepdims=True))
    return np.sum(lse)


def chain(func1, func2):
    """Compose two callback-style layers: ``func2(func1(X))`` (seed 000's
    ``chain``, for layers of one input and one output)."""

    def forward(X):
        result1, backprop1 = func1(X)
        outputs, backprop2 = func2(result1)

        def backprop(d_outputs=1.0):
            return backprop1(backprop2(d_outputs))

        return outputs, backprop

    return forward


def _generated(name: str):
    """A checked-in module of generated/, loaded from its file."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "generated" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"generated_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(seed: int = 0) -> float:
    """Compose the generated layers and compare with the composed gradient;
    returns the largest absolute difference."""
    layers, whole = _generated("compose_vjp"), _generated("compose_grad")
    model = chain(layers.vjp_unit_rows, layers.vjp_logsumexp_rows)
    X = np.random.default_rng(seed).standard_normal((4, 3))
    loss, backprop = model(X)
    d_X = backprop(1.0)
    expected = whole.grad_unit_rows_logsumexp(X)
    assert np.isclose(loss, unit_rows_logsumexp(X))
    error = float(np.max(np.abs(d_X - expected)))
    print(f"loss {loss:.6f}; chained gradient vs gradient of the composition: "
          f"max abs difference {error:.2e}")
    return error


if __name__ == "__main__":
    main()
