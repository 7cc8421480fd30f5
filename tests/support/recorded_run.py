"""``fleet`` as its console script runs it, writing the worker's final metrics to a file on exit.

``python -m support.recorded_run METRICS_FILE run module:app ...`` runs the real command line
(settings, logging, signals, drain) unchanged; the only addition is that once ``fleet run``
returns, every counter the worker kept is written in the Prometheus text format. That is how a
test reads what a process that drained and exited says it received and completed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prometheus_client import generate_latest

import fleet._worker
from fleet._cli import main
from fleet._metrics import Metrics


def run(metrics_file: Path, argv: list[str]) -> int:
    """Run ``fleet ARGV``; write its worker's metrics to ``metrics_file``; return its status."""
    made: list[Metrics] = []

    def recording() -> Metrics:
        metrics = Metrics()
        made.append(metrics)
        return metrics

    fleet._worker.Metrics = recording  # type: ignore[assignment,misc]
    status = main(argv)
    if made:
        metrics_file.write_bytes(generate_latest(made[-1].registry))
    return status


if __name__ == "__main__":
    raise SystemExit(run(Path(sys.argv[1]), sys.argv[2:]))
