"""The control plane: what is deployed in the RDI DB, what the operator wants, what the leader observed.

:mod:`rdi.control.store` reads and writes deployments and status; :mod:`rdi.control.secrets` keeps the
encrypted ``${NAME}`` values. The API (:mod:`rdi.api`), the CLI and the controller all go through them.
"""

from __future__ import annotations

from rdi.control.secrets import SecretVault, SecretVaultError
from rdi.control.store import (
    Component,
    Deployed,
    PipelineMeta,
    PipelineNotFoundError,
    PipelineStatus,
    PipelineStore,
    write_status,
)

__all__ = [
    "Component",
    "Deployed",
    "PipelineMeta",
    "PipelineNotFoundError",
    "PipelineStatus",
    "PipelineStore",
    "SecretVault",
    "SecretVaultError",
    "write_status",
]
