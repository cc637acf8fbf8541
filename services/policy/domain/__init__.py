"""Pure policy calculators: service levels, discrete demand, bounds, multi-echelon buffers, ERP
reconciliation, Monte Carlo simulation gate, KPIs, alerts and cost-to-serve.

numpy, scipy and the standard library only: no I/O, no clock, no environment, no contracts.
"""

from services.policy.domain.errors import DomainError

__all__ = ["DomainError"]
