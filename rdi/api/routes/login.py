"""``POST /api/v1/login``: RDI DB credentials in, bearer token out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from rdi.api.app import ApiState, state
from rdi.api.auth import check_credentials
from rdi.api.errors import ApiError, responses
from rdi.api.models import LoginIn, TokenOut

__all__ = ["router"]

router = APIRouter(tags=["auth"])


@router.post("/api/v1/login", responses=responses(400, 401, 503))
async def login(body: LoginIn, api: Annotated[ApiState, Depends(state)]) -> TokenOut:
    """Checks the credentials by authenticating to the RDI DB as that user; returns a bearer token."""
    accepted = await run_in_threadpool(check_credentials, api.settings.rdi_url, body.username, body.password)
    if not accepted:
        raise ApiError(401, "unauthorized", "the RDI database rejected these credentials")
    return TokenOut(access_token=api.signer.issue(body.username))
