"""The API-backed commands (RDI 1.19's command set, rdi-compat-spec §5.1) and ``rdi api`` that serves the API.

Every API command takes ``--api-url``, ``--user``, ``--password``, ``--cacert``/``--insecure`` and ``--context``
(also as ``RDI_API_URL``, ``RDI_USER``, ``RDI_PASSWORD``, ``RDI_CACERT``, ``RDI_CONTEXT``); a missing password
is prompted for (hidden) and never stored. Results go to stdout (``-o table|json|yaml``), problems to stderr
as one line with the fix and exit code 1 (2 for an invalid pipeline or flag) — never a traceback.
"""

from __future__ import annotations

import functools
import getpass
import inspect
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from rdi.cli.client import ApiClient, ClientError, Connection
from rdi.cli.contexts import Context, ContextFile

__all__ = ["register"]

DEFAULT_API_URL = "http://127.0.0.1:8080"
OPCODES = {"c": "create", "u": "update", "d": "delete", "r": "read", "t": "truncate"}

OutputOpt = Annotated[str, typer.Option("--output", "-o", help="table | json | yaml")]
PipelineArg = Annotated[str, typer.Argument(help="Pipeline name.")]
PipelineOpt = Annotated[str, typer.Option("--pipeline", "-p", help="Pipeline name.")]
WaitOpt = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the pipeline reaches the new state.")]
TimeoutOpt = Annotated[str, typer.Option("--timeout", help="How long --wait waits: 90s, 2m, 1h.")]


# ---- connection options, shared by every API command -----------------------------------------------------------

_COMMON = [
    inspect.Parameter(
        "api_url", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option("--api-url", envvar="RDI_API_URL", help="The rdi API.")],
    ),
    inspect.Parameter(
        "user", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option("--user", envvar="RDI_USER", help="RDI DB user to log in as.")],
    ),
    inspect.Parameter(
        "password", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[
            str | None,
            typer.Option("--password", envvar="RDI_PASSWORD", show_envvar=False, help="Prompted for when missing."),
        ],
    ),
    inspect.Parameter(
        "cacert", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option("--cacert", envvar="RDI_CACERT", help="CA of the API's TLS.")],
    ),
    inspect.Parameter(
        "insecure", inspect.Parameter.KEYWORD_ONLY, default=False,
        annotation=Annotated[bool, typer.Option("--insecure", help="Do not verify the API's TLS certificate.")],
    ),
    inspect.Parameter(
        "context", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option("--context", envvar="RDI_CONTEXT", help="Context to use.")],
    ),
]  # fmt: skip
_COMMON_NAMES = {p.name for p in _COMMON}


def _read_hidden(prompt: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _connection(options: dict[str, Any]) -> Connection:
    if options["cacert"] and options["insecure"]:
        raise ClientError("--cacert and --insecure exclude each other; give one", code=2)
    try:
        contexts = ContextFile()
    except ValueError as exc:
        raise ClientError(str(exc)) from None
    name = options["context"] or contexts.current
    context: Context | None = None
    if name is not None:
        context = contexts.contexts.get(name)
        if context is None:
            raise ClientError(f"--context: no context `{name}` (see `rdi list-contexts`)", code=2)
    user = options["user"] or (context.user if context else None)
    password = options["password"]
    if user and password is None:
        password = _read_hidden(f"Password for {user}: ")
    insecure = options["insecure"] or (bool(context.insecure) if context and not options["cacert"] else False)
    return Connection(
        api_url=options["api_url"] or (context.api_url if context else DEFAULT_API_URL),
        user=user, password=password,
        cacert=options["cacert"] or (context.cacert if context and not options["insecure"] else None),
        insecure=insecure,
    )  # fmt: skip


def _api_command(func: Callable[..., None]) -> Callable[..., None]:
    """Adds the connection options to ``func`` (whose first parameter, ``api``, receives an ApiClient) and turns
    ClientError into its lines on stderr and its exit code."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "api"]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> None:
        common = {k: kwargs.pop(k) for k in list(kwargs) if k in _COMMON_NAMES}
        try:
            with ApiClient(_connection(common)) as api:
                func(api, **kwargs)
        except ClientError as exc:
            for line in exc.lines:
                typer.echo(line, err=True)
            raise typer.Exit(exc.code) from None

    del wrapper.__wrapped__
    params = [*own, *_COMMON]
    wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _local_command(func: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except ClientError as exc:
            for line in exc.lines:
                typer.echo(line, err=True)
            raise typer.Exit(exc.code) from None

    return wrapper


# ---- output ----------------------------------------------------------------------------------------------------


def _console() -> Console:
    return Console(soft_wrap=True, width=160 if not sys.stdout.isatty() else None)


def _emit(data: Any, output: str, table: Callable[[Any], Any] | None = None) -> None:
    if output == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    elif output == "table":
        _console().print(table(data) if table is not None else orjson.dumps(data).decode())
    else:
        raise ClientError(f"-o: `{output}` is not one of table, json, yaml", code=2)


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column)
    return table


def _when(ms: Any) -> str:
    if not isinstance(ms, int) or ms <= 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not match:
        raise ClientError(f"--timeout: `{text}` is not a duration (e.g. 90s, 2m, 1h)", code=2)
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _wait(api: ApiClient, name: str, what: str, done: Callable[[dict[str, Any]], bool], timeout: str) -> None:
    deadline = time.monotonic() + _duration(timeout)
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = api.get(f"/api/v2/pipelines/{name}/status")
        if done(status):
            return
        if status.get("status") == "error" and status.get("current"):
            raise ClientError([f"pipeline `{name}` is in error:", *(f"  {e}" for e in status.get("errors", []))])
        time.sleep(0.5)
    state = f"status {status.get('status', '?')}, observed version {status.get('observed_version', '?')}"
    raise ClientError(
        f"timed out after {timeout} waiting for pipeline `{name}` to {what} ({state}); "
        "check `rdi describe` and that `rdi controller` runs, or pass --no-wait"
    )


# ---- pipelines -------------------------------------------------------------------------------------------------


def info(api: ApiClient, output: OutputOpt = "table") -> None:
    """API version and leader election."""
    data = api.get("/api/v2/info")
    _emit(data, output, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


def list_pipelines(api: ApiClient, output: OutputOpt = "table") -> None:
    """One line per pipeline."""
    data = api.get("/api/v2/pipelines")

    def table(rows: list[dict[str, Any]]) -> Table:
        out = _table("NAME", "ACTIVE", "STATUS", "CURRENT", "VERSION", "JOBS", "ERRORS")
        for p in rows:
            out.add_row(p["name"], str(p["active"]).lower(), p["status"], str(p["current"]).lower(),
                        str(p["version"]), str(len(p["jobs"])), str(len(p["errors"])))  # fmt: skip
        return out

    _emit(data, output, table)


def get(api: ApiClient, name: PipelineArg = "default", output: OutputOpt = "table") -> None:
    """The pipeline's config, jobs and status."""
    data = api.get(f"/api/v2/pipelines/{name}")

    def table(p: dict[str, Any]) -> Table:
        out = _table("NAME", "ACTIVE", "STATUS", "CURRENT", "VERSION", "SOURCES", "TARGETS", "JOBS")
        config = p.get("config") or {}
        out.add_row(p["name"], str(p["active"]).lower(), p["status"], str(p["current"]).lower(), str(p["version"]),
                    ", ".join(config.get("sources") or {}), ", ".join(config.get("targets") or {}),
                    ", ".join(j["name"] for j in p["jobs"]))  # fmt: skip
        return out

    _emit(data, output, table)


def _bar(rows: int, estimate: int) -> Group:
    return Group(ProgressBar(total=max(estimate, 1), completed=min(rows, max(estimate, 1)), width=30))


def describe(api: ApiClient, name: PipelineArg = "default", output: OutputOpt = "table") -> None:
    """Sectioned view: pipeline, sources with per-table snapshot progress, targets, jobs, components, streams."""
    pipeline = api.get(f"/api/v2/pipelines/{name}")
    status = api.get(f"/api/v2/pipelines/{name}/status")
    if output != "table":
        _emit({"pipeline": pipeline, "status": status}, output)
        return
    console = _console()
    head = _table("NAME", "ACTIVE", "STATUS", "CURRENT", "VERSION", "OBSERVED", "LEADER", "CHANGED", title="Pipeline")
    head.add_row(name, str(status["active"]).lower(), status["status"], str(status["current"]).lower(),
                 str(status["version"]), str(status["observed_version"]), status["leader"] or "-",
                 _when(status["status_changed_at"]))  # fmt: skip
    console.print(head)
    for error in status.get("errors") or []:
        console.print(Text(f"error: {error}", style="red"))
    config = pipeline.get("config") or {}
    sources = _table("NAME", "TYPE", "DB TYPE", "CONNECTION", "PHASE", "HEARTBEAT", title="\nSources")
    progress = _table("SOURCE", "TABLE", "PROGRESS", "ROWS", title="\nSnapshot")
    for source, spec in (config.get("sources") or {}).items():
        conn = (spec or {}).get("connection") or {}
        seen = (status.get("sources") or {}).get(source) or {}
        where = f"{conn.get('host', '')}:{conn.get('port', '')}/{conn.get('database', '')}".strip(":/")
        sources.add_row(source, str((spec or {}).get("type", "cdc")), str(conn.get("type", "-")), where or "-",
                        seen.get("phase", "-"), _when(seen.get("heartbeat_ms")))  # fmt: skip
        for table, t in (seen.get("tables") or {}).items():
            progress.add_row(source, table, _bar(t["rows"], t["estimate"]),
                             f"{t['rows']:,}/{t['estimate']:,} ({t['percent']:.0f}%)")  # fmt: skip
    console.print(sources)
    if progress.row_count:
        console.print(progress)
    targets = _table("NAME", "TYPE", "HOST", title="\nTargets")
    for target, spec in (config.get("targets") or {}).items():
        conn = (spec or {}).get("connection") or {}
        targets.add_row(target, str(conn.get("type", "-")), f"{conn.get('host', '')}:{conn.get('port', '')}")
    console.print(targets)
    console.print(_jobs_table(pipeline["jobs"], title="\nJobs"))
    components = _table("NAME", "TYPE", "VERSION", "STATUS", "PID", "RESTARTS", "MESSAGE", title="\nComponents")
    for c in status.get("components") or []:
        components.add_row(c["name"], c["type"], c["version"], c["status"], str(c.get("pid") or "-"),
                           str(c.get("restarts", 0)), c.get("message", ""))  # fmt: skip
    console.print(components)
    streams = _table("STREAM", "TOTAL", "PENDING", "REJECTED", "LAG", "LAST ARRIVAL", title="\nStatistics")
    for stream, s in (status.get("streams") or {}).items():
        streams.add_row(stream, f"{s['total']:,}", f"{s['pending']:,}", f"{s['rejected']:,}",
                        f"{s['lag_ms'] / 1000:.1f}s", _when(s["last_arrival_ms"]))  # fmt: skip
    console.print(streams)


def _pipeline_files(directory: Path) -> dict[str, str]:
    config = directory / "config.yaml"
    if not config.is_file():
        raise ClientError(
            f"--dir: {directory} has no config.yaml (a pipeline folder holds config.yaml + jobs/)", code=2
        )
    files = {"config.yaml": config.read_text(encoding="utf-8")}
    jobs = directory / "jobs"
    for path in sorted(jobs.glob("*")) if jobs.is_dir() else []:
        if path.suffix in (".yaml", ".yml") and path.is_file():
            files[f"jobs/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def deploy(
    api: ApiClient,
    name: PipelineArg = "default",
    directory: Annotated[Path, typer.Option("--dir", help="Pipeline folder (config.yaml + jobs/).")] = Path("."),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate on the server; change nothing.")] = False,
    validate_tables: Annotated[
        bool, typer.Option("--validate-tables/--no-validate-tables", help="Check the source tables exist.")
    ] = True,
    start: Annotated[
        bool | None, typer.Option("--start/--no-start", help="Run it (default: new pipelines start, others keep).")
    ] = None,
    wait: WaitOpt = True,
    timeout: TimeoutOpt = "2m",
    output: OutputOpt = "table",
) -> None:
    """Deploy a pipeline folder; an invalid pipeline is refused (every issue listed) and the old one kept."""
    body: dict[str, Any] = {"files": _pipeline_files(directory)}
    if start is not None:
        body["active"] = start
    params = {"dry_run": str(dry_run).lower(), "validate_tables": str(validate_tables).lower()}
    result = api.request("PUT", f"/api/v2/pipelines/{name}", json=body, params=params)
    if dry_run:
        typer.echo(f"pipeline `{name}` from {directory} is valid (dry run: nothing deployed)", err=True)
        return
    version = int(result["version"])
    typer.echo(f"deployed pipeline `{name}` version {version}", err=True)
    if wait:
        _wait(api, name, f"run version {version}",
              lambda s: s.get("observed_version", 0) >= version and bool(s.get("current")), timeout)  # fmt: skip
    if output != "table":
        _emit(result, output)


def delete(
    api: ApiClient,
    name: PipelineArg = "default",
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask.")] = False,
) -> None:
    """Remove the pipeline's config and status (its secrets stay)."""
    if not force:
        typer.echo(f"delete pipeline `{name}`? [y/N] ", err=True, nl=False)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise ClientError("not deleted")
    api.request("DELETE", f"/api/v2/pipelines/{name}")
    typer.echo(f"deleted pipeline `{name}`", err=True)


def _lifecycle(action: str, what: str, done: Callable[[dict[str, Any], dict[str, Any]], bool]) -> Callable[..., None]:
    def command(
        api: ApiClient, name: PipelineArg = "default", wait: WaitOpt = True, timeout: TimeoutOpt = "2m"
    ) -> None:
        asked = api.request("POST", f"/api/v2/pipelines/{name}/{action}")
        typer.echo(f"{action}: requested for pipeline `{name}`", err=True)
        if wait:
            _wait(api, name, what, lambda s: done(asked, s), timeout)

    command.__doc__ = f"Ask the controller to {what} the pipeline (--wait until it did)."
    command.__name__ = action
    return command


start = _lifecycle("start", "run", lambda _, s: s.get("status") == "running" and bool(s.get("current")))
stop = _lifecycle("stop", "stop", lambda _, s: s.get("status") == "stopped" and bool(s.get("current")))
reset = _lifecycle(
    "reset", "reset",
    lambda asked, s: s.get("observed_reset", 0) >= asked.get("reset", 0) and s.get("status") != "resetting",
)  # fmt: skip


# ---- jobs ------------------------------------------------------------------------------------------------------


def _jobs_table(jobs: list[dict[str, Any]], title: str | None = None) -> Table:
    out = _table("NAME", "SOURCE", "TRANSFORMS", "OUTPUTS", "CONNECTIONS", title=title)
    for job in jobs:
        source = job.get("source") or {}
        where = ".".join(str(source[k]) for k in ("server_name", "db", "schema", "table") if source.get(k))
        outputs = job.get("output") or []
        connections = sorted({str((o.get("with") or {}).get("connection", "target")) for o in outputs})
        out.add_row(job["name"], where or str(source.get("redis", "-")), str(len(job.get("transform") or [])),
                    str(len(outputs)), ", ".join(connections))  # fmt: skip
    return out


def list_jobs(api: ApiClient, pipeline: PipelineOpt = "default", output: OutputOpt = "table") -> None:
    """The pipeline's jobs."""
    jobs = api.get(f"/api/v2/pipelines/{pipeline}")["jobs"]
    _emit(jobs, output, _jobs_table)


def get_job(
    api: ApiClient, job: Annotated[str, typer.Argument(help="Job name.")], pipeline: PipelineOpt = "default",
    output: OutputOpt = "yaml",
) -> None:  # fmt: skip
    """One job, as deployed."""
    jobs = {j["name"]: j for j in api.get(f"/api/v2/pipelines/{pipeline}")["jobs"]}
    if job not in jobs:
        raise ClientError(f"no job `{job}` in pipeline `{pipeline}` (jobs: {', '.join(jobs) or 'none'})")
    _emit(jobs[job], output, lambda j: _jobs_table([j]))


# ---- DLQs ------------------------------------------------------------------------------------------------------


def list_dlqs(api: ApiClient, pipeline: PipelineOpt = "default", output: OutputOpt = "table") -> None:
    """DLQs with their record counts."""
    data = api.get(f"/api/v2/pipelines/{pipeline}/dlqs")

    def table(d: dict[str, Any]) -> Table:
        out = _table("DLQ", "RECORDS")
        for name, count in d.items():
            out.add_row(name, f"{count['total_count']:,}")
        return out

    _emit(data, output, table)


def get_dlq(
    api: ApiClient, dlq: Annotated[str, typer.Argument(help="`<server>.<schema>.<table>`.")],
    pipeline: PipelineOpt = "default", output: OutputOpt = "table",
) -> None:  # fmt: skip
    """One DLQ's record count."""
    data = api.get(f"/api/v2/pipelines/{pipeline}/dlqs/{dlq}")
    _emit(data, output, lambda d: f"{dlq}: {d['total_count']:,} records")


def list_dlq_records(
    api: ApiClient,
    dlq: Annotated[str | None, typer.Argument(help="`<server>.<schema>.<table>` (see list-dlqs).")] = None,
    pipeline: PipelineOpt = "default",
    limit: Annotated[int, typer.Option("--limit", "--max-records", min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    sort_order: Annotated[str, typer.Option("--sort-order", help="asc | desc")] = "desc",
    oldest: Annotated[bool, typer.Option("--oldest", hidden=True, help="Same as --sort-order asc.")] = False,
    dlq_name: Annotated[str | None, typer.Option("--dlq-name", hidden=True)] = None,
    output: OutputOpt = "table",
) -> None:
    """Rejected records of one DLQ, newest first."""
    name = dlq or dlq_name
    if name is None:
        raise ClientError("give the DLQ: `rdi list-dlq-records <server>.<schema>.<table>` (see `rdi list-dlqs`)", 2)
    if sort_order not in ("asc", "desc"):
        raise ClientError(f"--sort-order: `{sort_order}` is not one of asc, desc", code=2)
    order = "asc" if oldest else sort_order
    data = api.get(f"/api/v2/pipelines/{pipeline}/dlqs/{name}/records", limit=limit, offset=offset, sort_order=order)

    def table(rows: list[dict[str, Any]]) -> Table:
        out = _table("ID", "TIME", "OPCODE", "TABLE", "JOB", "REASON")
        for r in rows:
            where = ".".join(str(r[k]) for k in ("db", "schema", "table") if r.get(k))
            out.add_row(r["__dlq_stream_entry_id"], _when(r["timestamp"]), OPCODES.get(r.get("opcode") or "", "-"),
                        where, r.get("job") or "-", r["reason_rejected"])  # fmt: skip
        return out

    _emit(data, output, table)


# ---- secrets ---------------------------------------------------------------------------------------------------


def list_secrets(api: ApiClient, pipeline: PipelineOpt = "default", output: OutputOpt = "table") -> None:
    """The names of the pipeline's secrets (values are never shown)."""
    data = api.get(f"/api/v2/pipelines/{pipeline}/secrets")

    def table(rows: list[dict[str, Any]]) -> Table:
        out = _table("KEY")
        for r in rows:
            out.add_row(r["key"])
        return out

    _emit(data, output, table)


def get_secret(
    api: ApiClient, key: Annotated[str, typer.Argument(help="Secret name.")], pipeline: PipelineOpt = "default",
    output: OutputOpt = "table",
) -> None:  # fmt: skip
    """Whether a secret is set (its value is never shown)."""
    data = api.get(f"/api/v2/pipelines/{pipeline}/secrets/{key}")
    _emit(data, output, lambda d: f"{d['key']}: set")


def set_secret(
    api: ApiClient,
    key: Annotated[str, typer.Argument(help="Secret name, as `${NAME}` in the config.")],
    value: Annotated[
        str | None, typer.Argument(help="Visible in the process list: prefer the prompt, --file or stdin.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the value from this file.")] = None,
    pipeline: PipelineOpt = "default",
) -> None:
    """Store a secret, encrypted in the RDI DB (value from the hidden prompt / stdin, --file, or the argument)."""
    if value is not None and file is not None:
        raise ClientError("give the value as an argument or with --file, not both", code=2)
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientError(f"--file: cannot read {file}: {exc.strerror}", code=2) from None
        kind = "file"
    else:
        if value is None:
            value = _read_hidden(f"Value of {key}: ")
        kind = "simple"
    api.request("PUT", f"/api/v2/pipelines/{pipeline}/secrets/{key}", json={"value": value, "type": kind})
    typer.echo(f"secret `{key}` set for pipeline `{pipeline}`", err=True)


def delete_secret(
    api: ApiClient, key: Annotated[str, typer.Argument(help="Secret name.")], pipeline: PipelineOpt = "default"
) -> None:
    """Remove a secret."""
    api.request("DELETE", f"/api/v2/pipelines/{pipeline}/secrets/{key}")
    typer.echo(f"secret `{key}` deleted from pipeline `{pipeline}`", err=True)


# ---- metrics ---------------------------------------------------------------------------------------------------


def list_metric_collections(api: ApiClient, pipeline: PipelineOpt = "default", output: OutputOpt = "table") -> None:
    """Metric collections and how many metrics each holds."""
    data = api.get(f"/api/v2/pipelines/{pipeline}/metric-collections")

    def table(rows: list[dict[str, Any]]) -> Table:
        out = _table("NAME", "COMPONENT", "METRICS", "ERROR")
        for r in rows:
            out.add_row(r["name"], r["component"], str(len(r["metrics"] or [])), r.get("error") or "")
        return out

    _emit(data, output, table)


def get_metric_collection(
    api: ApiClient, collection: Annotated[str, typer.Argument(help="processor | streams")],
    pipeline: PipelineOpt = "default", output: OutputOpt = "json",
) -> None:  # fmt: skip
    """The raw metrics of one collection."""
    _emit(api.get(f"/api/v2/pipelines/{pipeline}/metric-collections/{collection}"), output)


# ---- contexts (local) ------------------------------------------------------------------------------------------


def _contexts() -> ContextFile:
    try:
        return ContextFile()
    except ValueError as exc:
        raise ClientError(str(exc)) from None


def list_contexts(output: OutputOpt = "table") -> None:
    """Saved contexts; `*` marks the current one."""
    contexts = _contexts()
    data = [{"name": n, "current": n == contexts.current, **c.as_yaml()} for n, c in sorted(contexts.contexts.items())]

    def table(rows: list[dict[str, Any]]) -> Table:
        out = _table("CURRENT", "NAME", "API URL", "USER", "TLS")
        for r in rows:
            tls = "insecure" if r.get("insecure") else (f"cacert {r['cacert']}" if r.get("cacert") else "")
            out.add_row("*" if r["current"] else "", r["name"], r["api-url"], r.get("user", ""), tls)
        return out

    _emit(data, output, table)


def set_context(
    name: Annotated[str, typer.Argument(help="Context name.")],
    api_url: Annotated[str, typer.Option("--api-url", help="The rdi API.")] = DEFAULT_API_URL,
    user: Annotated[str | None, typer.Option("--user", help="User to log in as (password never stored).")] = None,
    cacert: Annotated[str | None, typer.Option("--cacert", help="CA of the API's TLS certificate.")] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Do not verify the TLS certificate.")] = False,
) -> None:
    """Create or update a context and make it the current one."""
    if cacert and insecure:
        raise ClientError("--cacert and --insecure exclude each other; give one", code=2)
    contexts = _contexts()
    contexts.contexts[name] = Context(name, api_url, user, cacert, insecure)
    contexts.current = name
    contexts.save()
    typer.echo(f"context `{name}` saved in {contexts.path} and in use", err=True)


def use_context(name: Annotated[str, typer.Argument(help="Context name.")]) -> None:
    """Make a context the current one."""
    contexts = _contexts()
    if name not in contexts.contexts:
        raise ClientError(f"no context `{name}` (contexts: {', '.join(sorted(contexts.contexts)) or 'none'})")
    contexts.current = name
    contexts.save()
    typer.echo(f"using context `{name}`", err=True)


def delete_context(name: Annotated[str, typer.Argument(help="Context name.")]) -> None:
    """Remove a context."""
    contexts = _contexts()
    if contexts.contexts.pop(name, None) is None:
        raise ClientError(f"no context `{name}`")
    if contexts.current == name:
        contexts.current = None
    contexts.save()
    typer.echo(f"deleted context `{name}`", err=True)


def describe_context(
    name: Annotated[str | None, typer.Argument(help="Context name (default: the current one).")] = None,
    output: OutputOpt = "yaml",
) -> None:
    """Show one context."""
    contexts = _contexts()
    chosen = name or contexts.current
    if chosen is None or chosen not in contexts.contexts:
        raise ClientError(f"no context `{chosen}`" if chosen else "no current context; see `rdi set-context`")
    data = {"name": chosen, "current": chosen == contexts.current, **contexts.contexts[chosen].as_yaml()}
    _emit(data, output, lambda d: "\n".join(f"{k}: {v}" for k, v in d.items()))


# ---- registration ----------------------------------------------------------------------------------------------

_API_COMMANDS: list[tuple[str, Callable[..., None], tuple[str, ...]]] = [
    ("info", info, ()),
    ("list", list_pipelines, ()),
    ("get", get, ()),
    ("describe", describe, ("status",)),
    ("deploy", deploy, ("set",)),
    ("delete", delete, ()),
    ("start", start, ()),
    ("stop", stop, ()),
    ("reset", reset, ()),
    ("list-jobs", list_jobs, ()),
    ("get-job", get_job, ("describe-job",)),
    ("list-dlqs", list_dlqs, ()),
    ("get-dlq", get_dlq, ()),
    ("list-dlq-records", list_dlq_records, ("get-rejected",)),
    ("list-secrets", list_secrets, ()),
    ("get-secret", get_secret, ("describe-secret",)),
    ("set-secret", set_secret, ()),
    ("delete-secret", delete_secret, ()),
    ("list-metric-collections", list_metric_collections, ()),
    ("get-metric-collection", get_metric_collection, ()),
]
_LOCAL_COMMANDS: list[tuple[str, Callable[..., None]]] = [
    ("list-contexts", list_contexts),
    ("set-context", set_context),
    ("use-context", use_context),
    ("delete-context", delete_context),
    ("describe-context", describe_context),
]


def register(app: typer.Typer) -> None:
    """Adds ``rdi api`` and every API-backed and context command to ``app``."""
    from rdi.cli.api_server import api

    app.command("api")(api)
    for name, func, aliases in _API_COMMANDS:
        command = _api_command(func)
        app.command(name)(command)
        for alias in aliases:
            app.command(alias, hidden=True)(command)
    for name, func in _LOCAL_COMMANDS:
        app.command(name)(_local_command(func))
