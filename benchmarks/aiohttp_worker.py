"""A raw aiohttp loop: GetActivityTask then SendTaskSuccess, unsigned, nothing else.

    python aiohttp_worker.py URL ACTIVITY_ARN --concurrency 64

The yardstick for the worker's own CPU per task: the same two calls over the same HTTP
client the worker uses, without signing, metrics, heartbeats, slots or reporting rules.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp
from _harness import unsigned_authorization

_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": unsigned_authorization("AIOHTTP"),
}


async def run(url: str, activity: str, concurrency: int) -> None:
    output = json.dumps({"ok": True})
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(operation: str, params: dict[str, str]) -> dict[str, str]:
            headers = {**_HEADERS, "X-Amz-Target": f"AWSStepFunctions.{operation}"}
            async with session.post(url + "/", data=json.dumps(params), headers=headers) as r:
                body = await r.read()
            return json.loads(body) if body.strip() else {}

        async def loop() -> None:
            while True:
                task = await call("GetActivityTask", {"activityArn": activity})
                token = task.get("taskToken")
                if token:
                    await call("SendTaskSuccess", {"taskToken": token, "output": output})

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
