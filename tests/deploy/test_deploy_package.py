"""deploy installs with the project: a wheel holds it, its data, and the sfn-fleet-deploy script."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from deploy_support import ROOT


@pytest.mark.slow
def test_the_wheel_runs_deploy_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    (wheel,) = wheels.glob("sfn_fleet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "sfn-fleet-deploy = deploy.__main__:main" in archive.read(entry_points).decode()
        # The dashboard template is a file in the wheel, not a link out of the package.
        assert archive.read("deploy/resources/cloudwatch-dashboard.json").startswith(b"{")
    assert "deploy/stack.example.toml" in names

    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    # From an empty directory, with only the installed copy of deploy importable.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import deploy, deploy.resources.dashboard as d;"
        "assert deploy.__file__.startswith(sys.argv[1]), deploy.__file__;"
        "assert d.TEMPLATE.is_file();"
        "from deploy.__main__ import main;"
        "sys.exit(main(['size', '--json', '--stack', sys.argv[1] + '/deploy/stack.example.toml']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONSAFEPATH": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert '"slots_per_task"' in done.stdout
