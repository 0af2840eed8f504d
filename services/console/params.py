"""What the console's routes take from a request: short query texts, the session (checked
for CSRF on a form), and the posts list's filters.

(No `from __future__ import annotations` here: FastAPI must see the real annotations.)
"""

from typing import Annotated

from fastapi import Depends, Query

from services.console import views
from services.console.sessions import Session
from services.console.web import checked, signed_in

Text = Annotated[str, Query(max_length=200)]
Signed = Annotated[Session, Depends(signed_in)]
Checked = Annotated[Session, Depends(checked)]


def post_filters(
    status: Text = "", platform: Text = "", since: Text = "", until: Text = ""
) -> views.PostFilters:
    return views.post_filters(status, platform, since, until)


Filters = Annotated[views.PostFilters, Depends(post_filters)]
