"""Prometheus metrics of one process: one registry, made by its composition root and handed down.

The APIs expose them at ``GET /metrics``; the relay, each projection worker and ingest
on ``--metrics-port`` (``METRICS_PORT``). Names follow Prometheus conventions
(``_total`` counters, ``_seconds`` histograms); labels stay few and bounded.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("ct_http_requests_total", "HTTP requests answered", ["method", "route", "status"],
                                registry=r)
        self.request_seconds = Histogram("ct_http_request_seconds", "HTTP request latency", ["method", "route"],
                                         registry=r)
        self.events = Counter("ct_events_total", "events published (relay) or applied (projection)",
                              ["component"], registry=r)
        self.batches = Counter("ct_batches_total", "batches handled", ["component"], registry=r)
        self.batch_seconds = Histogram("ct_batch_seconds", "time to handle one batch", ["component"], registry=r)
        self.dead_letters = Counter("ct_dead_letters_total", "messages or events set aside with a reason",
                                    ["component"], registry=r)
        self.retries = Counter("ct_retries_total", "steps retried after a database or broker failure",
                               ["component", "error"], registry=r)
        self.lag = Gauge("ct_lag_events", "events not yet handled: the event store's notifications (relay, "
                         "projection), the ingest topic's messages (ingest)", ["component"], registry=r)
        self.parked = Gauge("ct_parked_customers", "customers a projection holds back after a dead letter",
                            ["component"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the metrics over HTTP on a port of their own (workers without a web server)."""
        start_http_server(port, addr=host, registry=self.registry)
