"""`python -m services.distributor`: settings → wiring → run until SIGTERM."""

from jobcast.service import serve
from services.distributor.app import build
from services.distributor.settings import DistributorSettings

if __name__ == "__main__":
    serve("distributor", DistributorSettings, build)
