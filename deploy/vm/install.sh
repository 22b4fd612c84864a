#!/usr/bin/env bash
# Install rdi on one VM of a two-VM (active/passive) deployment, as systemd services.
#
#   sudo bash deploy/vm/install.sh --rdi-db-url 'rediss://rdi:PASSWORD@rdi-db.example:12001/0'        # VM 1
#   sudo bash deploy/vm/install.sh --rdi-db-url '...same...' --keys-from /path/copied/from/vm1/keys    # VM 2
#   bash deploy/vm/install.sh --dry-run ...     # print every step, change nothing (no root needed)
#
# Layout (both VMs the same; the RDI DB — a Redis, ideally replicated with AOF — holds every piece of state):
#   * system user `rdi`; venv /opt/rdi/venv with this checkout installed (`rdi` on the venv's PATH);
#   * /etc/rdi/rdi.env (0640 root:rdi): RDI_DB_URL, RDI_SECRETS_KEY_FILE, RDI_API_JWT_KEY_FILE, RDI_INSTANCE_ID,
#     API host/port — read by both units; /etc/rdi/keys/secrets.key (Fernet key of the secret vault) and
#     /etc/rdi/keys/jwt.key (API token signing key). The two VMs MUST share both keys: install VM 1 first, copy
#     /etc/rdi/keys to VM 2 and pass it with --keys-from. Without the same secrets key, VM 2 cannot decrypt the
#     source passwords when it takes over.
#   * rdi-controller.service on both VMs: the two controllers compete for the lease `rdi:ha:lock` in the RDI DB
#     (TTL --lease-ttl-ms, default 10 s); the leader runs the collectors and the processor; when it dies or loses
#     the RDI DB, it stops its data plane before its lease can expire, and the other VM's controller takes over
#     (failover ≈ the lease TTL + the data plane's start).
#   * rdi-api.service on both VMs (stateless; put a load balancer or a floating IP in front).
#
# Upgrading rdi = a rolling restart: on the passive VM (rdi_operator_is_leader 0, or `redis-cli GET rdi:ha:lock`
# names the other VM) run this script again from the new checkout — it reinstalls the venv and restarts the units;
# then do the same on the active VM: its controller stops its data plane and releases the lease on SIGTERM, the
# already upgraded controller takes over within a second or two, and nothing is lost (collector positions and
# the processor's unacknowledged entries live in the RDI DB). Re-running the script keeps rdi.env and the keys.
#
# Options: --rdi-db-url URL (required on first install), --instance-id ID (default: the host name),
#   --keys-from DIR (secrets.key + jwt.key from the other VM), --prefix /opt/rdi, --etc /etc/rdi,
#   --state /var/lib/rdi, --user rdi, --python python3.11, --no-api (controller only), --no-start, --dry-run.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PREFIX=/opt/rdi
ETC=/etc/rdi
STATE=/var/lib/rdi
RDI_USER=rdi
PYTHON=python3.11
RDI_DB_URL=""
INSTANCE_ID="$(hostname -s 2>/dev/null || hostname)"
KEYS_FROM=""
WITH_API=1
START=1
DRY_RUN=0

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --rdi-db-url) RDI_DB_URL="$2"; shift 2 ;;
        --instance-id) INSTANCE_ID="$2"; shift 2 ;;
        --keys-from) KEYS_FROM="$2"; shift 2 ;;
        --prefix) PREFIX="$2"; shift 2 ;;
        --etc) ETC="$2"; shift 2 ;;
        --state) STATE="$2"; shift 2 ;;
        --user) RDI_USER="$2"; shift 2 ;;
        --python) PYTHON="$2"; shift 2 ;;
        --no-api) WITH_API=0; shift ;;
        --no-start) START=0; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { printf '== %s\n' "$*" >&2; }
run() {  # runs a command, or prints it in --dry-run
    if [[ $DRY_RUN -eq 1 ]]; then printf '+ %s\n' "$*"; else "$@"; fi
}
write_file() {  # write_file PATH MODE OWNER:GROUP < content
    local path=$1 mode=$2 owner=$3 content
    content="$(cat)"
    if [[ $DRY_RUN -eq 1 ]]; then
        printf '+ write %s (mode %s, %s):\n%s\n' "$path" "$mode" "$owner" "$(sed 's/^/|   /' <<<"$content")"
        return
    fi
    install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" /dev/null "$path"
    printf '%s\n' "$content" >"$path"
}

units=(rdi-controller)
[[ $WITH_API -eq 1 ]] && units+=(rdi-api)

if [[ $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
    echo "install.sh: run as root (or with --dry-run to see what it would do)" >&2
    exit 2
fi
if [[ ! -f $ETC/rdi.env && -z $RDI_DB_URL ]]; then
    echo "install.sh: --rdi-db-url is required on the first install ($ETC/rdi.env does not exist)" >&2
    exit 2
fi
if [[ -n $KEYS_FROM && ! ( -f $KEYS_FROM/secrets.key && -f $KEYS_FROM/jwt.key ) ]]; then
    echo "install.sh: --keys-from $KEYS_FROM must hold secrets.key and jwt.key (copied from the first VM)" >&2
    exit 2
fi
command -v "$PYTHON" >/dev/null || { echo "install.sh: $PYTHON not found (apt-get install python3.11-venv)" >&2; exit 2; }

say "system user $RDI_USER, folders $PREFIX $ETC $STATE"
if ! id -u "$RDI_USER" >/dev/null 2>&1; then
    run useradd --system --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$RDI_USER"
fi
run install -d -m 0755 "$PREFIX"
run install -d -m 0750 -o root -g "$RDI_USER" "$ETC" "$ETC/keys"
run install -d -m 0750 -o "$RDI_USER" -g "$RDI_USER" "$STATE"

say "venv $PREFIX/venv with rdi from $REPO"
[[ -x $PREFIX/venv/bin/python ]] || run "$PYTHON" -m venv "$PREFIX/venv"
run "$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
run "$PREFIX/venv/bin/python" -m pip install -q "$REPO"
run install -m 0644 "$REPO/deploy/vm/README.md" "$PREFIX/README-vm.md"

say "keys in $ETC/keys (never in the RDI DB)"
if [[ -n $KEYS_FROM ]]; then
    run install -m 0640 -o root -g "$RDI_USER" "$KEYS_FROM/secrets.key" "$KEYS_FROM/jwt.key" "$ETC/keys/"
else
    if [[ ! -f $ETC/keys/secrets.key ]]; then
        key="$([[ $DRY_RUN -eq 1 ]] && echo '<new Fernet key>' || "$PREFIX/venv/bin/python" -c \
            'from rdi.control.secrets import generate_key; print(generate_key().decode())')"
        write_file "$ETC/keys/secrets.key" 0640 "root:$RDI_USER" <<<"$key"
    fi
    if [[ ! -f $ETC/keys/jwt.key ]]; then
        key="$([[ $DRY_RUN -eq 1 ]] && echo '<64 random hex digits>' || "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')"
        write_file "$ETC/keys/jwt.key" 0640 "root:$RDI_USER" <<<"$key"
    fi
fi

if [[ ! -f $ETC/rdi.env ]]; then
    say "$ETC/rdi.env"
    write_file "$ETC/rdi.env" 0640 "root:$RDI_USER" <<EOF
# rdi environment, read by rdi-controller.service and rdi-api.service (systemd EnvironmentFile syntax).
RDI_DB_URL=$RDI_DB_URL
RDI_PIPELINE=default
RDI_INSTANCE_ID=$INSTANCE_ID
RDI_LEASE_TTL_MS=10000
RDI_CONTROLLER_METRICS_PORT=9122
RDI_METRICS_PORT=9121
RDI_SECRETS_KEY_FILE=$ETC/keys/secrets.key
RDI_API_JWT_KEY_FILE=$ETC/keys/jwt.key
RDI_API_HOST=0.0.0.0
RDI_API_PORT=8080
# RDI_API_TLS_ARGS=--tls-cert $ETC/tls.crt --tls-key $ETC/tls.key
EOF
else
    say "$ETC/rdi.env exists: kept"
fi

say "systemd units: ${units[*]}"
for unit in "${units[@]}"; do
    sed -e "/^# Installed by/d; s|@PREFIX@|$PREFIX|g; s|@ETC@|$ETC|g; s|@STATE@|$STATE|g; s|@USER@|$RDI_USER|g" \
        "$REPO/deploy/vm/systemd/$unit.service" | write_file "/etc/systemd/system/$unit.service" 0644 root:root
done
run systemctl daemon-reload
if [[ $START -eq 1 ]]; then
    for unit in "${units[@]}"; do
        run systemctl enable "$unit"
        run systemctl restart "$unit"  # an upgrade: the controller hands the lease over on SIGTERM
    done
fi
say "done: journalctl -u rdi-controller -f; curl -s localhost:9122/metrics | grep rdi_operator_"
