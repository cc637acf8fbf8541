"""The real services as separate OS processes, for the end-to-end load benchmark and the cross-process trace test.

Owns:
- fresh PostgreSQL databases (``new_database`` / ``drop_database``) and a free TCP port (``free_port``);
- ``spawn_service``: ``python -m services.cli run <service> --port P`` with ``SEGFLOW_*`` settings in its
  environment (distributed mode, its own database, one topic namespace), stdout/stderr to a log file;
- ``ServiceProcess``: its URL, ``wait_healthy`` (GET /healthz answers 200), ``rss_mib`` (VmRSS from
  /proc) and ``stop`` (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.support.dsn import asyncpg_dsn

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET = "test-secret-0123456789abcdef0123456789"


async def new_database(admin_url: str, prefix: str = "segflow_rc") -> str:
    """Create an empty, uniquely named database next to ``admin_url``'s and return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, db_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)')
    finally:
        await conn.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (NaN once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@dataclass
class ServiceProcess:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def wait_healthy(self, timeout_s: float = 180.0) -> None:
        """Until GET /healthz answers 200 (the host started: migrations, topics, consumers)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} not healthy within {timeout_s}s:\n{self.log_tail()}")
                await asyncio.sleep(0.2)

    async def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM (uvicorn shuts the host down: consumers, relay, spans flushed), SIGKILL after ``grace_s``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)


def service_env(
    *,
    database_url: str,
    bootstrap: str,
    namespace: str,
    partitions: int,
    data_dir: Path,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The process environment: the caller's minus every ``SEGFLOW_*`` variable, plus the service settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_")}
    env.update(
        {
            "SEGFLOW_MODE": "distributed",
            "SEGFLOW_ENV": "test",
            "SEGFLOW_JWT_SECRET": TEST_SECRET,
            "SEGFLOW_DATABASE_URL": database_url,
            "SEGFLOW_KAFKA_BOOTSTRAP": bootstrap,
            "SEGFLOW_TOPIC_NAMESPACE": namespace,
            "SEGFLOW_TOPIC_PARTITIONS": str(partitions),
            "SEGFLOW_DATA_DIR": str(data_dir),
            "SEGFLOW_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


def spawn_service(name: str, env: dict[str, str], log_dir: Path, port: int | None = None) -> ServiceProcess:
    """Start ``python -m services.cli run <name> --port <port>`` (a free port when none is given)."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", name, "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(name, port, proc, log_path)
