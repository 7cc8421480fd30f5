"""The README's first-worker walkthrough, pasted into a shell as a new user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.process import free_port

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def walkthrough() -> str:
    section = re.search(r"## Your first worker, step by step\n(.*?)\n## ", README, re.S)
    assert section, "the README has no walkthrough"
    return "\n".join(re.findall(r"```sh\n(.*?)```", section.group(1), re.S))


@pytest.mark.slow
def test_the_walkthrough_works_when_pasted_into_a_shell(tmp_path: Path) -> None:
    script = walkthrough()
    # Already installed here; everything else runs as written, on a free port.
    assert "pip install -q -e ." in script
    script = script.replace(
        "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e .", "true"
    )
    port = free_port()
    script = script.replace("8083", str(port))
    script += (
        '\npython -c "import urllib.request as u; '
        f"print('console', u.urlopen('http://127.0.0.1:{port}/console').status)\""
    )
    stop = re.search(r"`(kill %2[^`]*)`", README)
    assert stop, "the README says how to stop the worker and the endpoint"
    script += f"\n{stop.group(1)}\nwait\n"
    bin_dir = str(Path(sys.executable).parent)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    with subprocess.Popen(
        ["bash", "-c", script], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    ) as shell:  # fmt: skip
        try:
            out, _ = shell.communicate(timeout=120)
        finally:
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGKILL)
    assert re.search(r"^status\s+SUCCEEDED$", out, re.M), out
    assert '{"greeting":"Hello, Ada"}' in out
    assert re.search(r"^status\s+FAILED$", out, re.M), out
    assert re.search(r"^no-one\s+FAILED", out, re.M), out
    assert re.search(r"ActivityFailed\s+Greet\s+ran \d+\.\d+s\s+error ValueError", out), out
    assert "cause: ValueError: nobody to greet" in out
    assert "console 200" in out
    assert "poll failed" not in out  # the worker stopped before the endpoint did
    # Handlers' tracebacks are shown indented, as causes; one at the margin is a tool's crash.
    assert not re.search(r"^Traceback", out, re.M), out


def python_blocks(heading: str) -> list[str]:
    section = re.search(rf"\n{re.escape(heading)}\n(.*?)\n## ", README, re.S)
    assert section, heading
    return re.findall(r"```python\n(.*?)```", section.group(1), re.S)


@pytest.mark.slow
def test_the_readme_test_examples_pass(tmp_path: Path) -> None:
    # myapp: the handler of "Writing workers" and the typed one; greeter: the walkthrough's.
    workers = python_blocks("## Writing workers")
    (tmp_path / "myapp.py").write_text(workers[0] + "\n" + workers[1])
    greeter = re.search(r"cat > greeter.py <<'PY'\n(.*?)\nPY\n", walkthrough(), re.S)
    assert greeter
    (tmp_path / "greeter.py").write_text(greeter.group(1))
    tests = python_blocks("## Testing handlers")
    assert len(tests) == 2
    (tmp_path / "test_handlers.py").write_text(tests[0])
    (tmp_path / "test_integration.py").write_text(tests[1])
    # And an async test using the plugin's endpoint beside its worker.
    (tmp_path / "test_async.py").write_text(
        "from greeter import app\n\n\n"
        "async def test_async(emulator, fleet_worker):\n"
        "    worker = fleet_worker(app)\n"
        "    assert worker.endpoint_url == emulator.endpoint_url\n"
        "    result = worker.run_activity('Greet', {'who': 'Bo'})\n"
        "    assert result.output == {'greeting': 'Hello, Bo'}\n"
    )
    assert len(tests[1].strip().splitlines()) < 15  # a whole integration test, imports included
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-o", "asyncio_mode=auto", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
