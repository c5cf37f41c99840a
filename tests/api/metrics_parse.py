"""Reads a Prometheus text exposition on stdin with the reference parser (prometheus_client,
Debian's python3-prometheus-client) and prints its samples as JSON, so the Rust tests check
what a real scraper understands rather than grepping lines. Exits non-zero if it cannot parse.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append(
            {"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value}
        )
json.dump(samples, sys.stdout)
