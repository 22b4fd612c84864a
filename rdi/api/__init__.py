"""The REST API (RDI v2 shapes) over the RDI DB: ``rdi api`` serves :func:`create_app` with uvicorn.

Every route but ``/api/v2/info``, ``/healthz`` and ``/api/v1/login`` needs a bearer token; see
:mod:`rdi.api.auth`. Routes are thin: the state lives in :mod:`rdi.control` (deployments, status, secrets).
"""

from __future__ import annotations

from rdi.api.app import ApiSettings, create_app, settings_from_env
from rdi.api.server import serve

__all__ = ["ApiSettings", "create_app", "serve", "settings_from_env"]
