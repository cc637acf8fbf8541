"""Settings for every service, read from the environment with the ``SEGFLOW_`` prefix.

Rules:
- ``mode`` is ``embedded`` (in-process bus, SQLite files under ``data_dir``) or ``distributed``
  (Kafka at ``kafka_bootstrap``, PostgreSQL at ``database_url``, one schema per service).
- Outside ``env=development`` a JWT secret or JWKS URL must be given: there are no secret defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "gateway": 8000,
    "classifier": 8001,
    "allocator": 8002,
    "policy": 8003,
    "audit": 8004,
}

DEV_JWT_SECRET = "segflow-development-secret-change-me-0123456789"


class Settings(BaseSettings):
    """One settings object; each service reads the fields it needs."""

    model_config = SettingsConfigDict(env_prefix="SEGFLOW_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    mode: Literal["embedded", "distributed"] = "embedded"
    host: str = "127.0.0.1"
    port: int | None = None

    # storage
    database_url: str | None = None  # postgresql+asyncpg://... ; None -> SQLite under data_dir
    data_dir: Path = Path(".segflow")
    db_pool_size: int = 10
    # how long a starting service waits for PostgreSQL and Kafka to become reachable before it gives up
    startup_wait_s: float = Field(default=60.0, ge=0)

    # bus
    kafka_bootstrap: str | None = None
    topic_namespace: str = ""  # prefix added to every physical topic name (test isolation)
    topic_partitions: int | None = None  # override the catalog's partition count (tests)
    consumer_max_retries: int = 3
    consumer_retry_backoff_s: float = 0.05
    relay_interval_s: float = 0.05
    relay_batch: int = 500

    # security
    jwt_secret: str | None = None
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_public_key: str | None = None  # PEM, for RS256 without JWKS
    jwks_url: str | None = None
    jwt_audience: str = "segflow"
    jwt_issuer: str = "segflow-dev"

    # telemetry
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    log_json: bool = True

    # service URLs (gateway -> services)
    classifier_url: str = Field(default_factory=lambda: f"http://127.0.0.1:{SERVICE_PORTS['classifier']}")
    allocator_url: str = Field(default_factory=lambda: f"http://127.0.0.1:{SERVICE_PORTS['allocator']}")
    policy_url: str = Field(default_factory=lambda: f"http://127.0.0.1:{SERVICE_PORTS['policy']}")
    audit_url: str = Field(default_factory=lambda: f"http://127.0.0.1:{SERVICE_PORTS['audit']}")

    @model_validator(mode="after")
    def _no_secret_defaults_outside_development(self) -> Settings:
        if self.env != "development" and self.jwt_algorithm == "HS256" and not self.jwt_secret:
            raise ValueError("SEGFLOW_JWT_SECRET is required outside development (no secret defaults)")
        if (
            self.env != "development"
            and self.jwt_algorithm == "RS256"
            and not (self.jwks_url or self.jwt_public_key)
        ):
            raise ValueError("SEGFLOW_JWKS_URL or SEGFLOW_JWT_PUBLIC_KEY is required for RS256")
        if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("the development JWT secret must not be used in production")
        if self.mode == "distributed" and not (self.kafka_bootstrap and self.database_url):
            raise ValueError("distributed mode needs SEGFLOW_KAFKA_BOOTSTRAP and SEGFLOW_DATABASE_URL")
        return self

    @property
    def effective_jwt_secret(self) -> str:
        """The HS256 secret: the configured one, or the development default in development only."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.env == "development":
            return DEV_JWT_SECRET
        raise ValueError("no JWT secret configured")

    def port_for(self, service: str) -> int:
        return self.port if self.port is not None else SERVICE_PORTS[service]
