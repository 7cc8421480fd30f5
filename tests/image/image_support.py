"""Helpers for the image tests: buildah builds and runs, and the container's processes.

The image is built with buildah (chroot isolation: no Docker engine, no daemon) on a Python
base named by ``SFN_FLEET_TEST_BASE_IMAGE``, e.g. ``python:3.12-slim-bookworm`` where a
registry is reachable. Without it, a Debian bookworm base with python3 is made once with
debootstrap and kept as ``localhost/pybase:bookworm``, so no image registry is needed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.process import WorkerProcess

REPO = Path(__file__).resolve().parents[2]
LOCAL_BASE = "localhost/pybase:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
#: What the Dockerfile needs of its base: python3 with venv and pip, as python:3.x-slim has.
BASE_PACKAGES = "python3,python3-venv,python3-pip,python-is-python3,ca-certificates"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

IMAGE = "localhost/sfn-fleet:test"
USER_IMAGE = "localhost/sfn-fleet-user:test"
#: The image's default app (build argument APP); the tests give the worker no FLEET_APP.
APP = "fleet.examples.hello:app"

#: Handlers of a user's package, for an image built FROM the worker image.
USER_HANDLERS = """
from fleet import Fleet, Task

app = Fleet()


@app.activity("ShoutActivity")
async def shout(task: Task) -> dict:
    return {"shout": str(task.input["text"]).upper()}
"""


@dataclass(frozen=True)
class BuiltImage:
    """The worker image as built for the tests: its name, base, configuration, build time."""

    name: str
    base: str
    config: dict[str, Any]
    build_seconds: float

    @property
    def env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.config["Env"])

    @property
    def command(self) -> list[str]:
        """What a container engine runs: the entrypoint followed by the default command."""
        return [*(self.config.get("Entrypoint") or []), *(self.config.get("Cmd") or [])]


def buildah(*args: str, timeout: float = 120) -> str:
    """Run buildah; return its standard output, or fail the test with what it printed."""
    done = subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"buildah {' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout.strip()


def image_exists(name: str) -> bool:
    found = subprocess.run(
        ["buildah", "inspect", "--type", "image", name], capture_output=True, check=False
    )
    return found.returncode == 0


def make_local_base() -> None:
    """Make LOCAL_BASE from Debian bookworm with debootstrap (about a minute, once)."""
    with tempfile.TemporaryDirectory(prefix="pybase-") as rootfs:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", rootfs],
            capture_output=True, check=True, timeout=900,
        )  # fmt: skip
        container = buildah("from", "scratch")
        try:
            mount = buildah("mount", container)
            # cp -a keeps owners, modes and device nodes, which copytree would not.
            subprocess.run(["cp", "-a", f"{rootfs}/.", f"{mount}/"], check=True)
            buildah("umount", container)
            buildah("config", "--env", f"PATH={PATH}", "--cmd", "python3", container)
            buildah("commit", "-q", container, LOCAL_BASE)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


def base_image() -> str:
    """The base to build on; skips the test when there is none and none can be made."""
    given = os.environ.get("SFN_FLEET_TEST_BASE_IMAGE")
    if given:
        return given
    if image_exists(LOCAL_BASE):
        return LOCAL_BASE
    if shutil.which("debootstrap") is None:
        pytest.skip(
            f"no base image: set SFN_FLEET_TEST_BASE_IMAGE, or install debootstrap to make "
            f"{LOCAL_BASE}"
        )
    make_local_base()
    return LOCAL_BASE


def build(
    tag: str,
    *,
    context: Path = REPO,
    dockerfile: Path | None = None,
    build_args: dict[str, str] | None = None,
) -> None:
    """``buildah bud`` of ``context`` (the repository by default), as a user builds the image.

    Docker format keeps the HEALTHCHECK, which the OCI format has no field for.
    """
    args = ["bud", "--isolation", "chroot", "--layers", "--format", "docker", "-t", tag]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    if CA_BUNDLE.exists():
        # pip in the build reaches the package index with the host's trust store.
        args += ["-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro"]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    buildah(*args, str(context), timeout=900)


def documented_dockerfile() -> str:
    """The user Dockerfile that docs/image.md shows, as it is written there."""
    text = (REPO / "docs" / "image.md").read_text()
    found = re.search(r"```dockerfile\n(.*?)```", text, re.DOTALL)
    assert found, "docs/image.md shows no ```dockerfile block"
    return found.group(1)


def run_args(
    container: str, env: dict[str, str] | None = None, user: str | None = None
) -> list[str]:
    """``buildah run`` of ``container`` on the host network, so it shares our loopback."""
    args = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    if user is not None:
        args += ["--user", user]
    return [*args, container, "--"]


def run_in(
    container: str, *command: str, env: dict[str, str] | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``container`` (as the image's user unless ``user`` is given)."""
    return subprocess.run(
        [*run_args(container, env, user), *command],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@asynccontextmanager
async def worker_in(
    container: str, command: list[str], env: dict[str, str], port: int
) -> AsyncIterator[WorkerProcess]:
    """Run the worker ``command`` in ``container``; what it prints collects in ``.lines``.

    A worker still running when the block ends is killed, container helpers and all.
    """
    process = await anyio.open_process(
        [*run_args(container, env), *command], stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    worker = WorkerProcess(process, port)

    async def collect() -> None:
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            worker.lines.extend(line.decode(errors="replace") for line in complete)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        try:
            yield worker
        finally:
            if process.returncode is None:
                for pid in command_processes(process.pid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                with anyio.move_on_after(10):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
            await process.wait()
            tg.cancel_scope.cancel()
    await process.aclose()


# -- the container's processes, seen from the host ---------------------------------------------
# With chroot isolation a container shares the host's process namespace: `buildah run` starts
# helpers (buildah-chroot-runtime, buildah-chroot-exec) and the command runs under them. buildah
# does not forward SIGTERM (it kills the command), so a test signals the command's process
# itself, as a container engine signals PID 1 of the container.


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before children."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def command_processes(pid: int) -> list[int]:
    """The processes that ``buildah run`` (process ``pid``) runs for the container's command."""
    return [child for child in descendants(pid) if argv(child) and "buildah" not in argv(child)[0]]


def uids(pid: int) -> list[int]:
    """Real, effective, saved and filesystem uid of ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(value) for value in line.split()[1:]]
    raise LookupError(f"no Uid line for process {pid}")


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket listening on TCP ``port``, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
            octets = bytes.fromhex(address)[::-1]  # little-endian on the hosts we run on
            found.add(".".join(str(octet) for octet in octets))
    return found
