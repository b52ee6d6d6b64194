"""
What a paid request will cost, as a range: the engine's budgets reserve its top.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class CostEstimate:
    """
    The credits a request will be charged, as exactly as its API's docs allow.

    Some charges are known exactly; others only within bounds (a1.art's docs do not say
    how to tell a node app, charged its ``cost``, from a form app, charged per image;
    akool reports ``deduction_credit`` only once the job exists).  Budgets reserve
    :attr:`high`, so they are never exceeded.

    Attributes:
        low: The least the request can be charged, if it is accepted.
        high: The most it can be charged.
    """

    low: int
    high: int

    @property
    def credits(self) -> int:
        """
        The credits to reserve: :attr:`high`.
        """
        return self.high

    @property
    def exact(self) -> bool:
        """
        Whether the charge is known exactly (``low == high``).
        """
        return self.low == self.high

    def __int__(self) -> int:
        return self.high

    def __add__(self, other: CostEstimate) -> CostEstimate:
        return CostEstimate(self.low + other.low, self.high + other.high)

    def __str__(self) -> str:
        return str(self.high) if self.exact else f"{self.low}-{self.high}"

    @classmethod
    def exactly(cls, credits: int) -> CostEstimate:
        """
        A charge known exactly.
        """
        return cls(credits, credits)
