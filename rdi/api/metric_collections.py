"""Metric collections (``{name, component, metrics}``): what the processor exposes on its Prometheus endpoint,
and the per-stream counts kept in the RDI DB.

``processor`` is scraped from the processor's ``/metrics`` (``RDI_PROCESSOR_METRICS_URL``, default
``http://127.0.0.1:9121/metrics``); when it cannot be reached the collection says why in ``error`` and is empty.
``streams`` comes from the RDI DB (:func:`rdi.api.observed.stream_counts`) and is always there.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["scrape_processor"]

_TIMEOUT_S = 2.0


def scrape_processor(url: str) -> dict[str, Any]:
    """The ``processor`` collection: one ``{name, labels, value}`` per sample (NaN/inf become null)."""
    try:
        reply = httpx.get(url, timeout=_TIMEOUT_S)
        reply.raise_for_status()
    except httpx.HTTPError as exc:
        return {"name": "processor", "component": "processor", "metrics": [], "error": f"{url}: {exc}"}
    samples = []
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            value = None if math.isnan(sample.value) or math.isinf(sample.value) else sample.value
            samples.append({"name": sample.name, "labels": dict(sample.labels), "value": value})
    return {"name": "processor", "component": "processor", "metrics": samples, "error": None}
