"""The worker image: what it carries, how it is configured, and a worker in it end to end.

The end-to-end test runs the image's own entrypoint and command with the settings ECS would
give it, against a local endpoint on the host's loopback, then stops it the way ECS does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from image_support import (
    APP,
    BuiltImage,
    build,
    buildah,
    command_processes,
    listening_addresses,
    run_args,
    run_in,
    uids,
    worker_in,
)
from support.process import WorkerProcess, free_port
from support.worker import REGION, client, create_machine, history, start, wait_done

import fleet
from fleet.emulator import Emulator, EmulatorOptions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # a cold build takes minutes

ACTIVITY = "HelloWorldActivity"  # fleet.examples.hello
DRAIN_SECONDS = 8.0


def test_image_is_configured_to_run_the_worker_as_a_non_root_pid_1(image: BuiltImage) -> None:
    config = image.config
    print(f"built {image.name} on {image.base} in {image.build_seconds:.1f} s")
    uid = config["User"].split(":")[0]
    assert uid.isdigit(), config["User"]  # numeric, so a runtime can verify it is not root
    assert int(uid) != 0
    assert image.command == ["fleet", "run"]
    assert config["StopSignal"] == "SIGTERM"
    assert "9464/tcp" in config["ExposedPorts"]
    env = image.env
    assert env["FLEET_METRICS_HOST"] == "0.0.0.0"
    assert env["FLEET_METRICS_PORT"] == "9464"
    assert env["FLEET_LOG_FORMAT"] == "json"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["FLEET_APP"] == APP  # from the build argument APP
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == fleet.__version__
    assert "org.opencontainers.image.source" in labels
    health = config["Healthcheck"]["Test"]
    assert health[:2] == ["CMD", "python"]
    assert "/healthz" in health[-1]


def test_image_carries_the_installed_package_and_nothing_to_build_with(
    image: BuiltImage, container: str
) -> None:
    # As root, to see everywhere a build could have left something.
    found = run_in(
        container, "python", "-c",
        "import fleet, json, os, shutil, sys, sysconfig\n"
        "site = sysconfig.get_paths()['purelib']\n"
        "size = sum(os.path.getsize(os.path.join(d, f))"
        " for d, _, fs in os.walk(sys.prefix) for f in fs)\n"
        "print(json.dumps({\n"
        " 'python': sys.executable, 'fleet': fleet.__file__, 'venv_bytes': size,\n"
        " 'tools': [t for t in ('gcc', 'cc', 'c++', 'make', 'ld', 'git') if shutil.which(t)],\n"
        " 'left': [p for p in ('/src', '/root/.cache/pip', '/app/tests', site + '/tests')"
        "  if os.path.exists(p)]}))",
        user="0:0",
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    facts = json.loads(found.stdout)
    assert facts["python"].startswith("/opt/fleet/"), facts  # `python` on PATH is the venv's
    assert facts["fleet"].startswith("/opt/fleet/lib/")  # installed, not a copy of the tree
    assert facts["tools"] == []
    assert facts["left"] == []
    # What the image adds to its base: sfn-fleet and its dependencies, well under 150 MB.
    assert facts["venv_bytes"] < 150 * 2**20, facts["venv_bytes"]

    version = run_in(container, "fleet", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"sfn-fleet {fleet.__version__}"


def test_build_context_holds_only_what_the_image_needs(base: str, tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /context/\n")
    tag = "localhost/sfn-fleet:context-test"
    build(tag, dockerfile=dockerfile, build_args={"BASE_IMAGE": base})
    container = buildah("from", "--pull=never", tag)
    try:
        root = Path(buildah("mount", container)) / "context"
        sent = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)
        subprocess.run(["buildah", "rmi", tag], capture_output=True, check=False)
    assert {name.split("/")[0] for name in sent} <= {"pyproject.toml", "README.md", "fleet"}
    assert "pyproject.toml" in sent
    assert "fleet/__init__.py" in sent
    assert not [name for name in sent if "__pycache__" in name or name.endswith(".pyc")]


def settings_for(endpoint_url: str, port: int) -> dict[str, str]:
    """What the task definition gives the container, pointed at a local endpoint."""
    return {
        "FLEET_ENDPOINT_URL": endpoint_url,
        "FLEET_REGION": REGION,
        "FLEET_METRICS_PORT": str(port),
        "FLEET_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "FLEET_DRAIN_RESERVE_SECONDS": "2",
        "FLEET_WORKER_NAME": "image-test",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


async def stop(worker: WorkerProcess) -> tuple[int, float]:
    """SIGTERM to the worker's own process, as a container engine stops the container.

    Returns the exit status of the container's command and how long it took to exit.
    """
    [pid] = command_processes(worker.process.pid)
    assert all(uid != 0 for uid in uids(pid)), uids(pid)
    sent = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    status = await worker.exit_status(timeout=DRAIN_SECONDS + 10)
    return status, time.monotonic() - sent


async def health_check(image: BuiltImage, probe: str, port: int) -> int:
    """The exit status of the image's HEALTHCHECK command, run beside the worker."""
    command = image.config["Healthcheck"]["Test"][1:]  # after "CMD"
    done = await anyio.run_process(
        [*run_args(probe, {"FLEET_METRICS_PORT": str(port)}), *command], check=False
    )
    return done.returncode


async def test_worker_in_the_image_runs_an_execution_then_drains_on_sigterm_and_exits_0(
    aws_credentials: None, image: BuiltImage, container: str, probe: str
) -> None:
    port = free_port()
    async with Emulator(EmulatorOptions(long_poll_seconds=1), host="127.0.0.1", port=0) as emu:
        async with client(emu.endpoint_url) as sfn:
            _, machine = await create_machine(sfn, ACTIVITY)
            # No FLEET_APP: the image's own (build argument APP) names the app.
            env = settings_for(emu.endpoint_url, port)
            async with worker_in(container, image.command, env, port) as worker:
                await worker.wait_ready(timeout=60)

                # Reachable from outside the container (ECS health checks, Prometheus), and
                # healthy by the image's own HEALTHCHECK.
                assert listening_addresses(port) == {"0.0.0.0"}
                assert await health_check(image, probe, port) == 0

                [first] = await start(sfn, machine, [{"who": "container"}])
                done = await wait_done(sfn, [first], timeout=30)
                assert done[first]["status"] == "SUCCEEDED"
                assert json.loads(done[first]["output"]) == {"greeting": "Hello, container"}
                events = await history(sfn, first)
                [started] = [e for e in events if e["type"] == "ActivityStarted"]
                assert started["activityStartedEventDetails"]["workerName"] == "image-test"

                # A task is running when the stop comes: the drain lets it finish, then the
                # worker exits 0.
                [second] = await start(sfn, machine, [{"who": "drain", "work_seconds": 3}])
                await worker.wait_in_flight(ACTIVITY, 1, timeout=30)
                status, took = await stop(worker)
                print(f"drained and exited {took:.1f} s after SIGTERM")

                output = "\n".join(worker.lines)
                assert status == 0, output
                assert took < DRAIN_SECONDS, f"exited {took:.1f} s after SIGTERM\n{output}"
                logs = worker.logs()
                drains = [e for e in logs if e["message"].startswith("draining")]
                assert drains, output
                assert drains[0]["reason"] == "SIGTERM"
                assert logs[-1]["message"] == "worker stopped", output
                assert logs[-1]["exit_status"] == 0
                done = await wait_done(sfn, [second], timeout=10)
                assert done[second]["status"] == "SUCCEEDED"
                assert json.loads(done[second]["output"]) == {"greeting": "Hello, drain"}

                # With the worker gone the health check fails, so that ECS replaces the task.
                assert await health_check(image, probe, port) != 0


async def test_an_image_built_from_the_documented_dockerfile_runs_the_users_handlers(
    aws_credentials: None, user_image: BuiltImage, user_container: str
) -> None:
    print(f"built {user_image.name} FROM {user_image.base} in {user_image.build_seconds:.1f} s")
    assert user_image.env["FLEET_APP"] == "myworkers.app:app"
    assert user_image.command == ["fleet", "run"]  # entrypoint and user carry over
    assert user_image.config["User"] == "10001:10001"
    port = free_port()
    async with Emulator(EmulatorOptions(long_poll_seconds=1), host="127.0.0.1", port=0) as emu:
        async with client(emu.endpoint_url) as sfn:
            _, machine = await create_machine(sfn, "ShoutActivity")
            env = settings_for(emu.endpoint_url, port)
            async with worker_in(user_container, user_image.command, env, port) as worker:
                await worker.wait_ready(timeout=60)
                [arn] = await start(sfn, machine, [{"text": "hello from my image"}])
                done = await wait_done(sfn, [arn], timeout=30)
                assert done[arn]["status"] == "SUCCEEDED", "\n".join(worker.lines)
                assert json.loads(done[arn]["output"]) == {"shout": "HELLO FROM MY IMAGE"}
                status, _ = await stop(worker)
                assert status == 0, "\n".join(worker.lines)
