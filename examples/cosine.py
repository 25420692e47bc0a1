"""Cosine norms and losses from seed 000 (spaCy/Thinc + Tangent) and seed 001.

Seed 000 (000_3668e43861e08f77.txt) differentiates ``L2_norm`` and
``cosine_loss`` with Tangent and checks spaCy's batched ``get_cossim_loss``;
seed 001 (001_ba251009dc54c007.txt) derives the gradient of the cosine
similarity with respect to both arguments.
"""

import numpy as np


# Seed 000, "Solution 2": the norm, broken into one primitive per line.
def L2_norm(X):
    XX = X * X
    XX_sum = np.sum(XX)
    XX_sqrt = np.sqrt(XX_sum)
    return XX_sqrt


# Seed 000: "Here's the cosine loss" (0 when the vectors point the same way).
def cosine_loss(X, Y):
    xnorm = np.sqrt(np.sum(X * X))
    ynorm = np.sqrt(np.sum(Y * Y))
    similarity = np.sum(X * Y) / (xnorm * ynorm)
    return 1 - similarity


# Seed 000: the loss part of spaCy's get_cossim_loss, one row per example.
def cossim_loss_batched(yh, y):
    yh = yh + 1e-8
    y = y + 1e-8
    norm_yh = np.linalg.norm(yh, axis=1, keepdims=True)
    norm_y = np.linalg.norm(y, axis=1, keepdims=True)
    mul_norms = norm_yh * norm_y
    cosine = (yh * y).sum(axis=1, keepdims=True) / mul_norms
    loss = np.abs(1 - cosine).sum()
    return loss


# Seed 001: S(x, y) = <x, y> / (|x| |y|); the seed uses x, y of shape (n, 1).
def cosine_similarity(x, y):
    x_norm = np.linalg.norm(x)
    y_norm = np.linalg.norm(y)
    s = np.sum(x * y) / (x_norm * y_norm)
    return s
