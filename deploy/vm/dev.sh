#!/usr/bin/env bash
# One entry point for a newcomer on a fresh Debian machine (see README.md):
#
#   bash deploy/vm/dev.sh demo   # embedded Postgres + Redis, sample data, live changes flowing into Redis
#   bash deploy/vm/dev.sh test   # installs and starts the test services (and helm), runs lint, types and the whole test suite
#
# Both create ./.venv (Python 3.11) and install the project with pinned dependencies first; idempotent.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

say() { printf '\n== %s\n' "$*" >&2; }

python_311() {
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$candidate"
            return
        fi
    done
    say "installing Python 3.11 (apt)"
    apt-get update -qq && apt-get install -y -qq python3.11 python3.11-venv >/dev/null
    echo python3.11
}

ensure_venv() {
    if [[ ! -x .venv/bin/python ]]; then
        say "creating .venv"
        "$(python_311)" -m venv .venv
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp=.venv/.rdi-installed
    if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
        say "installing rdi and its pinned dependencies"
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e '.[dev]'
        touch "$stamp"
    fi
}

run_tests() {
    ensure_venv
    say "test services: install + start (PostgreSQL, MariaDB, Redis + RedisJSON)"
    bash tests/services.sh install all
    say "helm (for the Kubernetes chart's tests; built once from the Go module proxy)"
    bash deploy/k8s/tools.sh helm >/dev/null
    say "ruff"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    say "mypy"
    .venv/bin/mypy rdi operators flows
    say "pytest"
    local rc=0
    .venv/bin/python -m pytest "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        echo "pytest collected no tests: failing (a test run that runs nothing is not a pass)" >&2
        exit 1
    fi
    exit $rc
}

case "${1:-}" in
    test) shift; run_tests "$@" ;;
    demo) shift; ensure_venv; exec .venv/bin/rdi demo "$@" ;;
    *) echo "usage: bash deploy/vm/dev.sh test|demo" >&2; exit 2 ;;
esac
