"""Opt-in operational alarms on moto: the topic, the three alarms, the deployment guard."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import ACCOUNT, REGION, Cli, Clients

STACK = "hello-world"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-alarms"
ON = ["--set", "alarms.enabled=true"]

pytestmark = pytest.mark.slow  # each test applies the example stack to moto


def _alarms(aws: Clients) -> dict[str, dict[str, Any]]:
    found = aws.cloudwatch.describe_alarms(AlarmNamePrefix=f"{STACK}-alarm-")["MetricAlarms"]
    return {a["AlarmName"].removeprefix(f"{STACK}-alarm-"): a for a in found}


def test_alarms_are_off_by_default(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    assert _alarms(aws) == {}
    assert aws.sns.list_topics()["Topics"] == []


def test_operational_alarms_notify_the_stacks_topic(cli: Cli, aws: Clients) -> None:
    result = cli("apply", *ON)
    assert result.code == 0, result.err
    assert [t["TopicArn"] for t in aws.sns.list_topics()["Topics"]] == [TOPIC]
    alarms = _alarms(aws)
    assert sorted(alarms) == ["executions-failed", "task-failures", "throttled"]
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [TOPIC]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    failures = {m["Id"]: m for m in alarms["task-failures"]["Metrics"]}
    names = {
        m["MetricStat"]["Metric"]["MetricName"] for m in failures.values() if "MetricStat" in m
    }
    assert names == {"ActivitiesFailed", "ActivitiesHeartbeatTimedOut"}
    throttled = alarms["throttled"]["Metrics"]
    apis = {
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in throttled if "MetricStat" in m
    }
    assert "SendTaskHeartbeat" in apis
    # A release that fails tasks is rolled back by the task-failures alarm.
    service = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert service["deploymentConfiguration"]["alarms"] == {
        "alarmNames": [f"{STACK}-alarm-task-failures"],
        "enable": True,
        "rollback": True,
    }
    again = cli("apply", "--json", *ON).json()["steps"]
    assert {s["action"] for s in again} <= {"unchanged", "absent"}, [
        (s["kind"], s["name"], s["changes"]) for s in again if s["action"] != "unchanged"
    ]

    # Off again: the alarms and the topic go, the service loses its guard.
    off = cli("apply", "--yes")
    assert off.code == 0, off.err
    assert _alarms(aws) == {}
    assert aws.sns.list_topics()["Topics"] == []


def test_an_existing_topic_is_used_as_is(cli: Cli, aws: Clients) -> None:
    ops = aws.sns.create_topic(Name="ops")["TopicArn"]
    assert cli("apply", *ON, "--set", f'alarms.topic_arn="{ops}"').code == 0
    assert [t["TopicArn"] for t in aws.sns.list_topics()["Topics"]] == [ops]
    assert {a["AlarmActions"][0] for a in _alarms(aws).values()} == {ops}
