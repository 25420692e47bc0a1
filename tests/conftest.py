"""Test options: ``--run-slow`` (or GRADGEN_TEST_ALL=1; ``make test-all``)
also runs the tests marked ``slow`` (the exhaustive systematic sweep) and
``long`` (minutes each); ``--long`` is an alias."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", "--long", action="store_true", default=False,
                     help="also run the exhaustive sweeps and the tests that take minutes")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: an exhaustive sweep (make test-all)")
    config.addinivalue_line("markers", "long: takes minutes (make test-all)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or os.environ.get("GRADGEN_TEST_ALL") == "1":
        return
    skip = pytest.mark.skip(reason="exhaustive or long: run `make test-all`")
    for item in items:
        if "slow" in item.keywords or "long" in item.keywords:
            item.add_marker(skip)
