"""
What a generation costs.  The docs give no prices, so the client takes a table of
credits per model from its user (``credits={"gpt-image-1": 2}``) and prices every
other model at :data:`DEFAULT_CREDITS` per generation request, whatever it asks for.
Budgets (a batch's ``budget=``) reserve these figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from .._engine._cost import CostEstimate
from .._engine._errors import ValidationError

#: Credits of a generation request for a model the table does not name.
DEFAULT_CREDITS: Final = 1


def _table(value: Mapping[str, int] | None) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("credits", f"must map model names to credits, got {value!r}")
    table: dict[str, int] = {}
    for model, credits in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("credits", f"model names must be non-empty strings: {model!r}")
        if isinstance(credits, bool) or not isinstance(credits, int) or credits < 0:
            raise ValidationError(
                "credits", f"{model}: must be a non-negative integer, got {credits!r}"
            )
        table[model.strip()] = credits
    return table


@attrs.frozen
class Pricing:
    """
    Credits per generation request, by model.

    Attributes:
        credits: The user's table; other models cost :data:`DEFAULT_CREDITS`.
    """

    credits: Mapping[str, int] = attrs.field(factory=dict, converter=_table)

    def estimate(self, model: str) -> CostEstimate:
        """
        What one generation request for *model* costs, exactly as far as the table says.
        """
        return CostEstimate.exactly(self.credits.get(model, DEFAULT_CREDITS))
