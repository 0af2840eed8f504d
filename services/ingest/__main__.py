"""`python -m services.ingest`: settings → wiring → run until SIGTERM."""

from jobcast.service import serve
from services.ingest.app import build
from services.ingest.settings import IngestSettings

if __name__ == "__main__":
    serve("ingest", IngestSettings, build)
