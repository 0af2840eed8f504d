"""Routes of www.linkedin.com's OAuth (`/linkedin-www/oauth/v2/...`) and of the
api.linkedin.com reads the connections flow makes (`/linkedin/rest/organizationAcls`,
`/linkedin/rest/organizations/{id}`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from devtools.graph_sandbox.state import SandboxState

from . import oauth
from .endpoint import Answer, Call, endpoint
from .errors import invalid_token, not_found
from .models import organization_urn
from .store import LinkedInStore

WWW_PREFIX = "/linkedin-www"
OPERATIONS = ("li.organization_acls.find", "li.organizations.get")


def www_routes(state: SandboxState) -> list[BaseRoute]:
    """The authorization dialog, the token endpoint and token introspection."""

    async def authorization(request: Request) -> Response:
        query = request.query_params
        redirect_uri, client_id = query.get("redirect_uri"), query.get("client_id")
        if query.get("response_type") != "code" or not redirect_uri or not client_id:
            return _json(
                400, {"error": "invalid_request", "error_description": "missing parameters"}
            )
        back = {"state": query["state"]} if "state" in query else {}
        try:
            code = oauth.consent(
                state.linkedin, client_id=client_id, redirect_uri=redirect_uri,
                scopes=tuple(query.get("scope", "").split()), now=state.now(),
            )  # fmt: skip
        except oauth.OAuthError as err:
            back = {"error": err.error, "error_description": err.description, **back}
        else:
            back = {"code": code, **back}
        joiner = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{joiner}{urlencode(back)}", status_code=302)

    async def access_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        grants = {"authorization_code": oauth.exchange_code, "refresh_token": oauth.refresh}
        grant = grants.get(form.get("grant_type", ""))
        if grant is None:
            return _json(
                400, {"error": "unsupported_grant_type", "error_description": "unknown grant"}
            )
        try:
            return _json(200, grant(state.linkedin, form, state.now()))
        except oauth.OAuthError as err:
            return _json(err.status, err.body())

    async def introspect_token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        try:
            return _json(200, oauth.introspect(state.linkedin, form, state.now()))
        except oauth.OAuthError as err:
            return _json(err.status, err.body())

    return [
        Route("/oauth/v2/authorization", authorization, methods=["GET"]),
        Route("/oauth/v2/accessToken", access_token, methods=["POST"]),
        Route("/oauth/v2/introspectToken", introspect_token, methods=["POST"]),
    ]


def api_routes(state: SandboxState) -> list[BaseRoute]:
    """The member's organization roles and an organization's name."""
    return [
        Route(
            "/rest/organizationAcls",
            endpoint(state, "li.organization_acls.find", find_acls, _no_owner),
            methods=["GET"],
        ),
        Route(
            "/rest/organizations/{organization_id}",
            endpoint(state, "li.organizations.get", get_organization, _no_owner),
            methods=["GET"],
        ),
    ]


def _no_owner(store: LinkedInStore, call: Call) -> str | None:
    return None


def find_acls(state: SandboxState, call: Call) -> Answer:
    """`q=roleAssignee`: the organizations in which the token's member holds `role`
    (ADMINISTRATOR when not named), approved."""
    store = state.linkedin
    member = store.member_tokens.get(call.token or "")
    if member is None:
        raise invalid_token()
    role = call.query.get("role", "ADMINISTRATOR")
    elements: list[dict[str, Any]] = [
        {
            "roleAssignee": f"urn:li:person:{member.member_id}",
            "role": "ADMINISTRATOR",
            "state": "APPROVED",
            "organization": organization_urn(organization.organization_id),
        }
        for organization in store.organizations.values()
        if member.member_id in organization.admins and role == "ADMINISTRATOR"
    ]
    return Answer(200, {"elements": elements, "paging": {"start": 0, "count": 10,
                                                         "total": len(elements)}})  # fmt: skip


def get_organization(state: SandboxState, call: Call) -> Answer:
    organization = state.linkedin.organizations.get(call.path_params["organization_id"])
    if organization is None:
        raise not_found(organization_urn(call.path_params["organization_id"]))
    return Answer(
        200,
        {
            "id": int(organization.organization_id),
            "localizedName": organization.name or f"Organization {organization.organization_id}",
        },
    )


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(json.dumps(body).encode(), status, media_type="application/json")
