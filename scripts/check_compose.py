"""Checks on docker-compose.yml that the Compose Specification schema cannot express.

The schema (check-jsonschema's vendored compose-spec) validates the shape; this script checks the
references and segflow's promises: every depends_on target exists (and has a healthcheck when waited
on as healthy), every named volume is declared, no host port is published twice, each of the five
services runs `segflow run <name>` on its port with a /readyz healthcheck and the distributed-mode
environment, and `init` runs `segflow init`. Usage: python scripts/check_compose.py [FILE].
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

SERVICE_PORTS = {"gateway": 8000, "classifier": 8001, "allocator": 8002, "policy": 8003, "audit": 8004}
REQUIRED_ENV = (
    "SEGFLOW_MODE",
    "SEGFLOW_KAFKA_BOOTSTRAP",
    "SEGFLOW_DATABASE_URL",
    "SEGFLOW_OTLP_ENDPOINT",
    "SEGFLOW_ENV",
    "SEGFLOW_JWT_SECRET",
)


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def problems(compose: dict[str, Any]) -> list[str]:
    """Every broken reference or broken promise in a parsed compose document."""
    found: list[str] = []
    services: dict[str, dict[str, Any]] = compose.get("services") or {}
    volumes = set((compose.get("volumes") or {}).keys())
    host_ports: dict[str, str] = {}
    for name, svc in services.items():
        for dep, condition in _depends_on(svc).items():
            if dep not in services:
                found.append(f"{name}: depends_on unknown service {dep!r}")
            elif condition == "service_healthy" and "healthcheck" not in services[dep]:
                found.append(f"{name}: waits for {dep} to be healthy but {dep} has no healthcheck")
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")) and source not in volumes:
                found.append(f"{name}: volume {source!r} is not declared under volumes:")
        for port in svc.get("ports") or []:
            host = str(port).rsplit(":", 1)[0] if ":" in str(port) else str(port)
            if host in host_ports:
                found.append(f"{name}: host port {host} already published by {host_ports[host]}")
            host_ports[host] = name

    for name, port in SERVICE_PORTS.items():
        if name not in services:
            found.append(f"missing service {name!r}")
            continue
        svc = services[name]
        if svc.get("command") != ["segflow", "run", name]:
            found.append(f"{name}: command must be ['segflow', 'run', {name!r}]")
        if f"{port}:{port}" not in [str(p) for p in svc.get("ports") or []]:
            found.append(f"{name}: must publish {port}:{port}")
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        if f":{port}/readyz" not in test:
            found.append(f"{name}: healthcheck must call /readyz on port {port}")
        env = svc.get("environment") or {}
        missing = [var for var in REQUIRED_ENV if var not in env]
        if missing:
            found.append(f"{name}: environment lacks {', '.join(missing)}")
        elif env["SEGFLOW_MODE"] != "distributed" or env["SEGFLOW_ENV"] != "production":
            found.append(f"{name}: must run SEGFLOW_MODE=distributed, SEGFLOW_ENV=production")
        if _depends_on(svc).get("init") != "service_completed_successfully":
            found.append(f"{name}: must wait for init to complete successfully")

    init = services.get("init")
    if init is None or init.get("command") != ["segflow", "init"]:
        found.append("init: must exist and run ['segflow', 'init']")
    return found


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "docker-compose.yml")
    found = problems(yaml.safe_load(path.read_text()))
    for problem in found:
        print(f"{path}: {problem}", file=sys.stderr)
    if not found:
        print(f"{path}: references and service promises ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
