"""What the ``real_classifier`` fixture (tests/integration/classifier/conftest.py) hands a test."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.bus import Bus
from services.runtime.host import ServiceHost
from services.runtime.settings import Settings


@dataclass
class RealClassifier:
    host: ServiceHost
    bus: Bus
    settings: Settings
