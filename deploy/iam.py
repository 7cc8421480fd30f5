"""Least-privilege IAM policy documents, each scoped to the stack's own ARNs."""

from __future__ import annotations

from typing import Any

from deploy.image import parse_ecr_uri
from deploy.names import Names
from fleet._arn import partition

Policy = dict[str, Any]
VERSION = "2012-10-17"


def trust(service: str, account: str, source_arn: str) -> Policy:
    """A trust policy letting ``service`` assume the role on behalf of ``source_arn`` only.

    Confused-deputy guard: ``aws:SourceAccount`` and ``aws:SourceArn`` (a pattern, hence
    ``ArnLike``) name the account and the resources for which the service may use the role.

    >>> trust("states.amazonaws.com", "1", "arn:aws:states:r:1:stateMachine:m")["Statement"][0][
    ...     "Condition"]["ArnLike"]
    {'aws:SourceArn': 'arn:aws:states:r:1:stateMachine:m'}
    """
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account},
            "ArnLike": {"aws:SourceArn": source_arn},
        },
    }
    return {"Version": VERSION, "Statement": [statement]}


def execution_policy(names: Names) -> Policy:
    """What ECS needs to start the container: pull from the stack's repository, write its logs."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{names.log_group_arn}:*"],
        }
    ]
    uri = names.stack.image.uri
    ecr = parse_ecr_uri(uri) if uri else None
    if ecr is not None:
        repository = f"arn:{partition(ecr.region)}:ecr:{ecr.region}:{ecr.account}:repository/"
        repository += ecr.repository
    elif not uri:
        repository = names.repository_arn
    else:
        repository = ""  # a public registry needs no credentials
    if repository:
        statements += [
            {
                # GetAuthorizationToken has no resource-level permissions.
                "Sid": "EcrLogin",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": ["*"],
            },
            {
                "Sid": "EcrPull",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": [repository],
            },
        ]
    secrets = sorted(set(names.stack.worker.secrets.values()))
    ssm = [arn for arn in secrets if ":ssm:" in arn]
    managed = sorted({secret_arn(arn) for arn in secrets if ":secretsmanager:" in arn})
    if ssm:
        statements.append(
            {
                # ECS reads worker.secrets when it starts the container: these and no others.
                "Sid": "ReadParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameters"],
                "Resource": ssm,
            }
        )
    if managed:
        statements.append(
            {
                "Sid": "ReadSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": managed,
            }
        )
    keys = sorted(names.stack.worker.secrets_kms_keys)
    if keys and secrets:
        statements.append(
            {
                # Secrets encrypted with a customer managed key need that key to decrypt.
                "Sid": "DecryptSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": keys,
            }
        )
    return {"Version": VERSION, "Statement": statements}


def secret_arn(value_from: str) -> str:
    """The secret's own ARN, without a ``:json-key:version-stage:version-id`` suffix.

    >>> secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::")
    'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'
    """
    return ":".join(value_from.split(":")[:7])


def worker_statements(names: Names) -> list[dict[str, Any]]:
    """The stack's own statements for the worker (``worker.statements``), Sids filled in."""
    out = []
    for index, spec in enumerate(names.stack.worker.statements, start=1):
        statement: dict[str, Any] = {
            "Sid": spec.sid or f"Worker{index}",
            "Effect": spec.effect,
            "Action": list(spec.actions),
            "Resource": list(spec.resources),
        }
        if spec.conditions:
            statement["Condition"] = spec.conditions
        out.append(statement)
    return out


def task_policy(names: Names) -> Policy:
    """What the worker calls: poll and report its activities, toggle its own scale-in protection."""
    activities = names.activity_arns
    return {
        "Version": VERSION,
        "Statement": [
            {
                # The worker checks at start-up that each activity exists (DescribeActivity),
                # then polls it.
                "Sid": "PollActivities",
                "Effect": "Allow",
                "Action": ["states:DescribeActivity", "states:GetActivityTask"],
                "Resource": activities,
            },
            {
                # Task tokens belong to the activity and to the execution of the stack's state
                # machine; scope to both so that neither evaluation of the resource is denied.
                "Sid": "ReportTasks",
                "Effect": "Allow",
                "Action": [
                    "states:SendTaskFailure",
                    "states:SendTaskHeartbeat",
                    "states:SendTaskSuccess",
                ],
                "Resource": [*activities, names.state_machine_arn],
            },
            {
                "Sid": "TaskProtection",
                "Effect": "Allow",
                "Action": ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
                "Resource": [names.tasks_arn],
            },
            {
                # A worker whose deployment is no longer PRIMARY finishes its tasks and exits,
                # so that a rollout does not wait on scale-in protection: it reads its own
                # task (the deployment that started it) and the stack's service.
                "Sid": "ReadOwnTask",
                "Effect": "Allow",
                "Action": ["ecs:DescribeTasks"],
                "Resource": [names.tasks_arn],
            },
            {
                "Sid": "FollowDeployments",
                "Effect": "Allow",
                "Action": ["ecs:DescribeServices"],
                "Resource": [names.service_arn],
            },
            *exec_statements(names),
            *worker_statements(names),
        ],
    }


def exec_statements(names: Names) -> list[dict[str, Any]]:
    """ECS Exec: the agent in the task opens its SSM channels (only with worker.ecs_exec)."""
    if not names.stack.worker.ecs_exec:
        return []
    return [
        {
            # The SSM Session Manager channel actions take no resource ARN.
            "Sid": "EcsExec",
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        }
    ]


def states_policy() -> Policy:
    """What the state machine needs: deliver its execution logs (activity tasks need nothing).

    CloudWatch Logs delivery actions do not support resource-level permissions, so the
    Step Functions guide grants them on "*".
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DeliverExecutionLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:DescribeLogGroups",
                    "logs:DescribeResourcePolicies",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:UpdateLogDelivery",
                ],
                "Resource": "*",
            }
        ],
    }


def schedule_policy(names: Names, run_workers: bool) -> Policy:
    """What a schedule does: start the state machine and, in batch mode, run the worker task."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "StartExecution",
            "Effect": "Allow",
            "Action": ["states:StartExecution"],
            "Resource": [names.state_machine_arn],
        },
        {
            # Scheduler sends a start that failed every retry to the dead-letter queue with
            # this role.
            "Sid": "DeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage"],
            "Resource": [names.dead_letter_queue_arn],
        },
    ]
    if run_workers:
        task_arn = names.tasks_arn
        statements += [
            {
                "Sid": "RunWorkers",
                "Effect": "Allow",
                "Action": ["ecs:RunTask"],
                "Resource": [names.family_arn, f"{names.family_arn}:*"],
                "Condition": {"ArnEquals": {"ecs:cluster": names.cluster_arn}},
            },
            {
                "Sid": "TagWorkers",
                "Effect": "Allow",
                "Action": ["ecs:TagResource"],
                "Resource": [task_arn],
                "Condition": {"StringEquals": {"ecs:CreateAction": "RunTask"}},
            },
            {
                "Sid": "PassWorkerRoles",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [names.role_arn("execution"), names.role_arn("task")],
                "Condition": {"StringLike": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            },
        ]
    return {"Version": VERSION, "Statement": statements}


def _as_list(value: Any) -> list[Any]:
    return sorted(value) if isinstance(value, list) else [value]


def canonical(policy: Policy | None) -> Policy | None:
    """``policy`` with single values as lists and lists sorted, for comparing documents."""
    if policy is None:
        return None
    raw = policy.get("Statement", [])
    statements = []
    for statement in raw if isinstance(raw, list) else [raw]:
        out: dict[str, Any] = {}
        for key, value in statement.items():
            if key in ("Action", "Resource", "NotAction", "NotResource"):
                out[key] = _as_list(value)
            elif key == "Principal" and isinstance(value, dict):
                out[key] = {k: _as_list(v) for k, v in value.items()}
            elif key == "Condition":
                out[key] = {
                    op: {k: _as_list(v) for k, v in body.items()} for op, body in value.items()
                }
            else:
                out[key] = value
        statements.append(out)
    return {"Version": policy.get("Version", VERSION), "Statement": statements}
