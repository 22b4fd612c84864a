"""Pipelines: info, CRUD with ``dry_run``/``validate_tables``, status, start/stop/reset."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Path, Query

from rdi import keys
from rdi.api.app import ApiState, state
from rdi.api.errors import ApiError, issues_error, responses
from rdi.api.models import ComponentOut, InfoOut, PipelineIn, PipelineOut, PipelinePatch, StatusOut
from rdi.api.observed import source_progress, stream_counts
from rdi.api.pipeline_files import body_from_files, files_from_body, validate_files
from rdi.api.source_tables import check_tables
from rdi.control.secrets import SecretVault
from rdi.control.store import VERSION, Deployed, PipelineMeta, PipelineStore
from rdi.errors import ConfigError, ConfigIssue

__all__ = ["info_router", "router"]

info_router = APIRouter(tags=["info"])
router = APIRouter(prefix="/api/v2/pipelines", tags=["pipelines"])

PIPELINE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NamePath = Annotated[str, Path(pattern=PIPELINE_NAME, description="Pipeline name (`default`).")]
Api = Annotated[ApiState, Depends(state)]
DryRun = Annotated[bool, Query(description="Validate only; change nothing.")]
ValidateTables = Annotated[bool, Query(description="Connect to each source and check the named tables exist.")]
ValidateCdc = Annotated[bool, Query(description="Accepted for compatibility; not checked yet.")]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@info_router.get("/api/v2/info", responses=responses(503))
def info(api: Api) -> InfoOut:
    """API version and whether a controller leads (no authentication)."""
    try:
        holder = api.client.get(keys.HA_LOCK)
    except redis.RedisError:
        return InfoOut(version=VERSION, leader_election="unknown")
    if holder is None:
        return InfoOut(version=VERSION, leader_election="disabled")
    return InfoOut(version=VERSION, leader_election="leader", leader=_text(holder))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _status(api: ApiState, name: str, deployed: Deployed, *, details: bool) -> StatusOut:
    store = PipelineStore(api.client, name)
    observed = store.status()
    meta = deployed.meta
    out: dict[str, Any] = {"active": meta.active, "version": meta.version, "reset": meta.reset}
    if observed is None:
        out |= {"status": "pending", "status_changed_at": 0, "errors": [], "components": [], "current": False,
                "observed_version": 0, "observed_reset": 0, "leader": "", "updated_at_ms": 0}  # fmt: skip
    else:
        current = observed.current and (observed.observed_version, observed.observed_reset) == (
            meta.version,
            meta.reset,
        )
        out |= {
            "status": observed.status,
            "status_changed_at": observed.status_changed_at,
            "errors": observed.errors,
            "components": [ComponentOut(**asdict(c)) for c in observed.components],
            "current": current,
            "observed_version": observed.observed_version,
            "observed_reset": observed.observed_reset,
            "leader": observed.leader,
            "updated_at_ms": observed.updated_at_ms,
        }
    if details:
        config, _ = body_from_files(deployed.files)
        sources = config.get("sources")
        out["sources"] = source_progress(api.client, sorted(sources) if isinstance(sources, dict) else [])
        out["streams"] = stream_counts(api.client, name, _now_ms())
    return StatusOut(**out)


def _out(api: ApiState, name: str, deployed: Deployed) -> PipelineOut:
    config, jobs = body_from_files(deployed.files)
    status = _status(api, name, deployed, details=False)
    return PipelineOut(
        name=name, active=deployed.meta.active, config=config, jobs=jobs, version=deployed.meta.version,
        status=status.status, status_changed_at=status.status_changed_at, errors=status.errors,
        components=status.components, current=status.current,
    )  # fmt: skip


def _deployed(api: ApiState, name: str) -> Deployed:
    deployed = PipelineStore(api.client, name).deployed()
    if deployed is None:
        raise ApiError(404, "not_found", f"no pipeline `{name}` is deployed")
    return deployed


def _files(body: PipelineIn | PipelinePatch) -> tuple[dict[str, str], bool]:
    """The files of a body and whether they came as JSON (then issue lines point at generated text: dropped)."""
    if isinstance(body, PipelineIn) and body.files is not None:
        if body.config is not None or body.jobs is not None:
            raise ApiError(400, "request_validation_error", "give either `files` or `config`/`jobs`, not both")
        return dict(body.files), False
    if body.config is None:
        raise issues_error("the pipeline", [ConfigIssue("config.yaml", 0, "", "missing `config` (or `files`)")])
    return files_from_body(body.config, list(body.jobs or [])), True


def _deploy(
    api: ApiState, name: str, files: dict[str, str], *, from_json: bool, active: bool | None,
    dry_run: bool, validate_tables: bool,
) -> PipelineOut:  # fmt: skip
    try:
        validate_files(files)
        if validate_tables:
            env = {**os.environ, **SecretVault(api.client, name, api.settings.secrets_key).resolve()}
            issues = check_tables(validate_files(files, env=env, resolve_secrets=True))
            if issues:
                raise ConfigError(issues)
    except ConfigError as exc:
        issues = exc.issues
        if from_json:
            issues = [ConfigIssue(i.file, 0, i.field, i.message) for i in issues]
        raise issues_error(f"pipeline `{name}`", issues) from None
    store = PipelineStore(api.client, name)
    current = store.meta()
    keep = current.active if current is not None else True
    wanted = keep if active is None else active
    if dry_run:
        meta = current or PipelineMeta(version=0, active=wanted, reset=0, deployed_at_ms=0, updated_at_ms=0)
        return _out(api, name, Deployed(meta=PipelineMeta(**{**asdict(meta), "active": wanted}), files=files))
    store.deploy(files, active=wanted)
    return _out(api, name, _deployed(api, name))


@router.get("", responses=responses(401, 503))
def list_pipelines(api: Api) -> list[PipelineOut]:
    """Every deployed pipeline."""
    found = []
    for name in PipelineStore.names(api.client):
        deployed = PipelineStore(api.client, name).deployed()
        if deployed is not None:
            found.append(_out(api, name, deployed))
    return found


@router.post("", responses=responses(400, 401, 409, 503))
def create_pipeline(
    body: PipelineIn, api: Api, dry_run: DryRun = False, validate_tables: ValidateTables = True,
    validate_cdc: ValidateCdc = False,
) -> PipelineOut:  # fmt: skip
    """Deploys a new pipeline (409 if one of that name exists: use PUT)."""
    name = body.name or "default"
    if not _valid_name(name):
        raise issues_error("the request", [ConfigIssue("body", 0, "name", f"not a pipeline name: {name!r}")])
    if PipelineStore(api.client, name).meta() is not None and not dry_run:
        raise ApiError(409, "conflict", f"pipeline `{name}` exists; update it with PUT /api/v2/pipelines/{name}")
    files, from_json = _files(body)
    return _deploy(api, name, files, from_json=from_json, active=body.active, dry_run=dry_run,
                   validate_tables=validate_tables)  # fmt: skip


def _valid_name(name: str) -> bool:
    return re.fullmatch(PIPELINE_NAME, name) is not None


@router.get("/{name}", responses=responses(400, 401, 404, 503))
def get_pipeline(name: NamePath, api: Api) -> PipelineOut:
    """The deployed pipeline: config, jobs and its status summary."""
    return _out(api, name, _deployed(api, name))


@router.put("/{name}", responses=responses(400, 401, 503))
def put_pipeline(
    name: NamePath, body: PipelineIn, api: Api, dry_run: DryRun = False, validate_tables: ValidateTables = True,
    validate_cdc: ValidateCdc = False,
) -> PipelineOut:  # fmt: skip
    """Deploys (creates or replaces) the pipeline; an invalid one is refused and the deployed one kept."""
    if body.name is not None and body.name != name:
        message = f"the body names pipeline `{body.name}`, the path `{name}`"
        raise issues_error("the request", [ConfigIssue("body", 0, "name", message)])
    files, from_json = _files(body)
    return _deploy(api, name, files, from_json=from_json, active=body.active, dry_run=dry_run,
                   validate_tables=validate_tables)  # fmt: skip


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@router.patch("/{name}", responses=responses(400, 401, 404, 503))
def patch_pipeline(
    name: NamePath, body: PipelinePatch, api: Api, dry_run: DryRun = False, validate_tables: ValidateTables = True,
    validate_cdc: ValidateCdc = False,
) -> PipelineOut:  # fmt: skip
    """Partial update: ``config`` merged, ``jobs`` replaced or added by name, ``active`` set."""
    deployed = _deployed(api, name)
    config, jobs = body_from_files(deployed.files)
    if body.config is None and body.jobs is None:
        if body.active is not None and not dry_run:
            PipelineStore(api.client, name).set_active(body.active)
        return _out(api, name, _deployed(api, name))
    merged = merge_patch(config, body.config or {})
    by_name = {str(j.get("name")): j for j in jobs}
    for job in body.jobs or []:
        by_name[str(job.get("name"))] = job
    files = files_from_body(merged, list(by_name.values()))
    return _deploy(api, name, files, from_json=True, active=body.active, dry_run=dry_run,
                   validate_tables=validate_tables)  # fmt: skip


@router.delete("/{name}", responses=responses(400, 401, 404, 503))
def delete_pipeline(name: NamePath, api: Api) -> dict[str, str]:
    """Removes the pipeline's config, meta and status (its secrets stay); the controller stops its data plane."""
    _deployed(api, name)
    PipelineStore(api.client, name).delete()
    return {"name": name, "status": "deleted"}


@router.get("/{name}/status", responses=responses(400, 401, 404, 503))
def get_status(name: NamePath, api: Api) -> StatusOut:
    """Status, components, per-source snapshot progress per table, and per-stream counts and lag."""
    return _status(api, name, _deployed(api, name), details=True)


@router.post("/{name}/start", responses=responses(400, 401, 404, 503))
def start(name: NamePath, api: Api) -> StatusOut:
    """Asks the controller to run the pipeline (persists across restarts)."""
    PipelineStore(api.client, name).set_active(True)
    return _status(api, name, _deployed(api, name), details=False)


@router.post("/{name}/stop", responses=responses(400, 401, 404, 503))
def stop(name: NamePath, api: Api) -> StatusOut:
    """Asks the controller to stop the pipeline's collectors and processor."""
    PipelineStore(api.client, name).set_active(False)
    return _status(api, name, _deployed(api, name), details=False)


@router.post("/{name}/reset", responses=responses(400, 401, 404, 503))
def reset(name: NamePath, api: Api) -> StatusOut:
    """Asks the controller to go back to a full snapshot, then CDC."""
    PipelineStore(api.client, name).request_reset()
    return _status(api, name, _deployed(api, name), details=False)
