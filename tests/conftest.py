"""Test options: `--run-slow` (or GRADGEN_TEST_ALL=1, set by `make test-all`)
runs the tests marked slow: the exhaustive systematic sweep."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run the exhaustive sweeps too")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: an exhaustive sweep (make test-all)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("GRADGEN_TEST_ALL") == "1":
        return
    skip = pytest.mark.skip(reason="exhaustive sweep: run `make test-all`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
