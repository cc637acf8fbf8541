"""The gateway's own settings (SEGFLOW_GATEWAY_*), on top of the shared runtime settings."""

from __future__ import annotations

from typing import Literal

from services.runtime.settings import Settings


class GatewaySettings(Settings):
    """Rate limits, degraded-mode behaviour, upstream timeouts and webhook delivery knobs."""

    gateway_degraded_mode: Literal["snapshot", "reject"] = "snapshot"
    gateway_rate_per_s: float = 50.0
    gateway_rate_burst: float = 100.0
    gateway_upstream_timeout_s: float = 5.0
    gateway_upstream_connect_timeout_s: float = 1.0
    gateway_upstream_retries: int = 3
    gateway_atp_refresh_s: float = 5.0
    gateway_webhook_max_attempts: int = 5
    gateway_webhook_backoff_s: float = 1.0
    gateway_webhook_backoff_cap_s: float = 300.0
    gateway_webhook_timeout_s: float = 5.0
    gateway_webhook_poll_s: float = 0.2


def gateway_settings(settings: Settings) -> GatewaySettings:
    """``settings`` as GatewaySettings (gateway fields from the environment when a plain Settings is given)."""
    if isinstance(settings, GatewaySettings):
        return settings
    return GatewaySettings(**settings.model_dump(exclude_unset=True))
