"""Which request paths are the fake LinkedIn's (no imports: the Graph sandbox's server and
app read it while they load)."""

MOUNT_PREFIX = "/linkedin"
"""Every request whose path starts with it goes to the LinkedIn app (`/linkedin`, and any
other LinkedIn host's prefix such as `/linkedin-www`)."""


def is_linkedin_path(path: str) -> bool:
    """Whether a request path is for the fake LinkedIn."""
    return path.startswith(MOUNT_PREFIX)
