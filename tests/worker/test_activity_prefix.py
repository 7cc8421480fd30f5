"""FLEET_ACTIVITY_PREFIX: two stacks' workers share an account and serve their own activities."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.worker import create_machine, running_worker, start, wait_done, worker_settings

from fleet import Fleet, Task
from fleet._errors import ConfigurationError
from fleet._worker import serve
from fleet.emulator import Emulator


def app_for(stack: str) -> Fleet:
    app = Fleet()

    @app.activity("Hello")  # the same name in both stacks' code
    async def hello(task: Task) -> dict[str, str]:
        return {"served_by": stack}

    return app


@pytest.mark.slow
async def test_prefixed_workers_serve_only_their_own_activity(endpoint: Emulator, sfn: Any) -> None:
    _, staging_machine = await create_machine(sfn, "staging-Hello")
    _, prod_machine = await create_machine(sfn, "prod-Hello")
    url = endpoint.endpoint_url
    async with (
        running_worker(app_for("staging"), url, activity_prefix="staging-") as staging,
        running_worker(app_for("prod"), url, activity_prefix="prod-") as prod,
    ):
        assert staging.sup is not None
        assert prod.sup is not None
        assert staging.sup.runtimes[0].arn.endswith(":activity:staging-Hello")
        assert prod.sup.runtimes[0].arn.endswith(":activity:prod-Hello")
        staging_runs = await start(sfn, staging_machine, [{}] * 5)
        prod_runs = await start(sfn, prod_machine, [{}] * 5)
        done = await wait_done(sfn, staging_runs + prod_runs)
    served = [json.loads(done[arn]["output"])["served_by"] for arn in staging_runs + prod_runs]
    assert served == ["staging"] * 5 + ["prod"] * 5


async def test_a_prefixed_activity_that_does_not_exist_is_named_in_full(endpoint: Emulator) -> None:
    import pytest

    with pytest.raises(ConfigurationError, match="activity 'qa-Hello' does not exist"):
        await serve(app_for("qa"), worker_settings(endpoint.endpoint_url, activity_prefix="qa-"))
