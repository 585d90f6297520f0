"""Writes kubelite-dashboard.json (Grafana, schema 39) beside this file: one panel per query below.

    python deploy/grafana/dashboard.py

Every query is evaluated against a real Prometheus scraping a `kl up --prometheus` cluster in
tests/cli/test_up_prometheus.py; the datasource is the `datasource` template variable.
"""
import json
from pathlib import Path
panels_spec = [
    ("API request rate by verb", 'sum by (verb) (rate(apiserver_request_total[1m]))', "reqps"),
    ("API latency p99 by verb (watches excluded)", 'histogram_quantile(0.99, sum by (le, verb) (rate(apiserver_request_duration_seconds_bucket[5m])))', "s"),
    ("API error rate (share of requests)", 'sum by (code) (rate(apiserver_request_total{code=~"4..|5.."}[1m])) / ignoring(code) group_left sum(rate(apiserver_request_total[1m]))', "percentunit"),
    ("Open watches by resource", 'sum by (resource) (kubelite_gateway_watches)', "short"),
    ("Scheduling attempts by result", 'sum by (result) (rate(scheduler_schedule_attempts_total[1m]))', "ops"),
    ("Scheduling latency p99 (attempt, and creation to bound)", 'histogram_quantile(0.99, sum by (le) (rate(scheduler_scheduling_attempt_duration_seconds_bucket[5m])))', "s"),
    ("Pods by phase", 'sum by (phase) (kubelite_pods)', "short"),
    ("Running pods by node", 'sum by (node) (kubelite_pods{phase="Running"})', "short"),
    ("Node CPU (cores)", 'rate(node_cpu_usage_seconds_total[1m])', "short"),
    ("Node memory working set", 'node_memory_working_set_bytes', "bytes"),
    ("Workqueue depth by controller", 'sum by (name) (workqueue_depth)', "short"),
    ("Workqueue latency p99 by controller", 'histogram_quantile(0.99, sum by (le, name) (rate(workqueue_queue_duration_seconds_bucket[5m])))', "s"),
    ("etcd request latency p99 by operation (gateway, controller-manager)", 'histogram_quantile(0.99, sum by (le, operation) (rate(etcd_request_duration_seconds_bucket[5m])))', "s"),
    ("etcd request rate by type", 'sum by (type) (rate(etcd_request_duration_seconds_count[1m]))', "ops"),
    ("etcd WAL fsync p99", 'histogram_quantile(0.99, sum by (le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket[5m])))', "s"),
    ("etcd backend commit p99", 'histogram_quantile(0.99, sum by (le) (rate(etcd_disk_backend_commit_duration_seconds_bucket[5m])))', "s"),
]
extra = {
    "Scheduling latency p99 (attempt, and creation to bound)": 'histogram_quantile(0.99, sum by (le) (rate(scheduler_pod_scheduling_duration_seconds_bucket[5m])))',
    "Node CPU (cores)": None,
}
legends = {"Node CPU (cores)": "{{node}}", "Node memory working set": "{{node}}"}
panels = []
for i, (title, expr, unit) in enumerate(panels_spec):
    targets = [{"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr, "refId": "A",
                "legendFormat": legends.get(title, "__auto")}]
    if extra.get(title):
        targets.append({"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": extra[title], "refId": "B",
                        "legendFormat": "creation to bound"})
    panels.append({"id": i + 1, "type": "timeseries", "title": title,
                   "datasource": {"type": "prometheus", "uid": "${datasource}"},
                   "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                   "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                   "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                   "targets": targets})
dashboard = {
    "title": "kubelite", "uid": "kubelite-overview", "schemaVersion": 39, "version": 1, "editable": True,
    "tags": ["kubelite", "kubernetes"], "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus",
                             "current": {}, "hide": 0}]},
    "annotations": {"list": []}, "panels": panels,
}
open(Path(__file__).with_name("kubelite-dashboard.json"), "w").write(json.dumps(dashboard, indent=2) + "\n")
