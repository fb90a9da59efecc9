#!/usr/bin/env python3
"""Writes the Grafana dashboards of dashboards/grafana/ (run it after editing a panel here; the JSON is committed).

Every panel's expressions are evaluated against a real Prometheus by tests/Lifecycle.EndToEnd.Tests/PrometheusTests.cs,
with $policy as ".*" and $__rate_interval as "1m".
"""
import json
import os

DS = {"type": "prometheus", "uid": "${datasource}"}
STALE = ('(time() - lifecycle_newest_snapshot_timestamp_seconds{policy=~"$policy"}) '
         '> on(policy, schedule) group_left() (2 * lifecycle_schedule_interval_seconds)')

# The simulator's price table (src/Lifecycle.Core/Simulation/SimulationModel.cs): USD per GB-month.
STANDARD_PRICE = 0.05
ARCHIVE_PRICE = 0.0125


class Layout:
    def __init__(self):
        self.x, self.y, self.row_h, self.next_id = 0, 0, 0, 1

    def place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos


def panel(layout, kind, title, targets, unit=None, w=12, h=8, description=None, options=None):
    p = {
        "id": layout.next_id,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": layout.place(w, h),
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend,
             **({"format": "table", "instant": True} if kind == "table" else {})}
            for i, (expr, legend) in enumerate(targets)
        ],
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
    }
    if description:
        p["description"] = description
    if options:
        p["options"] = options
    layout.next_id += 1
    return p


def dashboard(uid, title, description, panels, policy_variable=False):
    variables = [{
        "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "refresh": 1,
    }]
    if policy_variable:
        variables.append({
            "name": "policy", "label": "Policy", "type": "query", "datasource": DS,
            "query": {"query": "label_values(lifecycle_schedule_interval_seconds, policy)", "refId": "policies"},
            "definition": "label_values(lifecycle_schedule_interval_seconds, policy)",
            "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "refresh": 2, "sort": 1,
        })
    else:
        # The overview's stale-volume panels share the per-policy expression; here it spans every policy.
        variables.append({"name": "policy", "type": "constant", "query": ".*", "hide": 2})
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["lifecycle"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["lifecycle"], "asDropdown": True, "title": "Lifecycle"}],
        "panels": panels,
    }


def overview():
    l = Layout()
    return dashboard("lifecycle-overview", "Lifecycle · overview",
                     "Are the backups current, is the server healthy, what is it doing.", [
        panel(l, "stat", "Healthy (/healthz)", [("lifecycle_healthy", "")], w=4, h=5,
              description="1: /healthz answers 200; 0: degraded (503). Failing checks are in the next panel."),
        panel(l, "bargauge", "Health checks (1 ok, 0 failing)", [("lifecycle_health_check", "{{check}}")], w=8, h=5),
        panel(l, "stat", "Volumes whose newest snapshot is older than 2 intervals", [(f"count({STALE}) or vector(0)", "")], w=6, h=5,
              description="The alert LifecycleBackupStale fires for each of them."),
        panel(l, "stat", "Snapshots owned", [("sum(lifecycle_snapshots)", "")], w=6, h=5),
        panel(l, "timeseries", "Actions per minute by outcome", [("sum by (outcome) (rate(lifecycle_actions[$__rate_interval])) * 60", "{{outcome}}")]),
        panel(l, "timeseries", "Fire → create start delay", [
            ("histogram_quantile(0.5, sum by (le) (rate(lifecycle_fire_start_delay_seconds_bucket[$__rate_interval])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(lifecycle_fire_start_delay_seconds_bucket[$__rate_interval])))", "p99"),
        ], unit="s"),
        panel(l, "timeseries", "Oldest newest-snapshot age by policy and schedule",
              [("max by (policy, schedule) (time() - lifecycle_newest_snapshot_timestamp_seconds)", "{{policy}}/{{schedule}}")], unit="s"),
        panel(l, "timeseries", "Copy backlog by destination region",
              [("sum by (region) (lifecycle_action_queue_depth{kind=\"copy\"})", "{{region}}")]),
        panel(l, "timeseries", "Snapshots by state", [("sum by (state) (lifecycle_snapshots)", "{{state}}")]),
        panel(l, "timeseries", "Unfinished actions by kind", [("sum by (kind) (lifecycle_action_queue_depth)", "{{kind}}")]),
    ])


def per_policy():
    l = Layout()
    p = '{policy=~"$policy"}'
    return dashboard("lifecycle-policy", "Lifecycle · per policy",
                     "One policy (or several): its snapshots, how current each volume is, its actions and hooks.", [
        panel(l, "stat", "Paused", [(f"lifecycle_policy_paused{p}", "{{policy}}")], w=6, h=5),
        panel(l, "stat", "Schedule intervals", [(f"lifecycle_schedule_interval_seconds{p}", "{{policy}}/{{schedule}}")], unit="s", w=9, h=5),
        panel(l, "stat", "Stale volumes", [(f"count by (policy) ({STALE}) or on() vector(0)", "{{policy}}")], w=9, h=5),
        panel(l, "table", "Newest snapshot age per volume (seconds; stale above 2 × interval)", [
            (f"time() - lifecycle_newest_snapshot_timestamp_seconds{p}", ""),
        ], unit="s", w=12, h=10),
        panel(l, "timeseries", "Newest snapshot age in intervals (alert above 2)", [
            (f"(time() - lifecycle_newest_snapshot_timestamp_seconds{p}) / on(policy, schedule) group_left() lifecycle_schedule_interval_seconds{p}",
             "{{volume}} {{schedule}}"),
        ], w=12, h=10),
        panel(l, "timeseries", "Snapshots by region, tier and state",
              [(f"sum by (region, tier, state) (lifecycle_snapshots{p})", "{{region}} {{tier}} {{state}}")]),
        panel(l, "timeseries", "Actions by kind and outcome",
              [(f"sum by (kind, outcome) (increase(lifecycle_actions{p}[$__rate_interval]))", "{{kind}} {{outcome}}")]),
        panel(l, "timeseries", "Hooks by stage and outcome",
              [(f"sum by (stage, outcome) (increase(lifecycle_hooks{p}[$__rate_interval]))", "{{stage}} {{outcome}}")]),
        panel(l, "timeseries", "Fire → create start delay", [
            (f"histogram_quantile(0.5, sum by (le) (rate(lifecycle_fire_start_delay_seconds_bucket{p}[$__rate_interval])))", "p50"),
            (f"histogram_quantile(0.99, sum by (le) (rate(lifecycle_fire_start_delay_seconds_bucket{p}[$__rate_interval])))", "p99"),
        ], unit="s"),
    ], policy_variable=True)


def storage():
    l = Layout()
    gib = "1073741824"
    cost = (f"(sum by (region, tier) (lifecycle_stored_bytes{{tier=\"standard\"}}) * {STANDARD_PRICE}"
            f" or sum by (region, tier) (lifecycle_stored_bytes{{tier=\"archive\"}}) * {ARCHIVE_PRICE}) / {gib}")
    return dashboard("lifecycle-storage", "Lifecycle · storage and cost",
                     f"What the snapshots store and an estimate of what it costs (the simulator's prices: standard ${STANDARD_PRICE}, archive ${ARCHIVE_PRICE} per GB-month).", [
        panel(l, "stat", "Estimated monthly cost (USD)", [(f"sum({cost})", "")], unit="currencyUSD", w=6, h=5),
        panel(l, "stat", "Stored", [("sum(lifecycle_stored_bytes)", "")], unit="bytes", w=6, h=5),
        panel(l, "stat", "Engine verify: errors found by the last run", [("lifecycle_engine_verify_errors", "")], w=6, h=5),
        panel(l, "stat", "Engine gc: runs by outcome", [("sum by (outcome) (lifecycle_engine_gc_runs)", "{{outcome}}")], w=6, h=5),
        panel(l, "timeseries", "Stored bytes by region and tier", [("sum by (region, tier) (lifecycle_stored_bytes)", "{{region}} {{tier}}")], unit="bytes"),
        panel(l, "timeseries", "Estimated monthly cost by region and tier (USD)", [(cost, "{{region}} {{tier}}")], unit="currencyUSD"),
        panel(l, "timeseries", "Snapshots by tier", [("sum by (tier) (lifecycle_snapshots)", "{{tier}}")]),
        panel(l, "timeseries", "Snapshots by region", [("sum by (region) (lifecycle_snapshots)", "{{region}}")]),
        panel(l, "timeseries", "Engine gc: bytes reclaimed per day", [("increase(lifecycle_engine_gc_reclaimed_bytes[1d])", "reclaimed")], unit="bytes"),
        panel(l, "timeseries", "Engine verify: runs by outcome", [("sum by (outcome) (lifecycle_engine_verify_runs)", "{{outcome}}")]),
    ])


def errors():
    l = Layout()
    return dashboard("lifecycle-errors", "Lifecycle · errors and throttling",
                     "Provider errors and throttles by operation, failed actions and hooks, and how long things take.", [
        panel(l, "timeseries", "Provider calls per second by operation", [("sum by (operation) (rate(lifecycle_provider_calls[$__rate_interval]))", "{{operation}}")], unit="reqps"),
        panel(l, "timeseries", "Provider errors per second by operation", [("sum by (operation) (rate(lifecycle_provider_errors[$__rate_interval]))", "{{operation}}")], unit="reqps"),
        panel(l, "timeseries", "Provider throttles per second by operation", [("sum by (operation) (rate(lifecycle_provider_throttles[$__rate_interval]))", "{{operation}}")], unit="reqps"),
        panel(l, "timeseries", "Provider error ratio", [
            ("sum(rate(lifecycle_provider_errors[$__rate_interval])) / clamp_min(sum(rate(lifecycle_provider_calls[$__rate_interval])), 1e-9)", "errors / calls"),
        ], unit="percentunit"),
        panel(l, "timeseries", "Failed actions by policy and kind",
              [("sum by (policy, kind) (increase(lifecycle_actions{outcome=\"failed\"}[$__rate_interval]))", "{{policy}} {{kind}}")]),
        panel(l, "timeseries", "Actions given back for later (limits that clear)",
              [("sum by (kind) (increase(lifecycle_actions{outcome=\"retry-later\"}[$__rate_interval]))", "{{kind}}")]),
        panel(l, "timeseries", "Hook failures and timeouts by policy and stage",
              [("sum by (policy, stage) (increase(lifecycle_hooks{outcome=~\"failed|timedout\"}[$__rate_interval]))", "{{policy}} {{stage}}")]),
        panel(l, "timeseries", "Hook duration p95 by stage",
              [("histogram_quantile(0.95, sum by (le, stage) (rate(lifecycle_hook_duration_seconds_bucket[$__rate_interval])))", "{{stage}}")], unit="s"),
        panel(l, "timeseries", "Action duration p95 by kind",
              [("histogram_quantile(0.95, sum by (le, kind) (rate(lifecycle_action_duration_seconds_bucket[$__rate_interval])))", "{{kind}}")], unit="s"),
        panel(l, "timeseries", "Archive moves by outcome",
              [("sum by (outcome) (increase(lifecycle_actions{kind=\"archive\"}[$__rate_interval]))", "{{outcome}}")]),
    ])


if __name__ == "__main__":
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grafana")
    for name, build in [("lifecycle-overview", overview), ("lifecycle-policy", per_policy),
                        ("lifecycle-storage", storage), ("lifecycle-errors", errors)]:
        with open(os.path.join(here, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(build(), f, indent=2)
            f.write("\n")
