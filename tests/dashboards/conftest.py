"""Fixtures of the dashboard tests: the live stack, shared by the package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_stack import Live, running_stack


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Endpoint, worker and Prometheus after the executions ran and were scraped."""
    with running_stack(tmp_path_factory.mktemp("dashboards-live")) as stack:
        yield stack
