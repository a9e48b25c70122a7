"""Distributed single inference: a plan from a partition, workers that each run one
unit's sub-network, a coordinator, and the wire protocol between them (no pickle)."""
