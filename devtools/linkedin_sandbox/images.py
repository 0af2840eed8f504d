"""The Images API: ``initializeUpload``, the upload itself (a PUT of the bytes to the
upload URL), and the image's status."""

from __future__ import annotations

import secrets

from devtools.graph_sandbox.state import SandboxState

from .endpoint import Answer, Call, store_of
from .errors import JSONDict, bad_request, invalid, not_found
from .models import Image, ImageStatus, organization_id_of
from .store import LinkedInStore

UPLOAD_PATH = "/dms-uploads/"  # the sandbox's stand-in for www.linkedin.com/dms-uploads
UPLOAD_URL_TTL_S = 3_600


def owner_of_initialize(store: LinkedInStore, call: Call) -> str | None:
    """`POST /rest/images?action=initializeUpload`: the image's owner."""
    request = call.json().get("initializeUploadRequest")
    owner = request.get("owner") if isinstance(request, dict) else None
    return organization_id_of(owner) if isinstance(owner, str) else None


def owner_of_upload(store: LinkedInStore, call: Call) -> str | None:
    """The upload URL's image's owner (404 for an unknown upload URL)."""
    urn = store.uploads.get(call.path_params["upload_id"])
    if urn is None:
        raise not_found("upload")
    return organization_id_of(store.images[urn].owner)


def owner_of_image(store: LinkedInStore, call: Call) -> str | None:
    """`GET /rest/images/{urn}`: the image's owner (404 when unknown)."""
    image = store.images.get(call.path_params["urn"])
    if image is None:
        raise not_found(f"Image {call.path_params['urn']}")
    return organization_id_of(image.owner)


def initialize_upload(state: SandboxState, call: Call) -> Answer:
    """Create an image awaiting its upload; answer the upload URL and the image URN."""
    if call.query.get("action") != "initializeUpload":
        raise bad_request("Unsupported action; expected action=initializeUpload")
    store = store_of(state)
    request = call.json().get("initializeUploadRequest")
    owner = request.get("owner") if isinstance(request, dict) else None
    if not isinstance(owner, str) or organization_id_of(owner) is None:
        raise invalid("/initializeUploadRequest/owner: must be an organization URN")
    now = state.now()
    upload_id = secrets.token_urlsafe(16)
    image = Image(urn=store.new_image_urn(), owner=owner, upload_token=upload_id, created_at=now)
    store.images[image.urn] = image
    store.uploads[upload_id] = image.urn
    return Answer(
        200,
        {
            "value": {
                "uploadUrlExpiresAt": int((now + UPLOAD_URL_TTL_S) * 1000),
                "uploadUrl": f"{call.base_url}/linkedin{UPLOAD_PATH}{upload_id}",
                "image": image.urn,
            }
        },
    )


def upload(state: SandboxState, call: Call) -> Answer:
    """`PUT {uploadUrl}` with the image's bytes: 201, then the image is processed."""
    store = store_of(state)
    image = store.images[store.uploads[call.path_params["upload_id"]]]
    if image.uploaded_at is not None and image_status(store, image, state.now()) != "PROCESSING":
        raise bad_request("This image was processed already; initialize a new upload")
    if not call.body:
        raise bad_request("Empty upload")
    if len(call.body) > store.settings.max_image_bytes:
        raise bad_request(f"Image larger than {store.settings.max_image_bytes} bytes")
    image.uploaded_at = state.now()
    image.size = len(call.body)
    image.fail_processing = call.image_fails or not _looks_like_image(call.body)
    return Answer(201)


def _looks_like_image(data: bytes) -> bool:
    # JPEG, PNG and GIF, the formats LinkedIn takes; anything else fails processing.
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a"))


def get_image(state: SandboxState, call: Call) -> Answer:
    """`GET /rest/images/{urn}`: the image with its status."""
    store = store_of(state)
    image = store.images[call.path_params["urn"]]
    return Answer(200, image_view(store, image, state.now()))


def image_status(store: LinkedInStore, image: Image, now: float) -> ImageStatus:
    """WAITING_UPLOAD, PROCESSING (for `image_processing_s` after the upload), then
    AVAILABLE or PROCESSING_FAILED."""
    if image.uploaded_at is None:
        return "WAITING_UPLOAD"
    if now < image.uploaded_at + store.settings.image_processing_s:
        return "PROCESSING"
    return "PROCESSING_FAILED" if image.fail_processing else "AVAILABLE"


def image_view(store: LinkedInStore, image: Image, now: float) -> JSONDict:
    """An image as the Images API returns it."""
    status = image_status(store, image, now)
    view: JSONDict = {"id": image.urn, "owner": image.owner, "status": status}
    if status == "AVAILABLE":
        view["downloadUrl"] = f"https://media.licdn.com/dms/image/{image.urn}"
        view["downloadUrlExpiresAt"] = int((now + UPLOAD_URL_TTL_S) * 1000)
    return view
