"""Job dry-run: change events through one job, returning the transformed record and the Redis commands."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from rdi.api.app import ApiState, state
from rdi.api.errors import ApiError, issues_error, responses
from rdi.api.models import DryRunIn
from rdi.api.pipeline_files import validate_files
from rdi.api.routes.pipelines import NamePath
from rdi.config import Job, Processors, parse_job
from rdi.control.store import PipelineStore
from rdi.dry_run import dry_run as dry_run_events
from rdi.errors import ConfigError

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/pipelines/{name}/jobs", tags=["jobs"])

Api = Annotated[ApiState, Depends(state)]


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
        [(job_name, job)] = jobs.items()
        return dry_run_events(job_name, job, processors, body.events)
    except ConfigError as exc:
        raise issues_error("the job", exc.issues, "job_validation_error") from None
