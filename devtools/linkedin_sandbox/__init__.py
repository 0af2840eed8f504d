"""A fake of LinkedIn's REST API (organization posts, images, comments) for tests and the stack.

Served by the Graph API sandbox's process under ``/linkedin`` (api.linkedin.com); its state
lives on the Graph sandbox's ``SandboxState`` as ``state.linkedin`` (so `/_sandbox/reset`,
the clock, the fault rules and the call log are shared), and its control API is under
``/_sandbox/linkedin/``. See README.md.
"""

from .app import API_PREFIX, MOUNT_PREFIX, create_linkedin_app
from .errors import LinkedInError
from .store import LinkedInStore

__all__ = ["API_PREFIX", "MOUNT_PREFIX", "LinkedInError", "LinkedInStore", "create_linkedin_app"]
