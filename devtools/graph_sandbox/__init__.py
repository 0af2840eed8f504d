"""A faithful fake of Meta's Graph API (Pages + Instagram publishing) for tests and benchmarks.

``create_app()`` builds the FastAPI app; ``SandboxState`` is the pure in-memory platform.
"""

from .app import create_app
from .errors import GraphError
from .faults import FaultRule
from .routes_graph import SimulatedConnectionReset
from .settings import SandboxSettings
from .state import SandboxState

__all__ = [
    "FaultRule",
    "GraphError",
    "SandboxSettings",
    "SandboxState",
    "SimulatedConnectionReset",
    "create_app",
]
