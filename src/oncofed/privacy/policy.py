"""A node's disclosure policy: the guard's settings, with the defaults of ARCHITECTURE.md.

Stricter values are always allowed; looser ones only by the node operator (in node.yaml).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GuardPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_cell: int = Field(5, ge=1, description="smaller counts are suppressed, never shown")
    min_records: int = Field(10, ge=1, description="fewest individuals in any analysis")
    max_parameter_ratio: float = Field(0.33, gt=0, le=1, description="model parameters ≤ this × records")
    max_levels: int = Field(40, ge=2, description="most levels in a factor")
    count_rounding: int = Field(1, ge=1, description="round released counts to a multiple of this (1: off)")
    min_nodes: int = Field(1, ge=1, description="fewest nodes a federated analysis may combine")
    differencing: bool = Field(True, description="refuse cohorts that differ from an earlier one by < min_cell")
