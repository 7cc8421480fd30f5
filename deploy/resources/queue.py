"""The schedules' dead-letter queue: starts that failed after every retry land here."""

from __future__ import annotations

import json
from typing import Any

from deploy.aws import absent_on
from deploy.resources.base import Change, Resource, State, top_fields
from deploy.resources.tagging import sync_tags

# The SQS maximum: two weeks to notice and replay a missed start.
RETENTION_SECONDS = 1_209_600


class DeadLetterQueue(Resource):
    """An SQS queue (SSE on) the schedules' targets send their undeliverable events to."""

    kind = "SQS queue"

    async def _url(self) -> str | None:
        sqs = await self.aws.client("sqs")
        found = await absent_on(
            ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"),
            sqs.get_queue_url(QueueName=self.name),
        )
        return None if found is None else str(found["QueueUrl"])

    async def read(self) -> State | None:
        url = await self._url()
        if url is None:
            return None
        sqs = await self.aws.client("sqs")
        found = await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        attributes = found.get("Attributes", {})
        tags = await sqs.list_queue_tags(QueueUrl=url)
        policy = attributes.get("Policy")
        return {
            "messageRetentionPeriod": int(attributes.get("MessageRetentionPeriod", 0)),
            "sqsManagedSse": attributes.get("SqsManagedSseEnabled", "false") == "true",
            "policy": json.loads(policy) if policy else None,
            "tags": tags.get("Tags", {}),
        }

    def desired(self) -> State | None:
        if self.ctx.destroying or not self.ctx.stack.schedules:
            return None
        return {
            "messageRetentionPeriod": RETENTION_SECONDS,
            "sqsManagedSse": True,
            "policy": queue_policy(self),
            "tags": self.tags,
        }

    def _attributes(self, desired: State) -> dict[str, str]:
        return {
            "MessageRetentionPeriod": str(desired["messageRetentionPeriod"]),
            "SqsManagedSseEnabled": "true" if desired["sqsManagedSse"] else "false",
            "Policy": json.dumps(desired["policy"]),
        }

    async def create(self, desired: State) -> None:
        sqs = await self.aws.client("sqs")
        await sqs.create_queue(
            QueueName=self.name, Attributes=self._attributes(desired), tags=desired["tags"]
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        sqs = await self.aws.client("sqs")
        url = await self._url()
        fields = top_fields(changes)
        if fields - {"tags"}:
            await sqs.set_queue_attributes(QueueUrl=url, Attributes=self._attributes(desired))
        if "tags" in fields:
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: sqs.tag_queue(QueueUrl=url, Tags=t),
                lambda keys: sqs.untag_queue(QueueUrl=url, TagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        sqs = await self.aws.client("sqs")
        url = await self._url()
        if url is not None:
            await sqs.delete_queue(QueueUrl=url)


def queue_policy(queue: DeadLetterQueue) -> dict[str, Any]:
    """Who may send to the queue: the stack's schedules (the schedule role) or its rules.

    EventBridge rules deliver to a dead-letter queue as the service, so the queue must admit
    events.amazonaws.com for the stack's rules; Scheduler sends with the schedule role, whose
    own policy allows it, and the queue admits that role only.
    """
    names = queue.names
    arn = names.dead_letter_queue_arn
    if queue.ctx.stack.scheduler == "events-rule":
        principal: dict[str, Any] = {"Service": "events.amazonaws.com"}
        condition: dict[str, Any] = {
            "ArnLike": {"aws:SourceArn": names.arn("events", f"rule/{names.rule('*')}")}
        }
    else:
        principal = {"AWS": names.role_arn("schedule")}
        condition = {}
    statement: dict[str, Any] = {
        "Sid": "ScheduleDeadLetters",
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sqs:SendMessage",
        "Resource": arn,
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}
