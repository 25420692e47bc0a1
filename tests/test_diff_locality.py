"""Diff locality: a one-line edit of the source changes only the output
lines that depend on it, and a rename only the lines that mention the name."""

from __future__ import annotations

import difflib
import re

import gradgen

# About 30 statements: a two-layer network with normalisation and a loss.
BASE = """import numpy as np


def model(X, W1, b1, W2, b2, y):
    h1 = X @ W1 + b1
    mu = np.mean(h1, axis=0, keepdims=True)
    centred = h1 - mu
    var = np.mean(centred * centred, axis=0, keepdims=True)
    normed = centred / np.sqrt(var + 1e-5)
    act = np.tanh(normed)
    gate = 1 / (1 + np.exp(-act))
    mixed = act * gate
    h2 = mixed @ W2 + b2
    shifted = h2 - np.max(h2, axis=1, keepdims=True)
    expd = np.exp(shifted)
    probs = expd / np.sum(expd, axis=1, keepdims=True)
    logp = np.log(probs + 1e-12)
    nll = -np.sum(y * logp, axis=1)
    data_loss = np.mean(nll)
    reg1 = np.sum(W1 * W1)
    reg2 = np.sum(W2 * W2)
    reg = 0.5 * (reg1 + reg2)
    scale = np.abs(np.mean(act))
    penalty = np.square(scale - 0.5)
    smooth = np.sum(np.sin(b1) * np.cos(b1))
    extra = np.sum(b2 * b2) * 0.1
    total = data_loss + 1e-3 * reg
    total = total + 1e-2 * penalty
    total = total + 1e-4 * smooth
    loss = total + extra
    return loss
"""
WRT = ("W1", "b1", "W2", "b2")


def _changed(old: str, new: str) -> tuple[list, list]:
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    removed = [line[1:] for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def _generate(text: str) -> str:
    return gradgen.source_from_text(text, "model", wrt=WRT, filename="model.py")


def test_editing_one_statement_changes_only_the_lines_that_depend_on_it():
    old = _generate(BASE)
    new = _generate(BASE.replace("np.sin(b1) * np.cos(b1)", "np.sin(b1) * np.sin(b1)"))
    removed, added = _changed(old, new)
    assert removed and added
    # Only code about `smooth` and the b1 gradient it feeds may change.
    for line in removed + added:
        assert re.search(r"sin|cos|smooth|b1", line), line
    assert len(removed) <= 8 and len(added) <= 8, (removed, added)


def test_inserting_a_statement_does_not_rename_anything_else():
    old = _generate(BASE)
    new = _generate(BASE.replace("    reg1 = np.sum(W1 * W1)\n",
                                 "    unused = np.sum(X)\n    reg1 = np.sum(W1 * W1)\n"))
    assert old == new  # a dead statement changes nothing, not even a counter


def test_renaming_a_local_changes_only_lines_mentioning_it():
    old = _generate(BASE)
    new = _generate(re.sub(r"\bgate\b", "sigmoid_gate", BASE))
    removed, added = _changed(old, new)
    assert removed and all("gate" in line for line in removed + added), (removed, added)
    assert len(removed) == len(added)
