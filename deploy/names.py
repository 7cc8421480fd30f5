"""Every resource name and ARN, derived from the stack name so that re-runs find them."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.asl import activity_arn
from deploy.stack import Stack
from fleet._arn import partition

CONTAINER = "worker"
METRICS_NAMESPACE = "SfnFleet"
METRICS_PORT = 9464


@dataclass(frozen=True)
class Names:
    """Names and ARNs of one stack's resources in one account."""

    stack: Stack
    account: str

    @property
    def region(self) -> str:
        """The stack's Region."""
        return self.stack.region

    @property
    def partition(self) -> str:
        """The ARN partition of the stack's Region: aws, aws-cn or aws-us-gov."""
        return partition(self.region)

    @property
    def dns_suffix(self) -> str:
        """The domain of the partition's endpoints (ECR registry host names use it)."""
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def arn(self, service: str, resource: str) -> str:
        """The ARN of ``resource`` of ``service`` in the stack's partition, Region and account."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def tasks_arn(self) -> str:
        """The ARN pattern of every task in the stack's cluster."""
        return self.arn("ecs", f"task/{self.cluster}/*")

    @property
    def base(self) -> str:
        """The stack name, the prefix of everything."""
        return self.stack.name

    @property
    def repository(self) -> str:
        """The ECR repository name."""
        return self.base

    @property
    def repository_uri(self) -> str:
        """The ECR repository URI, without a tag."""
        return f"{self.account}.dkr.ecr.{self.region}.{self.dns_suffix}/{self.repository}"

    @property
    def repository_arn(self) -> str:
        """The ECR repository ARN."""
        return self.arn("ecr", f"repository/{self.repository}")

    def image_ref(self, tag: str) -> str:
        """``tag`` in the stack's ECR repository, as a reference to push or pull."""
        return f"{self.repository_uri}:{tag}"

    def role(self, purpose: str) -> str:
        """The IAM role name for ``purpose``: execution, task, states or schedule."""
        return f"{self.base}-{purpose}"

    def role_arn(self, purpose: str) -> str:
        """The IAM role ARN for ``purpose``."""
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role(purpose)}"

    @property
    def log_group(self) -> str:
        """The CloudWatch Logs group the containers log to."""
        return f"/sfn-fleet/{self.base}"

    @property
    def states_log_group(self) -> str:
        """The log group of the state machine's execution history (a vended-logs name)."""
        return f"/aws/vendedlogs/states/{self.base}"

    @property
    def log_group_arn(self) -> str:
        """The log group ARN (without the trailing ``:*``)."""
        return self.arn("logs", f"log-group:{self.log_group}")

    @property
    def cluster(self) -> str:
        """The ECS cluster name."""
        return self.base

    @property
    def cluster_arn(self) -> str:
        """The ECS cluster ARN."""
        return self.arn("ecs", f"cluster/{self.cluster}")

    @property
    def service(self) -> str:
        """The ECS service name (also FLEET_SERVICE_NAME, the metric dimension)."""
        return self.base

    @property
    def service_arn(self) -> str:
        """The ECS service ARN (long form, with the cluster)."""
        return self.arn("ecs", f"service/{self.cluster}/{self.service}")

    @property
    def family(self) -> str:
        """The task definition family."""
        return f"{self.base}-worker"

    @property
    def family_arn(self) -> str:
        """The task definition ARN without a revision: RunTask uses the latest ACTIVE one."""
        return self.arn("ecs", f"task-definition/{self.family}")

    @property
    def state_machine(self) -> str:
        """The state machine name."""
        return self.base

    @property
    def state_machine_arn(self) -> str:
        """The state machine ARN."""
        return self.arn("states", f"stateMachine:{self.state_machine}")

    def activity(self, name: str) -> str:
        """The name in AWS of the stack's activity ``name``: the activity prefix, then ``name``."""
        return self.stack.activity_prefix + name

    def activity_arn(self, name: str) -> str:
        """The ARN of the stack's activity ``name`` (prefixed)."""
        return activity_arn(self.region, self.account, self.activity(name))

    @property
    def activity_arns(self) -> list[str]:
        """The ARNs of every activity in the stack."""
        return [self.activity_arn(a.name) for a in self.stack.activities]

    @property
    def scalable_resource(self) -> str:
        """The Application Auto Scaling resource id of the service."""
        return f"service/{self.cluster}/{self.service}"

    def policy(self, purpose: str) -> str:
        """A scaling policy name: saturation or waiting-work."""
        return f"{self.base}-{purpose}"

    def alarm(self, activity: str) -> str:
        """The waiting-work alarm for ``activity``."""
        return f"{self.base}-waiting-work-{activity}"

    def operational_alarm(self, purpose: str) -> str:
        """An opt-in operational alarm (executions-failed, task-failures, throttled)."""
        return f"{self.base}-alarm-{purpose}"

    def peak(self, name: str) -> str:
        """The scheduled scaling action for the known peak ``name``."""
        return f"{self.base}-peak-{name}"

    @property
    def alarm_topic(self) -> str:
        """The SNS topic the operational alarms notify."""
        return f"{self.base}-alarms"

    @property
    def schedule_group(self) -> str:
        """The EventBridge Scheduler group holding the stack's schedules."""
        return self.base

    def rule(self, schedule: str) -> str:
        """The CloudWatch Events rule name for ``schedule``."""
        return f"{self.base}-{schedule}"

    @property
    def dead_letter_queue(self) -> str:
        """The SQS queue the schedules' failed starts go to."""
        return f"{self.base}-schedule-dlq"

    @property
    def dead_letter_queue_arn(self) -> str:
        """The dead-letter queue's ARN."""
        return self.arn("sqs", self.dead_letter_queue)

    @property
    def dashboard(self) -> str:
        """The CloudWatch dashboard name."""
        return self.base
