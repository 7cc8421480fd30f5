"""Step Functions' limits and API quotas, and the helpers that keep reports within them."""

from __future__ import annotations

from typing import Final

#: Maximum size of a task's output, in bytes of UTF-8 (``SendTaskSuccess.output``).
MAX_OUTPUT_BYTES: Final = 262_144
#: Maximum size of every state's input and output, and of an execution's (States.DataLimitExceeded).
MAX_PAYLOAD_BYTES: Final = MAX_OUTPUT_BYTES
#: Most tags one Step Functions resource may carry (TooManyTags beyond).
MAX_TAGS: Final = 50
#: Maximum length of ``SendTaskFailure.error``.
MAX_ERROR_CHARS: Final = 256
#: Maximum length of ``SendTaskFailure.cause``.
MAX_CAUSE_CHARS: Final = 32_768
#: The long poll is held at most this long by the service.
LONG_POLL_SECONDS: Final = 60.0
#: Client read timeout for calls: above the 60 s long poll, as AWS recommends (>= 65 s).
READ_TIMEOUT_SECONDS: Final = 70.0
#: Longest worker name Step Functions accepts in GetActivityTask.
MAX_WORKER_NAME_CHARS: Final = 80
#: Concurrent GetActivityTask callers per activity ARN.
MAX_POLLERS_PER_ACTIVITY: Final = 1000

#: Regions with the larger API quotas (the Step Functions service quotas page).
LARGE_REGIONS: Final = frozenset({"us-east-1", "us-west-2", "eu-west-1"})
#: API token buckets, per account and region: (bucket size, refill per second) in the large
#: regions, then in the other regions. Soft quotas, from the service quotas page.
API_QUOTAS: Final[dict[str, tuple[tuple[int, float], tuple[int, float]]]] = {
    "GetActivityTask": ((3000, 500), (1500, 300)),
    "SendTaskSuccess": ((3000, 500), (1500, 300)),
    "SendTaskFailure": ((3000, 500), (1500, 300)),
    "SendTaskHeartbeat": ((3000, 500), (1500, 300)),
    "StartExecution": ((1300, 300), (800, 150)),
    # Standard workflows' state transitions, per account and Region (not an API call).
    "StateTransition": ((5000, 5000), (800, 800)),
    "StopExecution": ((1000, 200), (500, 25)),
    "DescribeExecution": ((300, 15), (250, 10)),
    "GetExecutionHistory": ((400, 20), (400, 20)),
    "ListExecutions": ((200, 5), (100, 2)),
    "CreateActivity": ((100, 1), (100, 1)),
    "DeleteActivity": ((100, 1), (100, 1)),
    "DescribeActivity": ((200, 1), (200, 1)),
    "ListActivities": ((100, 10), (100, 5)),
    "CreateStateMachine": ((100, 1), (100, 1)),
    "RedriveExecution": ((1300, 300), (800, 150)),
}
#: Fargate On-Demand and Spot vCPU resource count per Region (Service Quotas L-3032A538 and
#: L-36FBB829): the default of a new account; accounts with history usually have more.
FARGATE_VCPU_QUOTA: Final = 6
#: The bucket of each API the quotas page does not list.
OTHER_API_QUOTA: Final = ((100, 1.0), (100, 1.0))


def api_quota(operation: str, large: bool) -> tuple[int, float]:
    """(bucket size, refill per second) of ``operation``'s bucket in a large or other region."""
    in_large, elsewhere = API_QUOTAS.get(operation, OTHER_API_QUOTA)
    return in_large if large else elsewhere


def api_quota_in(operation: str, region: str) -> tuple[int, float]:
    """(bucket size, refill per second) of ``operation``'s bucket in ``region``."""
    return api_quota(operation, region in LARGE_REGIONS)


_MARK = "…[truncated]"


def valid_text(text: str) -> str:
    """Return ``text`` with what UTF-8 cannot encode replaced by ``?``, so that it can be sent.

    Lone surrogates come from bytes decoded with ``surrogateescape``, e.g. undecodable file
    names in an exception's message.
    """
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode(errors="replace").decode()
    return text


def cut(text: str, limit: int) -> str:
    """Return ``text`` shortened to at most ``limit`` characters and ``limit`` UTF-8 bytes.

    Counting both keeps the result valid whichever unit the service measures in; a marker
    says that something was cut.
    """
    text = valid_text(text)
    if len(text) <= limit and len(text.encode()) <= limit:
        return text
    budget = limit - len(_MARK.encode())
    head = text.encode()[: max(budget, 0)].decode(errors="ignore")
    return (head + _MARK)[:limit]


def cut_cause(message: str, detail: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """Join a message and a traceback into a cause of at most ``limit`` characters and bytes.

    The message keeps at most half the room when both are long, and the traceback keeps its
    end, where the failing line is, so a huge message cannot push the traceback out.
    """
    message, detail = valid_text(message), valid_text(detail)
    full = f"{message}\n\n{detail}" if detail else message
    if len(full) <= limit and len(full.encode()) <= limit:
        return full
    head = cut(message, limit // 2) if detail else cut(message, limit)
    if not detail:
        return head
    room = limit - len(head.encode()) - 2 - len(_MARK.encode())
    tail_bytes = detail.encode()[-room:] if room > 0 else b""
    tail = tail_bytes.decode(errors="ignore")
    return cut(f"{head}\n\n{_MARK}{tail}", limit)


#: Refill per second of each per-task API bucket (GetActivityTask, SendTaskHeartbeat,
#: SendTaskSuccess, SendTaskFailure), per account and region: large regions, then the others.
API_REFILL_LARGE: Final = int(API_QUOTAS["SendTaskHeartbeat"][0][1])
API_REFILL_OTHER: Final = int(API_QUOTAS["SendTaskHeartbeat"][1][1])


def api_refill_per_second(region: str | None) -> int:
    """The refill of each per-task API bucket in ``region`` (the smaller one when unknown)."""
    return API_REFILL_LARGE if region in LARGE_REGIONS else API_REFILL_OTHER
