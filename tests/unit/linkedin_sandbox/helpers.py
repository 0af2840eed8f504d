"""Shared helpers for the LinkedIn sandbox tests."""

from __future__ import annotations

from typing import Any

import httpx

API = "/linkedin"
TOKEN = "li-test-token"
ORG = "2414183"
AUTHOR = f"urn:li:organization:{ORG}"
VERSION = "202611"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "LinkedIn-Version": VERSION,
    "X-Restli-Protocol-Version": "2.0.0",
}
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def post_body(commentary: str = "We are hiring", **extra: Any) -> dict[str, Any]:
    """A valid organization post."""
    body: dict[str, Any] = {
        "author": AUTHOR,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED"},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    body.update(extra)
    return body


async def create_post(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    """`POST /rest/posts`."""
    return await client.post(f"{API}/rest/posts", json=post_body(**body), headers=HEADERS)


async def upload_image(client: httpx.AsyncClient, data: bytes = JPEG) -> str:
    """Initialise an upload, PUT the bytes; the image URN."""
    init = await client.post(
        f"{API}/rest/images",
        params={"action": "initializeUpload"},
        json={"initializeUploadRequest": {"owner": AUTHOR}},
        headers=HEADERS,
    )
    assert init.status_code == 200, init.text
    value = init.json()["value"]
    put = await client.put(
        value["uploadUrl"], content=data, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert put.status_code == 201, put.text
    urn: str = value["image"]
    return urn
