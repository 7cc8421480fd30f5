"""Fixtures of the image tests: the worker image, built once, and containers of it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from image_support import (
    APP,
    IMAGE,
    USER_HANDLERS,
    USER_IMAGE,
    BuiltImage,
    base_image,
    build,
    buildah,
    documented_dockerfile,
)


@pytest.fixture(scope="session")
def base() -> str:
    """The base image to build on, once buildah can build here; otherwise skip, saying why."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah not installed: the image tests build with it (apt install buildah)")
    if os.geteuid() != 0:
        pytest.skip("not root: the image tests build and run with chroot isolation")
    return base_image()


def _config(name: str) -> dict[str, Any]:
    """The image's configuration as ``docker inspect`` shows it (Config)."""
    inspected = json.loads(buildah("inspect", "--type", "image", name))
    config: dict[str, Any] = inspected["Docker"]["config"]
    return config


@pytest.fixture(scope="session")
def image(base: str) -> BuiltImage:
    """The worker image, built from the repository's Dockerfile with APP set."""
    started = time.monotonic()
    build(IMAGE, build_args={"BASE_IMAGE": base, "APP": APP})
    took = time.monotonic() - started
    return BuiltImage(IMAGE, base, _config(IMAGE), took)


@pytest.fixture(scope="session")
def user_image(image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """A user's image, built FROM the worker image with the Dockerfile that the docs show."""
    project = tmp_path_factory.mktemp("user-project")
    (project / "myworkers").mkdir()
    (project / "myworkers" / "__init__.py").write_text("")
    (project / "myworkers" / "app.py").write_text(USER_HANDLERS)
    (project / "requirements.txt").write_text("# the handlers need nothing beyond sfn-fleet\n")
    (project / "Dockerfile").write_text(documented_dockerfile())
    started = time.monotonic()
    build(USER_IMAGE, context=project, build_args={"FLEET_IMAGE": image.name})
    took = time.monotonic() - started
    return BuiltImage(USER_IMAGE, image.name, _config(USER_IMAGE), took)


def _container(name: str) -> Iterator[str]:
    container = buildah("from", "--pull=never", name)
    try:
        yield container
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


@pytest.fixture
def container(image: BuiltImage) -> Iterator[str]:
    """A working container of the worker image, removed afterwards."""
    yield from _container(image.name)


@pytest.fixture
def probe(image: BuiltImage) -> Iterator[str]:
    """A second container of the worker image, for checks beside a running worker."""
    yield from _container(image.name)


@pytest.fixture
def user_container(user_image: BuiltImage) -> Iterator[str]:
    """A working container of the user's image, removed afterwards."""
    yield from _container(user_image.name)
