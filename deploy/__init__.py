"""Ops tooling for sfn-fleet stacks: ``sfn-fleet-deploy`` (or ``python -m deploy``)."""
