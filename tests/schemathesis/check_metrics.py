"""Parses a /metrics answer with the OpenMetrics parser of prometheus_client (the Prometheus
project's Python client) and checks that the families operators alert on are there (those with
samples whatever happened before the scrape)."""

import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = open(sys.argv[1], encoding="utf-8").read()
families = {f.name: f for f in text_string_to_metric_families(text)}
expected = {
    "clearway_http_requests": "counter",
    "clearway_http_request_duration_seconds": "histogram",
    "clearway_store_new_request_seconds": "histogram",
    "clearway_outbox_pending_deliveries": "gauge",
    "clearway_area_risk_lookups": "counter",
    "clearway_store_up": "gauge",
    "clearway_redis_up": "gauge",
}
wrong = {n: families[n].type if n in families else None for n, t in expected.items()
         if n not in families or families[n].type != t}
if wrong:
    sys.exit(f"families missing or of another type: {wrong}")
requests = sum(s.value for s in families["clearway_http_requests"].samples)
print(f"/metrics parsed as OpenMetrics: {len(families)} families, {int(requests)} requests counted")
