"""Ops tooling for sfn-fleet stacks, run from a checkout as ``python -m deploy``."""
