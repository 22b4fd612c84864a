"""Model of `processors` (legacy `applier`), rdi-compat-spec §1.6: every setting, its default and range.

Settings marked "deprecated no-op" are accepted so old files load, and do nothing. `advanced` is RDI's Flink
tuning block: its dotted keys are flat YAML keys; free-form keys are allowed. Where an `advanced` alias and
the top-level setting are both given, the `advanced` one wins (the `effective_*` properties apply that rule).
"""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import Field

from rdi.config._types import Closed, FreeValue, IntOrRef, Open, PositiveIntOrRef
from rdi.config.sources import LoggingSettings

__all__ = [
    "AdvancedDlq",
    "AdvancedProcessor",
    "AdvancedResources",
    "AdvancedSource",
    "AdvancedTarget",
    "ProcessorAdvanced",
    "Processors",
    "TaskManagerResources",
]

_MS_MAX = 999999
LOB_PLACEHOLDER = base64.b64encode(b"__debezium_unavailable_value").decode()


class AdvancedSource(Open):
    stream_name_pattern: str = Field("data:*", alias="stream.name.pattern")
    discovery_interval_ms: IntOrRef = Field(1000, ge=1, alias="discovery.interval.ms")
    batch_size: PositiveIntOrRef | None = Field(None, alias="batch.size", description="Wins over `read_batch_size`.")
    batch_timeout_ms: IntOrRef = Field(100, ge=1, alias="batch.timeout.ms")
    connection_timeout_ms: IntOrRef = Field(2000, ge=1, alias="connection.timeout.ms")
    socket_timeout_ms: IntOrRef = Field(2000, ge=1, alias="socket.timeout.ms")
    retry_max_attempts: IntOrRef = Field(5, ge=1, alias="retry.max.attempts")
    retry_initial_delay_ms: IntOrRef = Field(100, ge=1, alias="retry.initial.delay.ms")
    retry_max_delay_ms: IntOrRef = Field(3000, ge=1, alias="retry.max.delay.ms")
    retry_backoff_multiplier: float = Field(2, gt=0, alias="retry.backoff.multiplier")


class _AdvancedWriter(Open):
    flush_interval_ms: IntOrRef = Field(100, ge=1, alias="flush.interval.ms")
    connection_timeout_ms: IntOrRef = Field(2000, ge=1, alias="connection.timeout.ms")
    socket_timeout_ms: IntOrRef = Field(2000, ge=1, alias="socket.timeout.ms")
    retry_backoff_multiplier: float = Field(2, gt=0, alias="retry.backoff.multiplier")
    wait_enabled: bool = Field(False, alias="wait.enabled")
    wait_write_timeout_ms: IntOrRef = Field(1000, ge=1, alias="wait.write.timeout.ms")
    wait_retry_delay_ms: IntOrRef = Field(1000, ge=1, alias="wait.retry.delay.ms")


class AdvancedTarget(_AdvancedWriter):
    batch_size: PositiveIntOrRef | None = Field(None, alias="batch.size", description="Wins over `write_batch_size`.")
    retry_max_attempts: IntOrRef = Field(5, ge=1, alias="retry.max.attempts")
    retry_initial_delay_ms: IntOrRef = Field(1000, ge=1, alias="retry.initial.delay.ms")
    retry_max_delay_ms: IntOrRef = Field(10000, ge=1, alias="retry.max.delay.ms")
    wait_retry_enabled: bool = Field(True, alias="wait.retry.enabled")


class AdvancedDlq(_AdvancedWriter):
    max_len: PositiveIntOrRef | None = Field(None, alias="max.len", description="Wins over `dlq_max_messages`.")
    batch_size: IntOrRef = Field(100, ge=1, alias="batch.size")
    retry_max_attempts: IntOrRef = Field(1, ge=1, alias="retry.max.attempts")
    retry_initial_delay_ms: IntOrRef = Field(100, ge=1, alias="retry.initial.delay.ms")
    retry_max_delay_ms: IntOrRef = Field(3000, ge=1, alias="retry.max.delay.ms")
    wait_retry_enabled: bool = Field(False, alias="wait.retry.enabled")


class AdvancedProcessor(Open):
    default_data_type: Literal["hash", "json"] | None = Field(None, alias="default.data.type")
    default_json_update_strategy: Literal["replace", "merge"] | None = Field(None, alias="default.json.update.strategy")
    dlq_enabled: bool | None = Field(None, alias="dlq.enabled", description="Default true.")


class TaskManagerResources(Open):
    replicas: IntOrRef = Field(1, ge=1)


class AdvancedResources(Open):
    taskManager: TaskManagerResources | None = None


class ProcessorAdvanced(Open):
    """`processors.advanced` (RDI's Flink processor; the classic one ignores it)."""

    source: AdvancedSource | None = None
    target: AdvancedTarget | None = None
    dlq: AdvancedDlq | None = None
    processor: AdvancedProcessor | None = None
    flink: dict[str, FreeValue] | None = None
    resources: AdvancedResources | None = None


class Processors(Closed):
    """Stream-processor settings. Numbers may be `${...}` references."""

    type: Literal["classic", "flink"] = "classic"
    read_batch_size: IntOrRef = Field(2000, ge=1, description="Max records read per stream per batch.")
    read_batch_timeout_ms: IntOrRef = Field(100, ge=1, description="Flush a partial read batch after this.")
    duration: IntOrRef = Field(100, description="Deprecated no-op (old name of the read timeout).")
    write_batch_size: IntOrRef = Field(200, ge=1, description="Records per write batch to the target.")
    enable_async_processing: bool = True
    batch_queue_size: IntOrRef = Field(3, ge=1)
    ack_queue_size: IntOrRef = Field(10, ge=1)
    dedup: bool = False
    dedup_max_size: IntOrRef = Field(1024, ge=1)
    dedup_strategy: Literal["reject", "ignore"] = Field("ignore", description="Deprecated no-op.")
    error_handling: Literal["dlq", "ignore"] = Field("dlq", description="Failed records: DLQ or dropped.")
    dlq_max_messages: IntOrRef = Field(1000, ge=1, description="Cap per DLQ stream.")
    target_data_type: Literal["hash", "json"] = Field("hash", description="When a job sets no `data_type`.")
    json_update_strategy: Literal["replace", "merge"] = Field("replace", description="Default JSON `on_update`.")
    use_native_json_merge: bool = True
    initial_sync_processes: IntOrRef = Field(4, ge=1, le=32)
    idle_sleep_time_ms: IntOrRef = Field(200, ge=1, le=_MS_MAX)
    idle_streams_check_interval_ms: IntOrRef = Field(1000, ge=1, le=_MS_MAX)
    busy_streams_check_interval_ms: IntOrRef = Field(5000, ge=1, le=_MS_MAX)
    retry_max_attempts: IntOrRef = Field(5, ge=1)
    retry_initial_delay_ms: IntOrRef = Field(1000, ge=1, le=_MS_MAX)
    retry_max_delay_ms: IntOrRef = Field(10000, ge=1, le=_MS_MAX)
    wait_enabled: bool = False
    wait_timeout: IntOrRef = Field(1000, ge=1)
    retry_on_replica_failure: bool = True
    on_failed_retry_interval: IntOrRef = Field(5, description="Deprecated no-op.")
    debezium_lob_encoded_placeholder: str = LOB_PLACEHOLDER
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    advanced: ProcessorAdvanced | None = None

    @property
    def effective_read_batch_size(self) -> int:
        """`advanced.source.batch.size` when set, else `read_batch_size`."""
        a = self.advanced.source if self.advanced else None
        return a.batch_size if a and a.batch_size is not None else self.read_batch_size

    @property
    def effective_read_batch_timeout_ms(self) -> int:
        """`advanced.source.batch.timeout.ms` when written in the file, else `read_batch_timeout_ms`."""
        a = self.advanced.source if self.advanced else None
        return a.batch_timeout_ms if a and "batch_timeout_ms" in a.model_fields_set else self.read_batch_timeout_ms

    @property
    def effective_discovery_interval_ms(self) -> int:
        """`advanced.source.discovery.interval.ms` when written, else `idle_streams_check_interval_ms`."""
        a = self.advanced.source if self.advanced else None
        if a and "discovery_interval_ms" in a.model_fields_set:
            return a.discovery_interval_ms
        return self.idle_streams_check_interval_ms

    @property
    def effective_stream_pattern(self) -> str:
        """`advanced.source.stream.name.pattern` (default `data:*`): the staging streams the processor reads."""
        a = self.advanced.source if self.advanced else None
        return a.stream_name_pattern if a else "data:*"

    @property
    def effective_write_batch_size(self) -> int:
        """`advanced.target.batch.size` when set, else `write_batch_size`."""
        a = self.advanced.target if self.advanced else None
        return a.batch_size if a and a.batch_size is not None else self.write_batch_size

    @property
    def effective_dlq_max_messages(self) -> int:
        """`advanced.dlq.max.len` when set, else `dlq_max_messages`."""
        a = self.advanced.dlq if self.advanced else None
        return a.max_len if a and a.max_len is not None else self.dlq_max_messages

    @property
    def effective_target_data_type(self) -> Literal["hash", "json"]:
        """`advanced.processor.default.data.type` when set, else `target_data_type`."""
        a = self.advanced.processor if self.advanced else None
        return a.default_data_type if a and a.default_data_type else self.target_data_type

    @property
    def effective_json_update_strategy(self) -> Literal["replace", "merge"]:
        """`advanced.processor.default.json.update.strategy` when set, else `json_update_strategy`."""
        a = self.advanced.processor if self.advanced else None
        s = a.default_json_update_strategy if a else None
        return s or self.json_update_strategy

    @property
    def effective_error_handling(self) -> Literal["dlq", "ignore"]:
        """`advanced.processor.dlq.enabled` when set (true → dlq), else `error_handling`."""
        a = self.advanced.processor if self.advanced else None
        if a and a.dlq_enabled is not None:
            return "dlq" if a.dlq_enabled else "ignore"
        return self.error_handling
