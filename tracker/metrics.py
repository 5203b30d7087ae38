"""
Prometheus metrics (prometheus-client), served at `/metrics` to a scraper that sends
`Authorization: Bearer <METRICS_TOKEN>`; without METRICS_TOKEN there is no endpoint.
docs/operations.md lists them, with the queries a Grafana dashboard needs.

Two kinds:
- counted where they happen: request latency (tracker/middleware.py), tasks by
  outcome (tracker/celery.py), flags raised and withdrawn (corridors/metrics.py).
  gunicorn and Celery run several processes: with PROMETHEUS_MULTIPROC_DIR set (the
  same directory for the web and the worker processes of a host, deploy/), every
  process writes its counts there and the endpoint adds them up, so a worker's
  counts reach it too;
- read from the database when scraped (SCRAPE_COLLECTORS): the same answer
  whichever process or host is asked (pending checks, the age of the oldest, flags
  by status, the sweep's last run).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUEST_LATENCY = Histogram(
    "tracker_http_request_duration_seconds",
    "Time to answer a request, by view (URL name), method and status code.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TASKS = Counter(
    "tracker_tasks",
    "Celery tasks run, by task name and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
)

# Collectors that read the database when scraped; apps add theirs in AppConfig.ready().
SCRAPE_COLLECTORS: list[Collector] = []


def _registries() -> Iterable[CollectorRegistry]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
        yield counted
    else:
        yield REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    for collector in SCRAPE_COLLECTORS:
        scraped.register(collector)
    yield scraped


def _authorised(request: HttpRequest) -> bool:
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())


def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorised(request):
        response = HttpResponse("A metrics token is needed: Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = b"".join(generate_latest(registry) for registry in _registries())
    response = HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
