"""Secrets of a pipeline: names in, names out — values are stored encrypted and never returned."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from rdi.api.app import ApiState, state
from rdi.api.errors import ApiError, responses
from rdi.api.models import SecretIn, SecretOut, SecretValueIn
from rdi.api.routes.pipelines import NamePath
from rdi.control.secrets import SecretVault

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/pipelines/{name}/secrets", tags=["secrets"])

Api = Annotated[ApiState, Depends(state)]
KeyPath = Annotated[str, Path(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$", description="The `${NAME}` it stands for.")]


def _vault(api: ApiState, name: str) -> SecretVault:
    return SecretVault(api.client, name, api.settings.secrets_key)


@router.get("", responses=responses(400, 401, 503))
def list_secrets(name: NamePath, api: Api) -> list[SecretOut]:
    """The names of the pipeline's secrets."""
    return [SecretOut(key=k) for k in _vault(api, name).names()]


@router.post("", responses=responses(400, 401, 503))
def create_secret(name: NamePath, body: SecretIn, api: Api) -> SecretOut:
    """Stores (or replaces) a secret; 400 when the server has no secrets key."""
    _vault(api, name).set(body.key, body.value)
    return SecretOut(key=body.key)


@router.get("/{key}", responses=responses(400, 401, 404, 503))
def get_secret(name: NamePath, key: KeyPath, api: Api) -> SecretOut:
    """Whether a secret is set (its value is never returned)."""
    if key not in _vault(api, name):
        raise ApiError(404, "not_found", f"no secret `{key}` in pipeline `{name}`")
    return SecretOut(key=key)


@router.put("/{key}", responses=responses(400, 401, 503))
def put_secret(name: NamePath, key: KeyPath, body: SecretValueIn, api: Api) -> SecretOut:
    """Stores (or replaces) a secret."""
    _vault(api, name).set(key, body.value)
    return SecretOut(key=key)


@router.delete("/{key}", responses=responses(400, 401, 404, 503))
def delete_secret(name: NamePath, key: KeyPath, api: Api) -> SecretOut:
    """Removes a secret."""
    if not _vault(api, name).delete(key):
        raise ApiError(404, "not_found", f"no secret `{key}` in pipeline `{name}`")
    return SecretOut(key=key)
