"""The worked examples in deploy's docstrings hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "deploy.fargate",
    "deploy.stack",
    "deploy.resources.service",
    "deploy.resources.base",
    "deploy.image",
    "deploy.iam",
    "deploy.cron",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
