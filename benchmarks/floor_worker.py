"""The floor: the same API calls as a worker, over a minimal raw HTTP client (no botocore,
no signing, no metrics). Nothing real can use less CPU per task.

    python floor_worker.py URL ACTIVITY_ARN --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json

from rawclient import RawClient


async def run(url: str, activity: str, concurrency: int) -> None:
    output = json.dumps({"ok": True})
    async with RawClient(url, pool_size=concurrency) as client:

        async def loop() -> None:
            while True:
                task = await client.get_activity_task(activity, worker_name="floor")
                token = task.get("taskToken")
                if token:
                    await client.send_task_success(token, output)

        await asyncio.gather(*(loop() for _ in range(concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("activity_arn")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.activity_arn, args.concurrency))


if __name__ == "__main__":
    main()
