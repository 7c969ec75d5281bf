"""Parameters of an analysis as a pydantic model: parsed the same way by ``validate``, by
every node step and by every hub step, since over HTTP each receives them as plain JSON."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from oncofed.analysis.base import AnalysisError


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: object, what: str = "parameters") -> M:
    """The checked model, or an AnalysisError naming each bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or what}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        )
        raise AnalysisError(f"bad {what}: {problems}") from None
