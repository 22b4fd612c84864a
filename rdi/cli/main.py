"""The `rdi` command. Offline commands (scaffold, validate, dry-run, demo) need no database.

User mistakes end with one line per problem on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from rdi.config import Pipeline, load_pipeline
from rdi.demo import DEMO_DIR
from rdi.dry_run import dry_run as dry_run_events
from rdi.dry_run import validate_pipeline
from rdi.errors import ConfigError, format_config_error
from rdi.scaffold import DB_TYPES, DbType, Strategy, scaffold_files

__all__ = ["app", "main"]

app = typer.Typer(
    name="rdi",
    help="Redis Data Integration, open source: CDC into Redis and write-behind out of it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DirOption = Annotated[
    Path,
    typer.Option("--dir", envvar="RDI_PIPELINE_DIR", help="Pipeline folder (config.yaml + jobs/)."),
]


@app.callback()
def _root(
    ctx: typer.Context,
    rdi_url: Annotated[
        str,
        typer.Option(
            "--rdi-url",
            envvar="RDI_DB_URL",
            help="The RDI database (redis:// or rediss://); else the file RDI_DB_URL_FILE names.",
        ),
    ] = "",
) -> None:
    from rdi.runtime import rdi_url_from_env

    try:
        ctx.obj = {"rdi_url": rdi_url or rdi_url_from_env()}
    except ConfigError as exc:
        raise _config_failed(exc) from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _config_failed(error: ConfigError) -> typer.Exit:
    typer.echo(format_config_error(error), err=True)
    return typer.Exit(2)


def _load(directory: Path, *, resolve_secrets: bool) -> Pipeline:
    try:
        return load_pipeline(directory, resolve_secrets=resolve_secrets)
    except ConfigError as exc:
        raise _config_failed(exc) from None


@app.command()
def scaffold(
    db_type: Annotated[str, typer.Option("--db-type", help=f"Source database: {', '.join(DB_TYPES)}.")],
    directory: Annotated[Path | None, typer.Option("--dir", help="Write the files here (else print).")] = None,
    strategy: Annotated[str, typer.Option(help="ingest | write_behind")] = "ingest",
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write a starter pipeline for a database type."""
    if db_type not in DB_TYPES:
        raise _fail(f"--db-type: `{db_type}` is not one of {', '.join(DB_TYPES)}")
    if strategy not in ("ingest", "write_behind"):
        raise _fail(f"--strategy: `{strategy}` is not one of ingest, write_behind")
    try:
        files = scaffold_files(_as_db_type(db_type), _as_strategy(strategy))
    except ValueError as exc:
        raise _fail(f"--db-type: {exc}") from None
    if directory is None:
        for path, text in files.items():
            typer.echo(f"# --- {path}\n{text}")
        return
    existing = [p for p in files if (directory / p).exists()]
    if existing and not force:
        raise _fail(f"{directory / existing[0]} exists; use --force to overwrite")
    for path, text in files.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        typer.echo(f"wrote {target}")


def _as_db_type(name: str) -> DbType:
    return next(t for t in DB_TYPES if t == name)


def _as_strategy(name: str) -> Strategy:
    return "write_behind" if name == "write_behind" else "ingest"


@app.command()
def validate(
    directory: DirOption = Path("."),
    secrets: Annotated[
        bool,
        typer.Option(help="Require every ${NAME} reference to resolve (env vars / RDI_SECRETS_DIR)."),
    ] = False,
) -> None:
    """Check a pipeline folder offline; print every problem as file:line: field: message."""
    try:
        pipeline = validate_pipeline(directory, resolve_secrets=secrets)
    except ConfigError as exc:
        raise _config_failed(exc) from None
    jobs = ", ".join(sorted(pipeline.jobs)) or "none (built-in mapping)"
    typer.echo(f"{directory}: valid ({len(pipeline.jobs)} job(s): {jobs})")


@app.command("dry-run")
def dry_run(
    job: Annotated[str, typer.Option("--job", help="Job name (file stem in jobs/).")],
    input_file: Annotated[Path, typer.Option("--input", help="JSON list of Debezium change events.")],
    directory: DirOption = Path("."),
) -> None:
    """Run change events through one job; print the transformed records and the Redis commands."""
    pipeline = _load(directory, resolve_secrets=False)
    if job not in pipeline.jobs:
        known = ", ".join(sorted(pipeline.jobs)) or "none"
        raise _fail(f"--job: no job `{job}` in {directory / 'jobs'} (jobs: {known})")
    try:
        raw = orjson.loads(input_file.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise _fail(f"--input: cannot read {input_file}: {exc}") from None
    if not isinstance(raw, list):
        raise _fail(f"--input: {input_file} must hold a JSON list of events, got {type(raw).__name__}")
    try:
        results = dry_run_events(job, pipeline.jobs[job], pipeline.config.processors, raw)
    except ConfigError as exc:
        raise _config_failed(exc) from None
    sys.stdout.write(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode() + "\n")


def main() -> None:
    app()


@app.command()
def collector(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--source", help="Source name in config.yaml.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", envvar="RDI_PIPELINE_DIR", help="Pipeline folder; else the one deployed in the RDI DB."),
    ] = None,
    pipeline_name: Annotated[str, typer.Option("--pipeline", envvar="RDI_PIPELINE", help="Pipeline name.")] = "default",
    health_port: Annotated[
        str,
        typer.Option(
            "--health-port", envvar="RDI_COLLECTOR_HEALTH_PORT", help="Serve /healthz and /readyz here (off: none)."
        ),
    ] = "off",
) -> None:
    """Capture a source's changes into the RDI database's staging streams (runs until SIGTERM/SIGINT)."""
    health = _port_or_off("--health-port", health_port)

    def load(resolve_secrets: bool) -> Pipeline:
        if directory is not None:
            return _load(directory, resolve_secrets=resolve_secrets)
        return _load_deployed(ctx.obj["rdi_url"], pipeline_name, resolve_secrets=resolve_secrets)

    pipeline = load(True)
    where = str(directory / "config.yaml") if directory else f"the pipeline `{pipeline_name}` deployed in the RDI DB"
    legacy = pipeline.write_behind and not pipeline.config.redis_sources
    if source not in pipeline.config.sources and not legacy:  # legacy write-behind: any name captures the RDI DB
        known = ", ".join(sorted(pipeline.config.sources)) or "none"
        raise _fail(f"--source: no source `{source}` in {where} (sources: {known})")
    from rdi.cli.collector import run_collector  # imports drivers; keep them out of offline commands

    # Debezium Server's properties file keeps the ${...} references: their values go to its environment only
    config = pipeline.config.sources.get(source)  # None: the legacy write-behind capture of the RDI DB
    written = load(False) if config is not None and config.uses_debezium_server else None
    raise typer.Exit(run_collector(pipeline, source, ctx.obj["rdi_url"], written=written, health_port=health))


def _port_or_off(option: str, text: str) -> int | None:
    """A port number option that `off`/`none`/empty disables."""
    if text.strip().lower() in ("off", "none", ""):
        return None
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise _fail(f"{option}: expected a port number (0-65535) or `off`, got {text!r}")
    return port


def _deployed_flow(rdi_url: str, name: str) -> str:
    """The flow of the pipeline deployed in the RDI DB; ``flows.ingest`` when it cannot be read now (the dataflow
    then says why, and the controller restarts the processor after a deploy that changes the flow)."""
    import redis

    from rdi.runtime import pipeline_from_files

    try:
        files = _deployed_files(rdi_url, name)
        return pipeline_from_files(files, resolve_secrets=False).processor_flow if files else "flows.ingest"
    except (ConfigError, redis.RedisError):
        return "flows.ingest"


def _deployed_files(rdi_url: str, name: str) -> dict[str, str] | None:
    import redis  # keeps drivers out of offline commands

    from rdi.runtime import deployed_files

    client = redis.Redis.from_url(rdi_url)
    try:
        return deployed_files(client, name)
    finally:
        client.close()


def _load_deployed(rdi_url: str, name: str, *, resolve_secrets: bool) -> Pipeline:
    import redis  # keeps drivers out of offline commands

    from rdi.runtime import pipeline_from_files

    try:
        files = _deployed_files(rdi_url, name)
        if files is None:
            raise _fail(f"no pipeline `{name}` deployed in the RDI DB; deploy one or pass --dir")
        return pipeline_from_files(files, resolve_secrets=resolve_secrets)
    except ConfigError as exc:
        raise _config_failed(exc) from None
    except redis.RedisError as exc:
        raise _fail(f"cannot read the pipeline `{name}` from the RDI DB: {exc}") from None


@app.command()
def processor(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", envvar="RDI_PIPELINE_DIR", help="Pipeline folder; else the one deployed in the RDI DB."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", envvar="BYTEWAX_WORKERS_PER_PROCESS", min=1, help="Worker threads per process."
        ),
    ] = 1,
    process_id: Annotated[
        int | None,
        typer.Option(
            "--process-id", "-i", envvar="BYTEWAX_PROCESS_ID", min=0, help="This process's index in a cluster."
        ),
    ] = None,
    addresses: Annotated[
        str | None,
        typer.Option(
            "--addresses", "-a", envvar="BYTEWAX_ADDRESSES", help="host:port;host:port… of every cluster process."
        ),
    ] = None,
    metrics_port: Annotated[
        str, typer.Option("--metrics-port", envvar="RDI_METRICS_PORT", help="Prometheus port (0 any, off none).")
    ] = "9121",
    pipeline_name: Annotated[str, typer.Option("--pipeline", envvar="RDI_PIPELINE", help="Pipeline name.")] = "default",
    restart: Annotated[bool, typer.Option(help="Restart the dataflow when it dies.")] = True,
) -> None:
    """Run the processor (Bytewax `flows.ingest`, or `flows.write_behind` for a write-behind pipeline) until
    SIGTERM/SIGINT, restarting it if it dies."""
    flow = "flows.ingest"
    if directory is not None:
        flow = _load(directory, resolve_secrets=True).processor_flow  # every problem now, before starting anything
    else:
        flow = _deployed_flow(ctx.obj["rdi_url"], pipeline_name)
    # Bytewax's Kubernetes contract: the process id from the pod's ordinal, the addresses from a file.
    import os

    if process_id is None and addresses is not None:
        raise _fail("--addresses needs --process-id (or BYTEWAX_POD_NAME + BYTEWAX_STATEFULSET_NAME)")
    in_statefulset = bool(os.environ.get("BYTEWAX_POD_NAME") and os.environ.get("BYTEWAX_STATEFULSET_NAME"))
    if (process_id is not None or in_statefulset) and addresses is None and not os.environ.get("BYTEWAX_HOSTFILE_PATH"):
        raise _fail("--process-id needs --addresses (BYTEWAX_ADDRESSES, or BYTEWAX_HOSTFILE_PATH: one per line)")
    from rdi.cli.processor import bytewax_command, run_processor

    env = {"RDI_DB_URL": ctx.obj["rdi_url"], "RDI_METRICS_PORT": metrics_port, "RDI_PIPELINE": pipeline_name}
    if directory is not None:
        env["RDI_PIPELINE_DIR"] = str(directory.resolve())
    if process_id is not None:
        env["BYTEWAX_PROCESS_ID"] = str(process_id)
    command = bytewax_command(flow, workers=workers, process_id=process_id, addresses=addresses)
    raise typer.Exit(run_processor(command, env, restart=restart))


@app.command()
def controller(
    ctx: typer.Context,
    pipeline_name: Annotated[str, typer.Option("--pipeline", envvar="RDI_PIPELINE", help="Pipeline name.")] = "default",
    instance_id: Annotated[
        str | None,
        typer.Option("--instance-id", envvar="RDI_INSTANCE_ID", help="This controller's id in the HA lease."),
    ] = None,
    lease_ttl_ms: Annotated[
        int, typer.Option("--lease-ttl-ms", envvar="RDI_LEASE_TTL_MS", min=1000, help="HA lease time to live.")
    ] = 10_000,
    metrics_port: Annotated[
        str, typer.Option("--metrics-port", envvar="RDI_CONTROLLER_METRICS_PORT", help="Prometheus port (off: none).")
    ] = "9122",
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Processor worker threads per process.")] = 1,
    processes: Annotated[int, typer.Option("--processes", min=1, help="Processor processes (a Bytewax cluster).")] = 1,
    cluster_port: Annotated[
        int, typer.Option("--cluster-port", min=1, max=65535, help="First port of the processor cluster.")
    ] = 9400,
    processor_metrics_port: Annotated[
        str, typer.Option("--processor-metrics-port", envvar="RDI_METRICS_PORT", help="Processor's RDI_METRICS_PORT.")
    ] = "9121",
    data_plane: Annotated[
        str,
        typer.Option(
            "--data-plane",
            envvar="RDI_CONTROLLER_DATA_PLANE",
            help="run: the leader runs collectors + processor; external: others do (Kubernetes), status only.",
        ),
    ] = "run",
) -> None:
    """Run the control plane: the data plane of the deployed pipeline, HA lease, status (until SIGTERM/SIGINT)."""
    import os  # keeps the controller's imports out of offline commands
    import socket

    from rdi.cli.controller import run_controller
    from rdi.control.controller import ControllerOptions
    from rdi.control.dataplane import ProcessorOptions

    if data_plane not in ("run", "external"):
        raise _fail(f"--data-plane: expected `run` or `external`, got {data_plane!r}")
    port: int | None = None
    if metrics_port.strip().lower() not in ("off", "none", ""):
        try:
            port = int(metrics_port)
        except ValueError:
            raise _fail(f"--metrics-port: expected a port number or `off`, got {metrics_port!r}") from None
    options = ControllerOptions(
        rdi_url=ctx.obj["rdi_url"],
        instance_id=instance_id or f"{socket.gethostname()}-{os.getpid()}",
        pipeline=pipeline_name,
        lease_ttl_ms=lease_ttl_ms,
        processor=ProcessorOptions(
            workers=workers, processes=processes, cluster_port=cluster_port, metrics_port=processor_metrics_port
        ),
        external_data_plane=data_plane == "external",
    )
    raise typer.Exit(run_controller(options, metrics_port=port))


@app.command()
def demo(
    offline: Annotated[
        bool, typer.Option("--offline", help="No services: sample change events through the demo's orders job.")
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir", envvar="RDI_DEMO_DIR", help="State folder (default ~/.cache/rdi-demo; as root /var/tmp/rdi-demo)."
        ),
    ] = None,
    pg_port: Annotated[int, typer.Option("--pg-port", envvar="RDI_DEMO_PG_PORT", min=1, max=65535)] = 7432,
    redis_port: Annotated[int, typer.Option("--redis-port", envvar="RDI_DEMO_REDIS_PORT", min=1, max=65535)] = 7379,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", envvar="RDI_DEMO_METRICS_PORT", min=1, max=65535, help="Processor metrics.")
    ] = 7121,
    orders: Annotated[int, typer.Option("--orders", min=1, help="Orders in the initial snapshot.")] = 2000,
    interval: Annotated[float, typer.Option("--interval", min=0.01, help="Seconds between live changes.")] = 0.2,
    duration: Annotated[
        float | None, typer.Option("--duration", min=1, help="Stop after this many seconds (default: at Ctrl-C).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the data and logs when stopping.")] = False,
) -> None:
    """A live pipeline: embedded PostgreSQL + Valkey, the collector and the processor, live changes (Ctrl-C stops)."""
    if offline:
        _offline_demo()
        return
    from rdi.demo.live import DemoOptions, LiveDemo, default_state_dir  # starts services; keep out of other commands

    options = DemoOptions(
        state_dir=state_dir or default_state_dir(), pg_port=pg_port, redis_port=redis_port,
        metrics_port=metrics_port, orders=orders, interval=interval, duration=duration, keep=keep,
    )  # fmt: skip
    ports = {"--pg-port": pg_port, "--redis-port": redis_port, "--metrics-port": metrics_port}
    if len(set(ports.values())) < len(ports):
        raise _fail(f"{', '.join(ports)} must differ, got {', '.join(str(p) for p in ports.values())}")
    raise typer.Exit(LiveDemo(options).run())


def _offline_demo() -> None:
    typer.echo("rdi demo --offline: sample Debezium events through the demo pipeline's orders job.\n", err=True)
    typer.echo(f"$ rdi validate --dir {DEMO_DIR / 'pipeline'}", err=True)
    validate(DEMO_DIR / "pipeline", secrets=False)
    typer.echo(
        f"$ rdi dry-run --dir {DEMO_DIR / 'pipeline'} --job orders --input {DEMO_DIR / 'events.json'}",
        err=True,
    )
    dry_run("orders", DEMO_DIR / "events.json", DEMO_DIR / "pipeline")


def _register_api_commands() -> None:
    from rdi.cli.remote import register  # the API-backed commands (rdi-compat-spec §5.1) and `rdi api`

    register(app)


_register_api_commands()
