"""Dead-letter queues: counts per table and records with paging and a field projection."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Path, Query

from rdi.api.app import ApiState, state
from rdi.api.dlq import DLQ_FIELDS, dlq_counts, dlq_records
from rdi.api.errors import ApiError, responses
from rdi.api.models import DlqCount
from rdi.api.routes.pipelines import NamePath

__all__ = ["router"]

router = APIRouter(prefix="/api/v2/pipelines/{name}/dlqs", tags=["dlqs"])

Api = Annotated[ApiState, Depends(state)]
TablePath = Annotated[
    str, Path(pattern=r"^[^\s*?\[\]\\]{1,512}$", description="Full table name `<server>.<schema>.<table>`.")
]
DlqField = Literal[
    "__dlq_stream_entry_id", "db", "opcode", "reason_rejected", "removed_fields", "schema", "server_name", "source",
    "source_type", "table", "timestamp",
]  # fmt: skip
assert set(get_args(DlqField)) == set(DLQ_FIELDS)


@router.get("", responses=responses(400, 401, 503))
def list_dlqs(name: NamePath, api: Api) -> dict[str, DlqCount]:
    """Full table name → number of rejected records."""
    return {table: DlqCount(total_count=count) for table, count in dlq_counts(api.client).items()}


@router.get("/{full_table_name}", responses=responses(400, 401, 404, 503))
def get_dlq(name: NamePath, full_table_name: TablePath, api: Api) -> DlqCount:
    """The number of rejected records of one table."""
    counts = dlq_counts(api.client)
    if full_table_name not in counts:
        raise ApiError(404, "not_found", f"no DLQ for `{full_table_name}`")
    return DlqCount(total_count=counts[full_table_name])


@router.get("/{full_table_name}/records", responses=responses(400, 401, 404, 503))
def list_records(
    name: NamePath,
    full_table_name: TablePath,
    api: Api,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    sort_order: Literal["asc", "desc"] = "desc",
    fields: Annotated[list[DlqField] | None, Query(description="Keep only these fields.")] = None,
) -> list[dict[str, Any]]:
    """Rejected records, newest first by default."""
    records = dlq_records(
        api.client, full_table_name, limit=limit, offset=offset, sort_order=sort_order,
        fields=list(fields) if fields else None,
    )  # fmt: skip
    if records is None:
        raise ApiError(404, "not_found", f"no DLQ for `{full_table_name}`")
    return records
