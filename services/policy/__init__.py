"""The policy service: per-segment service targets turned into stock parameters, the simulation gate,
KPI attainment and alerts. The pure calculators live in ``services.policy.domain``."""
