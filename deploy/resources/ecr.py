"""The ECR repository: scan on push, and a lifecycle policy that bounds what it keeps."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import absent_on, error_code
from deploy.resources.base import Change, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.tagging import sync_tags

LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "expire untagged images after 7 days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": "keep the newest 50 images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
            "action": {"type": "expire"},
        },
    ]
}


class Repository(Resource):
    """The stack's ECR repository (absent when the stack names an image URI elsewhere)."""

    kind = "ECR repository"

    async def read(self) -> State | None:
        ecr = await self.aws.client("ecr")
        found = await absent_on(
            ("RepositoryNotFoundException",),
            ecr.describe_repositories(repositoryNames=[self.name]),
        )
        if not found:
            return None
        repo = found["repositories"][0]
        try:
            text = (await ecr.get_lifecycle_policy(repositoryName=self.name))["lifecyclePolicyText"]
            lifecycle: Any = json.loads(text)
        except ClientError as exc:
            if error_code(exc) != "LifecyclePolicyNotFoundException":
                raise
            lifecycle = None
        tags = await ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])
        return {
            "arn": repo["repositoryArn"],
            "scanOnPush": repo.get("imageScanningConfiguration", {}).get("scanOnPush", False),
            "imageTagMutability": repo.get("imageTagMutability"),
            "lifecyclePolicy": lifecycle,
            "tags": tag_dict(tags.get("tags"), "Key", "Value"),
        }

    def desired(self) -> State | None:
        if self.ctx.destroying or self.ctx.stack.image.uri:
            return None
        return {
            "scanOnPush": True,
            # A tag names one image for good: what a task definition ran can be run again.
            "imageTagMutability": "IMMUTABLE",
            "lifecyclePolicy": LIFECYCLE,
            "tags": self.tags,
        }

    async def create(self, desired: State) -> None:
        ecr = await self.aws.client("ecr")
        await ecr.create_repository(
            repositoryName=self.name,
            imageScanningConfiguration={"scanOnPush": desired["scanOnPush"]},
            imageTagMutability=desired["imageTagMutability"],
            tags=tag_list(desired["tags"], "Key", "Value"),
        )
        await ecr.put_lifecycle_policy(
            repositoryName=self.name, lifecyclePolicyText=json.dumps(desired["lifecyclePolicy"])
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        ecr = await self.aws.client("ecr")
        fields = top_fields(changes)
        if "scanOnPush" in fields:
            await ecr.put_image_scanning_configuration(
                repositoryName=self.name,
                imageScanningConfiguration={"scanOnPush": desired["scanOnPush"]},
            )
        if "imageTagMutability" in fields:
            await ecr.put_image_tag_mutability(
                repositoryName=self.name, imageTagMutability=desired["imageTagMutability"]
            )
        if "lifecyclePolicy" in fields:
            await ecr.put_lifecycle_policy(
                repositoryName=self.name,
                lifecyclePolicyText=json.dumps(desired["lifecyclePolicy"]),
            )
        if "tags" in fields:
            arn = current["arn"]
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: ecr.tag_resource(resourceArn=arn, tags=tag_list(t, "Key", "Value")),
                lambda keys: ecr.untag_resource(resourceArn=arn, tagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        ecr = await self.aws.client("ecr")
        # force: the images were pushed for this stack and go with it.
        await ecr.delete_repository(repositoryName=self.name, force=True)
