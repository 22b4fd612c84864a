"""Metric collections: ``processor`` (its Prometheus endpoint) and ``streams`` (counts in the RDI DB)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool

from rdi.api.app import ApiState, state
from rdi.api.errors import ApiError, responses
from rdi.api.metric_collections import scrape_processor
from rdi.api.models import MetricCollection
from rdi.api.observed import stream_counts
from rdi.api.routes.pipelines import NamePath

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/pipelines/{name}/metric-collections", tags=["metrics"])

Api = Annotated[ApiState, Depends(state)]
COLLECTIONS = ("processor", "streams")


async def _collection(api: ApiState, pipeline: str, collection: str) -> MetricCollection:
    if collection == "processor":
        scraped = await run_in_threadpool(scrape_processor, api.settings.processor_metrics_url)
        return MetricCollection(**scraped)
    counts = await run_in_threadpool(stream_counts, api.client, pipeline, time.time_ns() // 1_000_000)
    return MetricCollection(name="streams", component="rdi-db", metrics=counts)


@router.get("", responses=responses(400, 401, 503))
async def list_collections(name: NamePath, api: Annotated[ApiState, Depends(state)]) -> list[MetricCollection]:
    """Every metric collection."""
    return [await _collection(api, name, c) for c in COLLECTIONS]


@router.get("/{collection_name}", responses=responses(400, 401, 404, 503))
async def get_collection(
    name: NamePath, collection_name: Annotated[str, Path(max_length=64)], api: Api
) -> MetricCollection:
    """One metric collection: `processor` or `streams`."""
    if collection_name not in COLLECTIONS:
        raise ApiError(404, "not_found", f"no metric collection `{collection_name}` (collections: processor, streams)")
    return await _collection(api, name, collection_name)
