"""Models of a job file (`jobs/*.yaml`): source, transform blocks, outputs (rdi-compat-spec §2, §4.4).

Every object is closed (an unknown key is a config issue). Expressions are compiled while the model is
validated, so a typo in an expression is reported with its file, line and field like any other mistake.
Legacy spellings are accepted: `row_format: data_only` (= partial), write-behind `source.keyspace`
(= `source.redis`) with `pattern` (= `key_pattern`) and `exclude-commands`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rdi.expressions import Expression, ExpressionError, Language, compile_expression

__all__ = [
    "AddFieldBlock",
    "CacheSettings",
    "DataType",
    "ExpressionSpec",
    "FieldExpression",
    "FilterBlock",
    "Job",
    "JobSource",
    "KeyBlock",
    "LookupBlock",
    "MapBlock",
    "NestParent",
    "NestSpec",
    "OutputBlock",
    "RedisSourceSpec",
    "RedisWriteArgs",
    "RedisWriteBlock",
    "RedisWriteSettings",
    "RelationalWriteBlock",
    "RelationalWriteSettings",
    "RemoveFieldBlock",
    "RenameFieldBlock",
    "TransformBlock",
]

DataType: TypeAlias = Literal["hash", "json", "set", "sorted_set", "stream", "string"]
RowFormatName: TypeAlias = Literal["partial", "full"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CacheSettings(_Closed):
    """Result cache of an expression (honoured by RDI's Flink processor; accepted and ignored by classic)."""

    enabled: bool = False
    max_size: int = Field(1000, ge=1)
    ttl_seconds: int = Field(60, ge=1)


def _compile(text: str, language: Language, at: tuple[str | int, ...] = ("expression",)) -> Expression:
    """Compile at load; a failure is located at `at` (relative to the model being validated)."""
    try:
        return compile_expression(text, language)
    except ExpressionError as exc:
        raise PydanticCustomError("expression", "{message}", {"message": str(exc), "at": at}) from None


class ExpressionSpec(_Closed):
    """`{expression, language}`: compiled once, at load."""

    expression: str
    language: Language
    cache: CacheSettings | None = None
    _compiled: Expression = PrivateAttr()

    @model_validator(mode="after")
    def _compile_expression(self) -> ExpressionSpec:
        self._compiled = _compile(self.expression, self.language)
        return self

    @property
    def compiled(self) -> Expression:
        return self._compiled


# ---- source ---------------------------------------------------------------------------------------


class RedisSourceSpec(_Closed):
    """Write-behind source: the Redis keys to capture (spec §4.4)."""

    key_pattern: str = Field(validation_alias="key_pattern")
    trigger: Literal["write-behind"] = "write-behind"
    exclude_commands: list[str] = Field(default_factory=list)
    row_format: RowFormatName = "partial"
    propagate_expired: bool = Field(
        False, description="Write deletes of keys that expired (RDI does not: expired keys are not propagated)."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "pattern" in data and "key_pattern" not in data:
                data["key_pattern"] = data.pop("pattern")
            if "exclude-commands" in data and "exclude_commands" not in data:
                data["exclude_commands"] = data.pop("exclude-commands")
            if data.get("row_format") == "data_only":
                data["row_format"] = "partial"
        return data


class JobSource(_Closed):
    """Which events a job applies to (ingest: server_name/db/schema/table; write-behind: `redis`)."""

    server_name: str | None = None
    db: str | None = None
    schema_: str | None = Field(None, alias="schema")
    table: str | None = None
    row_format: RowFormatName = "partial"
    case_insensitive: bool = True
    redis: RedisSourceSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "keyspace" in data and "redis" not in data:
                data["redis"] = data.pop("keyspace")
            if data.get("row_format") == "data_only":
                data["row_format"] = "partial"
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> JobSource:
        if self.redis is None and self.table is None:
            raise ValueError("a job source needs `table` (ingest) or `redis` (write-behind)")
        if self.redis is not None and self.table is not None:
            raise ValueError("a job source has either `table` (ingest) or `redis` (write-behind), not both")
        return self

    @property
    def is_default(self) -> bool:
        """True for the default job (`table: "*"`), applied to tables without a job of their own."""
        return self.table == "*"


# ---- transform blocks -----------------------------------------------------------------------------


class FieldExpression(_Closed):
    field: str
    expression: str
    language: Language
    cache: CacheSettings | None = None
    _compiled: Expression = PrivateAttr()

    @model_validator(mode="after")
    def _compile_expression(self) -> FieldExpression:
        self._compiled = _compile(self.expression, self.language)
        return self

    @property
    def compiled(self) -> Expression:
        return self._compiled


class _FieldsOrSingle(_Closed):
    """`with:` that takes either one item inline or `fields: [...]`; `items` gives the list either way."""

    @model_validator(mode="before")
    @classmethod
    def _single_to_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fields" not in data and data:
            return {"fields": [data]}
        return data


class AddFieldSettings(_FieldsOrSingle):
    fields: list[FieldExpression] = Field(min_length=1)


class FieldName(_Closed):
    field: str


class RemoveFieldSettings(_FieldsOrSingle):
    fields: list[FieldName] = Field(min_length=1)


class FieldRename(_Closed):
    from_field: str
    to_field: str


class RenameFieldSettings(_FieldsOrSingle):
    fields: list[FieldRename] = Field(min_length=1)


class FilterSettings(ExpressionSpec):
    pass


class MapSettings(_Closed):
    """`expression` is a JMESPath string (multi-select hash) or an object of `new_field: expression`."""

    expression: str | dict[str, Any]
    language: Language
    cache: CacheSettings | None = None
    _compiled: Expression | dict[str, Any] = PrivateAttr()

    @model_validator(mode="after")
    def _compile_expression(self) -> MapSettings:
        self._compiled = _compile_tree(self.expression, self.language, ("expression",))
        return self

    @property
    def compiled(self) -> Expression | dict[str, Any]:
        """A compiled expression, or a (nested) dict whose leaves are compiled expressions."""
        return self._compiled


def _compile_tree(
    tree: str | dict[str, Any], language: Language, at: tuple[str | int, ...]
) -> Expression | dict[str, Any]:
    if isinstance(tree, str):
        return _compile(tree, language, at)
    out: dict[str, Any] = {}
    for name, sub in tree.items():
        out[name] = _compile_tree(sub if isinstance(sub, dict) else str(sub), language, (*at, name))
    return out


class LookupBatch(_Closed):
    size: int = Field(200, ge=1)
    timeout_ms: int = Field(100, ge=1)


LookupCommand: TypeAlias = Literal[
    "GET", "MGET", "HGET", "HGETALL", "HMGET", "JSON.GET", "SMEMBERS", "SISMEMBER", "ZRANGE", "ZSCORE",
    "ZPOPMAX", "ZPOPMIN", "LRANGE", "EXISTS",
]  # fmt: skip


class LookupSettings(_Closed):
    """`redis.lookup`: run a read command against a target and store the reply in `field`."""

    connection: str = "target"
    cmd: LookupCommand
    args: list[str] = Field(default_factory=list)
    language: Language
    field: str
    cache: CacheSettings | None = None
    lookup_cache: CacheSettings | None = None
    batch: LookupBatch | None = None
    _compiled: list[Expression] = PrivateAttr()

    @field_validator("cmd", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _compile_args(self) -> LookupSettings:
        self._compiled = [_compile(a, self.language, ("args", i)) for i, a in enumerate(self.args)]
        return self

    @property
    def compiled_args(self) -> list[Expression]:
        return self._compiled


class AddFieldBlock(_Closed):
    uses: Literal["add_field"]
    with_: AddFieldSettings = Field(alias="with")


class RemoveFieldBlock(_Closed):
    uses: Literal["remove_field"]
    with_: RemoveFieldSettings = Field(alias="with")


class RenameFieldBlock(_Closed):
    uses: Literal["rename_field"]
    with_: RenameFieldSettings = Field(alias="with")


class FilterBlock(_Closed):
    uses: Literal["filter"]
    with_: FilterSettings = Field(alias="with")


class MapBlock(_Closed):
    uses: Literal["map"]
    with_: MapSettings = Field(alias="with")


class LookupBlock(_Closed):
    uses: Literal["redis.lookup"]
    with_: LookupSettings = Field(alias="with")


class KeyBlock(_Closed):
    """Legacy write-behind `key` transform: sets the record's Redis key from an expression."""

    uses: Literal["key"]
    with_: ExpressionSpec = Field(alias="with")


TransformBlock: TypeAlias = Annotated[
    AddFieldBlock | RemoveFieldBlock | RenameFieldBlock | FilterBlock | MapBlock | LookupBlock | KeyBlock,
    Field(discriminator="uses"),
]


# ---- outputs --------------------------------------------------------------------------------------


class RedisWriteArgs(_Closed):
    """Per-type arguments; each value names a field of the record."""

    member: str | None = None
    score: str | None = None
    value: str | None = None


class NestParent(_Closed):
    table: str
    server_name: str | None = None
    schema_: str | None = Field(None, alias="schema")


class NestSpec(_Closed):
    """One-to-many embedding of child rows into the parent's JSON document (spec §2.8)."""

    parent: NestParent
    parent_key: str
    child_key: str | None = None
    nesting_key: str
    path: str = Field(description="JSONPath of the child map in the parent document, starting at `$`.")
    structure: Literal["map"] = "map"

    @field_validator("path")
    @classmethod
    def _jsonpath(cls, v: str) -> str:
        if not v.startswith("$"):
            raise ValueError(f"`path` is a JSONPath starting with `$` (e.g. `$.lines`), got '{v}'")
        return v


MappingItem: TypeAlias = str | dict[str, str]


def _check_mapping(items: list[MappingItem]) -> list[MappingItem]:
    for i, item in enumerate(items):
        if isinstance(item, dict) and len(item) != 1:
            msg = f"an item is a field name or a one-key mapping `{{field: alias}}`, got {len(item)} keys"
            raise PydanticCustomError("mapping_item", "{message}", {"message": msg, "at": (i,)})
    return items


class RedisWriteSettings(_Closed):
    connection: str = "target"
    data_type: DataType | None = None
    key: ExpressionSpec | None = None
    expire: int | ExpressionSpec | None = None
    args: RedisWriteArgs | None = None
    mapping: list[MappingItem] | None = None
    on_update: Literal["replace", "merge"] | None = None
    nest: NestSpec | None = None

    @field_validator("mapping")
    @classmethod
    def _mapping_items(cls, v: list[MappingItem] | None) -> list[MappingItem] | None:
        return v if v is None else _check_mapping(v)

    @field_validator("expire")
    @classmethod
    def _non_negative(cls, v: int | ExpressionSpec | None) -> int | ExpressionSpec | None:
        if isinstance(v, int) and v < 0:
            raise ValueError(f"`expire` is seconds (0 = no expiry), got {v}")
        return v

    @model_validator(mode="after")
    def _type_rules(self) -> RedisWriteSettings:
        args = self.args or RedisWriteArgs()
        if self.nest is not None:
            if self.key is not None or self.args is not None:
                raise ValueError("`nest` cannot be combined with `key` or `args`")
            if self.data_type not in (None, "json"):
                msg = f"`nest` writes JSON documents; `data_type` must be json, got '{self.data_type}'"
                raise ValueError(msg)
        required = {"set": ("member",), "sorted_set": ("member", "score"), "string": ("value",)}
        for name in required.get(self.data_type or "", ()):
            if getattr(args, name) is None:
                raise ValueError(f"data_type '{self.data_type}' needs `args.{name}`")
        return self


class RedisWriteBlock(_Closed):
    uses: Literal["redis.write"]
    with_: RedisWriteSettings = Field(alias="with", default_factory=RedisWriteSettings)


class InactiveRecordMapping(_Closed):
    source: str
    target: str


class RelationalWriteSettings(_Closed):
    """`relational.write` (write-behind): rows into a SQL table of a `connections`/`targets` entry."""

    connection: str
    schema_: str | None = Field(alias="schema")
    table: str
    keys: list[MappingItem] = Field(default_factory=list)
    mapping: list[MappingItem] = Field(default_factory=list)
    foreach: str | None = None
    opcode_field: str | None = None
    load_strategy: Literal["APPEND", "REPLACE", "UPSERT", "TYPE2"] = "APPEND"
    active_record_indicator: str | None = None
    inactive_record_mapping: list[InactiveRecordMapping] = Field(default_factory=list)

    @field_validator("keys", "mapping")
    @classmethod
    def _items(cls, v: list[MappingItem]) -> list[MappingItem]:
        return _check_mapping(v)

    @field_validator("foreach")
    @classmethod
    def _alias_and_path(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(?!:).*:.*(?<!:)", v):
            raise ValueError(f"`foreach` is `<alias>: <JMESPath>`, got {v!r}")
        return v

    @model_validator(mode="after")
    def _strategy_needs(self) -> RelationalWriteSettings:
        if self.load_strategy != "APPEND" and not self.keys:
            msg = f"`load_strategy: {self.load_strategy}` needs `keys` (the columns that identify a row)"
            raise PydanticCustomError("job", "{message}", {"message": msg, "at": ("keys",)})
        if self.load_strategy == "TYPE2" and not self.inactive_record_mapping:
            msg = "`load_strategy: TYPE2` needs `inactive_record_mapping` (how to close the active row)"
            raise PydanticCustomError("job", "{message}", {"message": msg, "at": ("inactive_record_mapping",)})
        return self


class RelationalWriteBlock(_Closed):
    uses: Literal["relational.write"]
    with_: RelationalWriteSettings = Field(alias="with")


OutputBlock: TypeAlias = Annotated[RedisWriteBlock | RelationalWriteBlock, Field(discriminator="uses")]


class Job(_Closed):
    """One job file. `name` defaults to the file's stem when loaded from a folder."""

    name: str | None = None
    source: JobSource
    transform: list[TransformBlock] = Field(default_factory=list)
    output: list[OutputBlock] = Field(default_factory=list)
    key: ExpressionSpec | None = None  # legacy job-level key (write-behind/preview)

    @model_validator(mode="after")
    def _outputs_fit_source(self) -> Job:
        for i, out in enumerate(self.output):
            if isinstance(out, RelationalWriteBlock) and self.source.redis is None:
                msg = "`relational.write` is a write-behind output; the job's source needs `redis`"
                raise PydanticCustomError("job", "{message}", {"message": msg, "at": ("output", i, "uses")})
        if self.source.redis is not None and not self.output:
            msg = "a write-behind job needs at least one output"
            raise PydanticCustomError("job", "{message}", {"message": msg, "at": ("output",)})
        return self
