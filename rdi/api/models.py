"""Request and response bodies of the API (RDI v2 shapes, rdi-compat-spec §5.4); they are the OpenAPI schema."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ComponentOut",
    "DlqCount",
    "DryRunIn",
    "InfoOut",
    "LoginIn",
    "MetricCollection",
    "PipelineIn",
    "PipelineOut",
    "PipelinePatch",
    "SecretIn",
    "SecretOut",
    "SecretValueIn",
    "SourceProgress",
    "StatusOut",
    "StreamCounts",
    "TableProgress",
    "TokenOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(max_length=256, description="An RDI DB user.")
    password: str = Field(max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class InfoOut(BaseModel):
    version: str = Field(description="rdi version.")
    api_version: Literal["v2"] = "v2"
    leader_election: Literal["disabled", "leader", "unknown"] = Field(
        description="`leader` when a controller holds the HA lock, `disabled` when none does."
    )
    leader: str | None = Field(None, description="The instance id holding the HA lock.")


class PipelineIn(_In):
    """A pipeline: RDI's ``config`` + ``jobs`` (JSON form of the files), or rdi's ``files`` (path → text)."""

    name: str | None = Field(None, description="Pipeline name (POST); `default` when omitted.")
    active: bool | None = Field(
        None, description="Run it; when omitted, a new pipeline starts, an update keeps its state."
    )
    config: dict[str, Any] | None = Field(None, description="config.yaml as JSON.")
    jobs: list[dict[str, Any]] | None = Field(None, description="Jobs as JSON, each with its `name`.")
    files: dict[str, str] | None = Field(
        None, description="Instead of config/jobs: `config.yaml` and `jobs/<name>.yaml` texts, as in the folder."
    )


class PipelinePatch(_In):
    """JSON-merge update: ``config`` is merged (null removes a key), ``jobs`` replace or add jobs by name."""

    active: bool | None = None
    config: dict[str, Any] | None = None
    jobs: list[dict[str, Any]] | None = None


class ComponentOut(BaseModel):
    name: str
    type: str
    version: str
    status: str
    pid: int | None = None
    restarts: int = 0
    message: str = ""


class TableProgress(BaseModel):
    rows: int
    estimate: int
    percent: float


class SourceProgress(BaseModel):
    phase: Literal["starting", "snapshot", "streaming"]
    heartbeat_ms: int
    updated_at_ms: int
    tables: dict[str, TableProgress]


class StreamCounts(BaseModel):
    total: int
    pending: int
    rejected: int
    last_arrival_ms: int
    lag_ms: int


class StatusOut(BaseModel):
    """The observed status (authoritative only when ``current``) next to what was asked for."""

    status: str = Field(description="running | stopped | starting | resetting | error | pending")
    status_changed_at: int
    errors: list[str]
    components: list[ComponentOut]
    current: bool = Field(description="True when the data plane runs the deployed version and reset.")
    active: bool
    version: int
    observed_version: int
    reset: int
    observed_reset: int
    leader: str
    updated_at_ms: int
    sources: dict[str, SourceProgress] = Field(default_factory=dict)
    streams: dict[str, StreamCounts] = Field(default_factory=dict)


class PipelineOut(BaseModel):
    name: str
    active: bool
    config: dict[str, Any]
    jobs: list[dict[str, Any]]
    version: int
    status: str
    status_changed_at: int
    errors: list[str]
    components: list[ComponentOut]
    current: bool


class DlqCount(BaseModel):
    total_count: int


class SecretIn(_In):
    key: str = Field(max_length=255, description="The `${NAME}` the pipeline references.")
    value: str = Field(max_length=1_000_000)
    type: Literal["simple", "file", "binary_file"] = "simple"


class SecretValueIn(_In):
    value: str = Field(max_length=1_000_000)
    type: Literal["simple", "file", "binary_file"] = "simple"


class SecretOut(BaseModel):
    """A secret's name; values are never returned."""

    key: str


class MetricCollection(BaseModel):
    name: str
    component: str
    metrics: Any
    error: str | None = None


class DryRunIn(_In):
    """Change events through one job: a deployed job by ``job_name``, or a ``job`` given as JSON."""

    job_name: str | None = Field(None, max_length=128)
    job: dict[str, Any] | None = None
    events: list[Any] = Field(max_length=1000, description="Debezium change events (value, or {key, value}).")
