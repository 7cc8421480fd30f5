"""The local console, driven in a real headless Chromium: lists, an execution's timeline and
its state machine graph with the states it passed."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from support.browser import chromium

from fleet import Fleet, Task
from fleet.emulator import Emulator, EmulatorOptions
from fleet.testing import LocalWorker

app = Fleet()


@app.activity("Greet")
async def greet(task: Task) -> dict[str, str]:
    if task.input.get("fail"):
        raise ValueError("no greeting for you")
    return {"greeting": f"Hello, {task.input['who']}"}


def machine_definition(greet_arn: str) -> dict[str, Any]:
    return {
        "StartAt": "Check",
        "States": {
            "Check": {"Type": "Choice", "Default": "Greet",
                      "Choices": [{"Variable": "$.skip", "IsPresent": True, "Next": "Done"}]},
            "Greet": {"Type": "Task", "Resource": greet_arn, "Next": "Done",
                      "Catch": [{"ErrorEquals": ["Nope"], "Next": "Recover"}]},
            "Recover": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }  # fmt: skip


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def scene(fleet_aws_env: None) -> Iterator[tuple[Any, dict[str, str]]]:
    """An endpoint with the console on, a worker, and executions that succeeded, failed and
    are still running."""
    with Emulator.in_thread(EmulatorOptions(long_poll_seconds=0.5), console=True) as emu:
        worker = LocalWorker(app, emu.endpoint_url).start()
        try:
            machine = worker.create_state_machine(
                machine_definition(worker.activity_arn("Greet")), name="hello"
            )
            worker.client.create_activity(name="Nobody")
            stuck = worker.create_state_machine(
                {"StartAt": "Waiting", "States": {"Waiting": {
                    "Type": "Task", "Resource": worker.activity_arn("Nobody"), "End": True}}},
                name="stuck",
            )  # fmt: skip
            arns = {
                "ok": worker.execute(machine, {"who": "Ada"}).arn,
                "bad": worker.execute(machine, {"fail": True}).arn,
                "running": worker.start_execution(stuck, {}),
            }
            yield emu, arns
        finally:
            worker.stop()


def page(driver: Any, emu: Any, path: str) -> None:
    driver.get(emu.endpoint_url + path)


def texts(driver: Any, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, css)]


def attrs(driver: Any, css: str, name: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.get_attribute(name) for element in driver.find_elements(By.CSS_SELECTOR, css)]


def test_the_console_lists_state_machines_and_executions_with_their_status(
    browser: Any, scene: tuple[Any, dict[str, str]]
) -> None:
    from selenium.webdriver.common.by import By

    emu, arns = scene
    page(browser, emu, "/console")
    assert "State machines" in browser.title
    assert texts(browser, "table.machines td:first-child") == ["hello", "stuck"]
    statuses = sorted(attrs(browser, "table.executions tr[data-status]", "data-status"))
    assert statuses == ["FAILED", "RUNNING", "SUCCEEDED"]
    # Nothing on the page is fetched from anywhere: no script, no stylesheet, no font.
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    # Follow the failed execution's link, as a user would.
    name = arns["bad"].rsplit(":", 1)[1]
    browser.find_element(By.LINK_TEXT, name).click()
    assert browser.title.startswith(name)
    assert texts(browser, "table.summary .status") == ["FAILED"]
    assert "ValueError: no greeting for you" in texts(browser, "pre.cause")[0]


def test_an_execution_shows_its_timeline_and_the_states_it_passed(
    browser: Any, scene: tuple[Any, dict[str, str]]
) -> None:
    emu, arns = scene
    page(browser, emu, f"/console/execution?arn={quote(arns['bad'], safe='')}")
    assert attrs(browser, "svg.graph g.state", "data-state") == [
        "Check", "Greet", "Recover", "Done"]  # fmt: skip
    assert attrs(browser, "svg.graph g.state.visited", "data-state") == ["Check", "Greet"]
    assert attrs(browser, "svg.graph g.state.failed", "data-state") == ["Greet"]
    taken = list(zip(attrs(browser, "line.edge.taken", "data-from"),
                     attrs(browser, "line.edge.taken", "data-to"), strict=True))  # fmt: skip
    assert taken == [("Check", "Greet")]
    events = attrs(browser, "table.history tr.event", "data-type")
    assert events == ["ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited",
                      "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                      "ActivityFailed", "ExecutionFailed"]  # fmt: skip
    failed_row = texts(browser, "table.history tr.event[data-type=ActivityFailed]")[0]
    assert "ValueError" in failed_row
    assert "ran " in failed_row
    assert "no greeting for you" in failed_row
    assert len(texts(browser, "svg.gantt rect.bar")) == 2  # Check, then Greet

    page(browser, emu, f"/console/execution?arn={quote(arns['ok'], safe='')}")
    assert attrs(browser, "svg.graph g.state.visited", "data-state") == ["Check", "Greet", "Done"]
    assert attrs(browser, "svg.graph g.state.failed", "data-state") == []
    assert '{"greeting":"Hello, Ada"}' in texts(browser, "pre.output")[0]


def test_a_running_execution_shows_where_it_is_and_refreshes(
    browser: Any, scene: tuple[Any, dict[str, str]]
) -> None:
    emu, arns = scene
    page(browser, emu, f"/console/execution?arn={quote(arns['running'], safe='')}")
    assert texts(browser, "table.summary .status") == ["RUNNING"]
    assert attrs(browser, "svg.graph g.state.current", "data-state") == ["Waiting"]
    assert attrs(browser, "meta[http-equiv=refresh]", "content") == ["2"]
    page(browser, emu, "/console/state-machine?arn=" + quote(arns["running"].rsplit(":", 1)[0]
                                                               .replace(":execution:",
                                                                        ":stateMachine:"),
                                                               safe=""))  # fmt: skip
    assert browser.title.startswith("stuck")
    assert attrs(browser, "table.executions tr[data-status]", "data-status") == ["RUNNING"]


def test_an_unknown_page_or_execution_is_a_404(scene: tuple[Any, dict[str, str]]) -> None:
    emu, _ = scene
    for path in ("/console/nowhere", "/console/execution?arn=arn:aws:states:us-east-1:"
                 "123456789012:execution:hello:nope"):  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(emu.endpoint_url + path, timeout=10)
        answer.value.close()
        assert answer.value.code == 404
        assert answer.value.headers["Content-Type"].startswith("text/html")


def test_the_console_is_off_unless_asked_for(fleet_endpoint: Any) -> None:
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(fleet_endpoint.endpoint_url + "/console", timeout=10)
    answer.value.close()
    assert answer.value.code == 400  # an API call with no operation, as AWS would answer


def test_fleet_emulator_console_flag_serves_it() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import sys, fleet._cli; sys.exit(fleet._cli.main())",
         "emulator", "--port", "0", "--console"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("fleet emulator: listening on http://")
            line = process.stdout.readline()
            assert line.startswith("fleet emulator: console at http://")
            with urllib.request.urlopen(line.split(" at ", 1)[1].strip(), timeout=10) as answer:
                assert answer.status == 200
                assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
                assert b"No state machines yet." in answer.read()
        finally:
            process.terminate()
            process.wait(timeout=30)
