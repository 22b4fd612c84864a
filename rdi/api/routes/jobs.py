"""Job dry-run: change events through one job, returning the transformed record and the Redis commands."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends

from rdi.api.app import ApiState, state
from rdi.api.errors import ApiError, issues_error, responses
from rdi.api.models import DryRunIn
from rdi.api.pipeline_files import validate_files
from rdi.api.routes.pipelines import NamePath
from rdi.config import Job, Processors, parse_job
from rdi.control.store import PipelineStore
from rdi.errors import ConfigError, RdiError
from rdi.events import decode_event
from rdi.jobs import JobResult, JobRouter
from rdi.processor import write_defaults

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/pipelines/{name}/jobs", tags=["jobs"])

Api = Annotated[ApiState, Depends(state)]


def render(result: JobResult) -> dict[str, Any]:
    """RDI's dry-run shape, as ``rdi dry-run`` prints it: ``transformation`` and ``output`` per connection."""
    record = result.record
    if record is None:
        return {"job": result.job, "filtered": True, "transformation": None, "output": []}
    return {
        "job": result.job,
        "transformation": {"opcode": record.opcode, "data": record.data},
        "output": [{"connection": o.connection, "commands": [list(c) for c in o.commands]} for o in result.outputs],
    }


def _entry(item: Any) -> tuple[bytes | None, bytes]:
    if isinstance(item, dict) and "value" in item and "op" not in item:
        key, value = item.get("key"), item["value"]
    else:
        key, value = None, item
    return (None if key is None else _as_bytes(key)), _as_bytes(value)


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


@router.post("/dry-run", responses=responses(400, 401, 404, 503))
def dry_run(name: NamePath, body: DryRunIn, api: Api) -> list[dict[str, Any]]:
    """Runs ``events`` through a deployed job (``job_name``) or a job given as JSON (``job``)."""
    if (body.job is None) == (body.job_name is None):
        raise ApiError(400, "request_validation_error", "give exactly one of `job_name` and `job`")
    deployed = PipelineStore(api.client, name).deployed()
    jobs: dict[str, Job]
    processors = Processors()
    try:
        if deployed is not None:
            pipeline = validate_files(deployed.files)
            processors, jobs = pipeline.config.processors, dict(pipeline.jobs)
        if body.job is not None:
            job_name = str(body.job.get("name") or "dry-run")
            jobs = {job_name: parse_job(body.job, name=job_name)}
        else:
            if deployed is None:
                raise ApiError(404, "not_found", f"no pipeline `{name}` is deployed")
            job_name = str(body.job_name)
            if job_name not in jobs:
                raise ApiError(404, "not_found", f"no job `{job_name}` in pipeline `{name}` (jobs: {', '.join(jobs)})")
            jobs = {job_name: jobs[job_name]}
        router_ = JobRouter(jobs, write_defaults(processors))
    except ConfigError as exc:
        raise issues_error("the job", exc.issues, "job_validation_error") from None
    compiled = router_.jobs[0] if router_.jobs else router_.default
    results: list[dict[str, Any]] = []
    for i, item in enumerate(body.events):
        try:
            event = decode_event(*_entry(item))
            if event is None:
                results.append({"index": i, "skipped": "tombstone or non-row event"})
                continue
            results.append({"index": i, **render(compiled.apply(event))})
        except (RdiError, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            results.append({"index": i, "rejected": str(exc)})
    return results
