"""`python -m services.metrics`: settings → wiring → run until SIGTERM."""

from jobcast.service import serve
from services.metrics.app import build
from services.metrics.settings import MetricsSettings

if __name__ == "__main__":
    serve("metrics", MetricsSettings, build)
