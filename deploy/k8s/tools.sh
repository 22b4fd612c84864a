#!/usr/bin/env bash
# Tools the chart's tests need, built or installed once and cached:
#
#   bash deploy/k8s/tools.sh helm     # prints the path of a helm v3 binary (built from the Go module proxy)
#
# helm is built with `go install helm.sh/helm/v3/cmd/helm@$RDI_HELM_VERSION` into
# $RDI_TOOLS_DIR/helm-<version>/ (default: $RDI_SERVICES_DIR/tools, else /tmp/rdi-test-services/tools),
# so a clean clone needs only Go (1.24+) and network access to the Go module proxy. The build takes a few
# minutes the first time; afterwards the cached binary is reused.
set -euo pipefail

HELM_VERSION="${RDI_HELM_VERSION:-v3.22.0}"
TOOLS="${RDI_TOOLS_DIR:-${RDI_SERVICES_DIR:-/tmp/rdi-test-services}/tools}"

die() {
    printf 'tools: ERROR: %s\n' "$*" >&2
    exit 1
}

helm_path() {
    local dir="$TOOLS/helm-$HELM_VERSION"
    local bin="$dir/helm"
    if [[ -x $bin ]] && "$bin" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
        echo "$bin"
        return
    fi
    command -v go >/dev/null || die "helm $HELM_VERSION is built from source: install Go 1.24+ (https://go.dev/dl/)"
    mkdir -p "$dir"
    printf 'tools: building helm %s from the Go module proxy (once; a few minutes)\n' "$HELM_VERSION" >&2
    # -ldflags: the version `helm version` prints (the release builds set it the same way).
    GOBIN="$dir" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install \
        -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2 || die "building helm $HELM_VERSION failed (see above)"
    "$bin" version --short >&2
    echo "$bin"
}

case "${1:-}" in
    helm) helm_path ;;
    *) echo "usage: bash deploy/k8s/tools.sh helm" >&2; exit 2 ;;
esac
