"""`python -m services.console`: settings → wiring → run until SIGTERM."""

from jobcast.service import serve
from services.console.app import build
from services.console.settings import ConsoleSettings

if __name__ == "__main__":
    serve("console", ConsoleSettings, build)
