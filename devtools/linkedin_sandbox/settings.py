"""The fake LinkedIn's knobs (changed with ``PATCH /_sandbox/linkedin/settings``; a sandbox
reset restores these defaults)."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION_FORMAT = re.compile(r"\d{6}\Z")


@dataclass(slots=True)
class LinkedInSettings:
    """How the fake LinkedIn behaves."""

    oldest_version: str = "202512"
    """The oldest `LinkedIn-Version` still served (LinkedIn serves a version for a year)."""
    newest_version: str = "202612"
    """The newest `LinkedIn-Version` released."""
    image_processing_s: float = 0.0
    """How long an uploaded image stays PROCESSING before it is AVAILABLE."""
    max_image_bytes: int = 36_152_320
    """Larger uploads are refused (LinkedIn: images up to 36,152,320 pixels; we count bytes)."""

    def version_active(self, version: str) -> bool:
        """Whether `version` names a version LinkedIn serves now."""
        return (
            VERSION_FORMAT.match(version) is not None
            and self.oldest_version <= version <= self.newest_version
        )
