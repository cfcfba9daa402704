"""Prometheus alerting rules, their promtool unit tests, and a Grafana dashboard per use case,
generated from the use case's config (SLA from `rollout.sla_ms`, thresholds from
`monitoring:`) into monitoring/:

    monitoring/prometheus.yml              a scrape + rule_files + Alertmanager example
    monitoring/alertmanager.yml            routes by severity to a webhook, inhibitions
                                           (`amtool check-config`), Slack / e-mail examples
    monitoring/rules/<use case>.yml        alerting rules (`promtool check rules`)
    monitoring/tests/<use case>.test.yml   one unit test per alert (`promtool test rules`)
    monitoring/dashboards/<use case>.json  Grafana dashboard (datasource chosen on import)

Metrics the rules read: BentoML's own request counter and duration histogram (label
`service_name`: the use case's service, or `pilotpack` for the root service with
`/<use case>/<route>` endpoints), the pack's `pilotpack_*` series from the services (live PSI,
scores, variants, rollbacks) and from `pilotpack monitor --prom-file` (realised metrics,
batch PSI) through node_exporter's textfile collector, and Prometheus' own `up` of the scrape
job named after the use case (or `pilotpack`, the root service). Every alert links its
runbook section (`monitoring.runbook_url`, docs/monitoring.md by default).

Regenerate after changing a config: `pilotpack monitoring generate`; a test fails when the
committed files differ from what the configs give.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from shared.core.config import MonitoringConfig
from shared.core.usecase import get_use_case, registry
from shared.serve.metrics import latency_buckets

ROOT_SERVICE = "pilotpack"
INF = float("inf")
FIVE_XX = 'http_response_code=~"5.."'
DOWN = "PilotpackServiceDown"
# Alerts that read the service's own request series: noise while it is down (inhibited).
CHILDREN = ("PilotpackLatencyP99AboveSLA", "PilotpackErrorRateHigh", "PilotpackTrafficStopped")


def _live_drift(uc: Any) -> bool:
    """Use cases whose service exports the live PSI gauges (row-per-record services); the
    others' drift only `pilotpack monitor --prom-file` measures (forecasting: series features
    of the recent history): a dashboard panel, no alert (no live gauge to hold `for`)."""
    return uc.task.live_drift


def _test_metric(uc: Any) -> str:
    """The realised metric the promtool test feeds (any label value fires; this one reads right)."""
    return uc.task.realised_metric


def selector(uc: Any, extra: str = "") -> str:
    """BentoML's request series of this use case's main endpoint, alone or in the root service."""
    route = uc.task.route
    sel = f'service_name=~"{uc.name}|{ROOT_SERVICE}", endpoint=~"{route}|/{uc.name}{route}"' + (
        f", {extra}" if extra else ""
    )
    return "{" + sel + "}"


def jobs(uc: Any) -> str:
    """Prometheus' `up` of the scrape jobs that serve this use case: its own or the root one."""
    return f'up{{job=~"{uc.name}|{ROOT_SERVICE}"}}'


def runbook(cfg: Any, alert: str) -> str:
    """The runbook section of an alert: docs/monitoring.md's heading, as mkdocs anchors it."""
    return f"{cfg.monitoring.runbook_url}#{alert.lower()}"


def rules(uc: Any, cfg: Any) -> dict[str, Any]:
    """The alerting rules of one use case, as the YAML document Prometheus reads."""
    m, sla_s = cfg.monitoring, cfg.rollout.sla_ms / 1000
    name = uc.name
    req = "bentoml_service_request_total"
    errors = selector(uc, FIVE_XX)
    err_5m = f"sum(rate({req}{errors}[5m]))"
    all_5m = f"sum(rate({req}{selector(uc)}[5m]))"
    err_1d = f"sum(rate({req}{errors}[1d]))"
    all_1d = f"sum(rate({req}{selector(uc)}[1d]))"
    ok = selector(uc, 'http_response_code="200"')
    labels = {"use_case": name}
    out = [
        {
            "alert": DOWN,
            "expr": f"{jobs(uc)} == 0 or absent({jobs(uc)})",
            "for": f"{m.down_for_minutes}m",
            "labels": labels | {"severity": "page"},
            "annotations": {
                "summary": f"{name}: the service is down or not scraped",
                "description": f"Prometheus cannot scrape the `{name}` (or `{ROOT_SERVICE}`) job "
                "(`up == 0`), or no such target exists any more (`absent(up)`): the service is "
                "dead, unreachable or gone from discovery. Its latency, error and traffic alerts "
                "are held back until it is back.",
            },
        },
        {
            "alert": "PilotpackLatencyP99AboveSLA",
            "expr": (
                "histogram_quantile(0.99, sum by (le) (rate("
                f"bentoml_service_request_duration_seconds_bucket{ok}[5m]))) > {sla_s:g}"
            ),
            "for": f"{m.latency_for_minutes}m",
            "labels": labels | {"severity": "page"},
            "annotations": {
                "summary": f"{name}: p99 latency above the {cfg.rollout.sla_ms:g} ms SLA",
                "description": "p99 over 5 minutes is {{ $value | humanizeDuration }}; "
                "see the dashboard's latency panel and `pilotpack bench`.",
            },
        },
        {
            "alert": "PilotpackErrorRateHigh",
            "expr": (
                f"({err_5m} / {all_5m}) > {m.error_rate_ratio:g} * ({err_1d} / {all_1d})"
                f" and ({err_5m} / {all_5m}) > {m.min_error_rate:g}"
            ),
            "for": "5m",
            "labels": labels | {"severity": "page"},
            "annotations": {
                "summary": f"{name}: server error rate above {m.error_rate_ratio:g}x its "
                "1-day level",
                "description": "5xx share over 5 minutes is {{ $value | humanizePercentage }} "
                f"(alerts above {m.error_rate_ratio:g}x the 1-day share and above "
                f"{m.min_error_rate:.0%}).",
            },
        },
        {
            "alert": "PilotpackTrafficStopped",
            "expr": (f"sum(rate({req}{ok}[{m.traffic_stopped_minutes}m])) == 0"),
            "for": "5m",
            "labels": labels | {"severity": "page"},
            "annotations": {
                "summary": f"{name}: no successful scoring request for "
                f"{m.traffic_stopped_minutes} minutes",
                "description": "The service is scraped and its request series exist, but none "
                "of them rose: the callers stopped sending, or every request fails before "
                f"scoring. A dead or unreachable service fires {DOWN} instead (its series "
                "disappear).",
            },
        },
        {
            "alert": "PilotpackRollbackFired",
            "expr": (
                "sum by (use_case, cause) (increase(pilotpack_rollout_rollbacks_total"
                f'{{use_case="{name}"}}[15m])) > 0 or sum by (use_case, cause) '
                f'(pilotpack_rollout_rollbacks_total{{use_case="{name}"}}) unless sum by '
                f'(use_case, cause) (pilotpack_rollout_rollbacks_total{{use_case="{name}"}} '
                "offset 15m)"
            ),
            "labels": labels | {"severity": "ticket"},
            "annotations": {
                "summary": f"{name}: the challenger was rolled back automatically "
                "({{ $labels.cause }})",
                "description": f"`pilotpack rollout {name}` shows why; the champion answers "
                "every request again.",
            },
        },
    ]
    if _live_drift(uc):
        psi = (
            f'max by (use_case, feature) (pilotpack_feature_psi{{use_case="{name}"{{F}}}} or '
            f'pilotpack_batch_psi{{use_case="{name}"{{F}}}}) >= {m.psi_alert:g}'
        )
        for alert, feature, what in (
            ("PilotpackFeatureDrift", ',feature!="score"', "model input {{ $labels.feature }}"),
            ("PilotpackScoreDrift", ',feature="score"', "the score"),
        ):
            out.append(
                {
                    "alert": alert,
                    "expr": psi.replace("{F}", feature),
                    "for": f"{m.psi_for_minutes}m",
                    "labels": labels | {"severity": "ticket"},
                    "annotations": {
                        "summary": f"{name}: {what} drifted "
                        + '(PSI {{ $value | printf "%.2f" }})',
                        "description": f"PSI at or above {m.psi_alert:g} against the training "
                        f"reference. Run `pilotpack monitor {name} --since 1d` for the table "
                        "and whether retraining is due.",
                    },
                }
            )
    out.append(
        {
            "alert": "PilotpackRealisedMetricDrop",
            "expr": (
                "max by (use_case, metric, variant) (pilotpack_realised_metric_drop"
                f'{{use_case="{name}"}}) > {m.metric_drop:g}'
            ),
            "labels": labels | {"severity": "ticket"},
            "annotations": {
                "summary": f"{name}: realised {{{{ $labels.metric }}}} more than "
                f"{m.metric_drop:.0%} worse than registered ({{{{ $labels.variant }}}})",
                "description": f"From `pilotpack monitor {name} --prom-file`; consider "
                f"`pilotpack retrain {name} --data <recent labelled data>`.",
            },
        }
    )
    for rule in out:
        rule["annotations"]["runbook_url"] = runbook(cfg, rule["alert"])
    return {"groups": [{"name": f"pilotpack-{name}", "rules": out}]}


# --------------------------------------------------------------------------- promtool tests


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def rule_tests(uc: Any, cfg: Any, rules_file: str) -> dict[str, Any]:
    """One promtool test per alert: quiet before, firing after, with its labels and text."""
    m = cfg.monitoring
    name = uc.name
    route = uc.task.route
    bento = {"service_name": name, "endpoint": route}
    by_alert = {r["alert"]: r for r in rules(uc, cfg)["groups"][0]["rules"]}

    def expect(alert: str, at: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        rule = by_alert[alert]
        ann = dict(rule["annotations"])
        return {
            "eval_time": at,
            "alertname": alert,
            "exp_alerts": [{"exp_labels": rule["labels"] | (extra or {}), "exp_annotations": ann}],
        }

    def quiet(alert: str, at: str) -> dict[str, Any]:
        return {"eval_time": at, "alertname": alert, "exp_alerts": []}

    def render(alert: str, **values: str) -> dict[str, str]:
        text = dict(by_alert[alert]["annotations"])
        for key, val in values.items():
            for k in text:
                text[k] = text[k].replace("{{ " + key + " }}", val)
        return text

    tests: list[dict[str, Any]] = []
    tests += _latency_tests(cfg, bento, expect, quiet, render)
    tests += _down_tests(uc, cfg, expect, quiet)
    # errors: a day at 1 % errors... here 0 %, then a third of requests fail
    share = 1 / 3
    err_case = expect("PilotpackErrorRateHigh", "1500m")
    err_case["exp_alerts"][0]["exp_annotations"] = render(
        "PilotpackErrorRateHigh", **{"$value | humanizePercentage": f"{share * 100:.4g}%"}
    )
    tests.append(
        {
            "interval": "5m",  # 100 requests a minute; 50 failing from the 1445th minute
            "input_series": [
                _series(
                    "bentoml_service_request_total",
                    bento | {"http_response_code": "200"},
                    "0+500x310",
                ),
                _series(
                    "bentoml_service_request_total",
                    bento | {"http_response_code": "500"},
                    "0x288 250+250x20",
                ),
            ],  # fmt: skip
            "alert_rule_test": [quiet("PilotpackErrorRateHigh", "1400m"), err_case],
        }
    )
    # traffic: requests for 30 minutes, then none
    stop = m.traffic_stopped_minutes
    tests.append(
        {
            "interval": "1m",
            "input_series": [
                _series(
                    "bentoml_service_request_total",
                    bento | {"http_response_code": "200"},
                    f"0+10x30 300x{stop + 40}",
                ),
            ],  # fmt: skip
            "alert_rule_test": [
                quiet("PilotpackTrafficStopped", "20m"),
                expect("PilotpackTrafficStopped", f"{30 + stop + 10}m"),
            ],
        }
    )
    # rollback: the counter appears at 10m with 1
    rollback_case = expect("PilotpackRollbackFired", "15m", {"cause": "p99"})
    rollback_case["exp_alerts"][0]["exp_annotations"] = render(
        "PilotpackRollbackFired", **{"$labels.cause": "p99"}
    )
    tests.append(
        {
            "interval": "1m",
            "input_series": [
                _series(
                    "pilotpack_rollout_rollbacks_total",
                    {"use_case": name, "cause": "p99"},
                    "_x10 1x40",
                ),
            ],  # fmt: skip
            "alert_rule_test": [
                quiet("PilotpackRollbackFired", "5m"),
                rollback_case,
                quiet("PilotpackRollbackFired", "40m"),
            ],
        }
    )
    if _live_drift(uc):
        wait = m.psi_for_minutes
        for alert, feature in (("PilotpackFeatureDrift", "feature_x"),
                               ("PilotpackScoreDrift", "score")):  # fmt: skip
            case = expect(alert, f"{10 + wait + 10}m", {"feature": feature})
            case["exp_alerts"][0]["exp_annotations"] = render(
                alert, **{"$labels.feature": feature, '$value | printf "%.2f"': "0.35"}
            )
            tests.append(
                {
                    "interval": "1m",
                    "input_series": [
                        _series(
                            "pilotpack_feature_psi",
                            {"use_case": name, "feature": feature, "model_version": "1"},
                            f"0.05x10 0.35x{wait + 30}",
                        ),
                    ],  # fmt: skip
                    "alert_rule_test": [quiet(alert, "8m"), case],
                }
            )
    alert = "PilotpackRealisedMetricDrop"
    metric = _test_metric(uc)
    case = expect(alert, "20m", {"metric": metric, "variant": "champion"})
    case["exp_alerts"][0]["exp_annotations"] = render(
        alert, **{"$labels.metric": metric, "$labels.variant": "champion"}
    )
    tests.append(
        {
            "interval": "1m",
            "input_series": [
                _series(
                    "pilotpack_realised_metric_drop",
                    {
                        "use_case": name,
                        "metric": metric,
                        "variant": "champion",
                        "model_version": "1",
                    },
                    f"{m.metric_drop / 2:g}x10 {m.metric_drop * 2:g}x20",
                ),
            ],  # fmt: skip
            "alert_rule_test": [quiet(alert, "5m"), case],
        }
    )
    # rules are evaluated every 5 minutes of test time: every expected time is a multiple
    return {"rule_files": [rules_file], "evaluation_interval": "5m", "tests": tests}


def humanize_duration(seconds: float) -> str:
    """Prometheus' `humanizeDuration` for values under a minute (what an alert's text shows)."""
    return f"{seconds * 1000:.4g}ms" if seconds < 1 else f"{seconds:.4g}s"


def _latency_tests(cfg: Any, bento: dict[str, str], expect: Any, quiet: Any, render: Any) -> list:
    """Requests all in the bucket just under the SLA: quiet; all in the one just over: fires.
    The buckets are the service's own (the SLA's edge among them): with BentoML's default
    ones, requests of 100-150 ms read p99 = 248.5 ms and a 200 ms SLA fired."""
    sla = cfg.rollout.sla_ms / 1000
    edges = latency_buckets(cfg.rollout.sla_ms)
    under = [e for e in edges if e < sla]
    over = [e for e in edges if e > sla]
    wait = cfg.monitoring.latency_for_minutes
    at = f"{5 * (wait // 5 + 3)}m"  # an evaluation time past `for`

    def case(low: float, high: float) -> dict[str, Any]:
        """60 requests a minute, every one between `low` and `high` seconds."""
        series = [
            _series(
                "bentoml_service_request_duration_seconds_bucket",
                bento | {"http_response_code": "200", "le": f"{le:g}" if le != INF else "+Inf"},
                "0+60x40" if le >= high else "0x40",
            )
            for le in (*edges, INF)
        ]
        return {"interval": "1m", "input_series": series, "alert_rule_test": []}

    out = []
    if len(under) >= 2:  # every request <= the edge under the SLA (150 ms for 200): quiet
        fast = case(under[-2], under[-1])
        fast["alert_rule_test"] = [quiet("PilotpackLatencyP99AboveSLA", t) for t in ("5m", at)]
        out.append(fast)
    if over:  # every request between the SLA and the next edge: p99 = 99 % of the way up
        slow = case(sla, over[0])
        p99 = sla + 0.99 * (over[0] - sla)
        firing = expect("PilotpackLatencyP99AboveSLA", at)
        firing["exp_alerts"][0]["exp_annotations"] = render(
            "PilotpackLatencyP99AboveSLA", **{"$value | humanizeDuration": humanize_duration(p99)}
        )
        slow["alert_rule_test"] = [firing]
        if wait:
            slow["alert_rule_test"].insert(0, quiet("PilotpackLatencyP99AboveSLA", "5m"))
        out.append(slow)
    return out


def _down_tests(uc: Any, cfg: Any, expect: Any, quiet: Any) -> list:
    """The target answers, then its scrapes fail (`up == 0`); and a target that disappears."""
    wait = cfg.monitoring.down_for_minutes
    target = {"job": uc.name, "instance": "127.0.0.1:3000"}
    at = f"{5 * (wait // 5 + 5)}m"
    return [
        {
            "interval": "1m",
            "input_series": [_series("up", target, "1x10 0x30")],
            "alert_rule_test": [quiet(DOWN, "5m"), expect(DOWN, at, target)],
        },
        {
            "interval": "1m",  # the series ends at 10m: stale 5 minutes later, then absent
            "input_series": [_series("up", target, "1x10")],
            "alert_rule_test": [quiet(DOWN, "10m"), expect(DOWN, f"{5 * (wait // 5 + 5)}m")],
        },
    ]


# --------------------------------------------------------------------------- Grafana


def dashboard_queries(uc: Any, cfg: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """(panel title, [(legend, PromQL)]) of the dashboard: what the e2e test runs too."""
    name = uc.name
    ok = selector(uc, 'http_response_code="200"')
    sel = selector(uc)
    lat = "bentoml_service_request_duration_seconds_bucket"
    panels: list[tuple[str, list[tuple[str, str]]]] = [
        (
            f"Latency (SLA {cfg.rollout.sla_ms:g} ms)",
            [
                ("p50", f"histogram_quantile(0.5, sum by (le) (rate({lat}{ok}[5m])))"),
                ("p99", f"histogram_quantile(0.99, sum by (le) (rate({lat}{ok}[5m])))"),
            ],
        ),
        (
            "Records scored per second, by variant",
            [
                (
                    "{{variant}} v{{model_version}}",
                    "sum by (variant, model_version) (rate(pilotpack_variant_records_total"
                    f'{{use_case="{name}"}}[5m]))',
                )
            ],
        ),
        (
            "Scoring time per variant (model and features, no HTTP)",
            [
                (
                    "p99 {{variant}}",
                    "histogram_quantile(0.99, sum by (variant, le) "
                    f'(rate(pilotpack_variant_scoring_seconds_bucket{{use_case="{name}"}}[5m])))',
                )
            ],
        ),
        (
            "Scoring errors per second, by variant",
            [
                (
                    "{{variant}}",
                    "sum by (variant) (rate(pilotpack_variant_errors_total"
                    f'{{use_case="{name}"}}[5m]))',
                )
            ],
        ),
        (
            "Requests per second, by response code",
            [
                (
                    "{{http_response_code}}",
                    f"sum by (http_response_code) (rate(bentoml_service_request_total{sel}[5m]))",
                )
            ],
        ),
        (
            "Server error share",
            [
                (
                    "5xx share",
                    f"sum(rate(bentoml_service_request_total{selector(uc, FIVE_XX)}[5m])) / "
                    f"sum(rate(bentoml_service_request_total{sel}[5m]))",
                )
            ],
        ),
        (
            "Rollbacks",
            [
                (
                    "{{cause}}",
                    f'sum by (cause) (pilotpack_rollout_rollbacks_total{{use_case="{name}"}})',
                )
            ],
        ),
    ]
    if _live_drift(uc):
        panels += [
            (
                "Score distribution (share of records per band, last hour)",
                [
                    (
                        "<= {{le}}",
                        f'sum by (le) (increase(pilotpack_score_bucket{{use_case="{name}"}}[1h]))'
                        f" / ignoring (le) group_left sum(increase(pilotpack_score_count"
                        f'{{use_case="{name}"}}[1h]))',
                    )
                ],
            ),
            (
                f"PSI by model input (alert at {cfg.monitoring.psi_alert:g})",
                [
                    (
                        "{{feature}}",
                        f'max by (feature) (pilotpack_feature_psi{{use_case="{name}"}})',
                    )
                ],
            ),
            (
                "Unseen category values per second",
                [
                    (
                        "{{field}}",
                        "sum by (field) (rate(pilotpack_unknown_category_total"
                        f'{{use_case="{name}"}}[5m]))',
                    )
                ],
            ),
        ]
    if not _live_drift(uc):
        panels.append(
            (
                f"Series-feature PSI, last `pilotpack monitor` (alert at "
                f"{cfg.monitoring.psi_alert:g})",
                [
                    (
                        "{{feature}}",
                        f'max by (feature) (pilotpack_batch_psi{{use_case="{name}"}})',
                    )
                ],
            )
        )
    panels.append(
        (
            f"Realised metric drop vs registered (alert at {cfg.monitoring.metric_drop:.0%})",
            [
                (
                    "{{metric}} {{variant}}",
                    "max by (metric, variant) (pilotpack_realised_metric_drop"
                    f'{{use_case="{name}"}})',
                )
            ],
        )
    )
    return panels


def dashboard(uc: Any, cfg: Any) -> dict[str, Any]:
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels = []
    for i, (title, queries) in enumerate(dashboard_queries(uc, cfg)):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": ds,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "targets": [
                    {"refId": chr(65 + j), "expr": expr, "legendFormat": legend, "datasource": ds}
                    for j, (legend, expr) in enumerate(queries)
                ],
                "fieldConfig": {"defaults": {}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            }
        )
    return {
        "uid": f"pilotpack-{uc.name}"[:40],
        "title": f"pilotpack / {uc.name}",
        "tags": ["pilotpack", uc.task.name],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels,
    }


# --------------------------------------------------------------------------- files


PROMETHEUS_YML = """\
# A one-machine example: scrape `make serve` (all use cases on 127.0.0.1:3000), load the
# generated rules and send alerts to a local Alertmanager (monitoring/alertmanager.yml).
# `prometheus --config.file=monitoring/prometheus.yml` from the repository root. The down
# alert reads `up` of the job named after the use case or `pilotpack` (the root service).
global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files:
  - rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:9093"]
scrape_configs:
  - job_name: pilotpack
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:3000"]
"""

# Appended to the generated alertmanager.yml: receivers a team adds beside (or instead of) the
# webhook; `amtool check-config` accepts them uncommented (a test does so).
RECEIVER_EXAMPLES = """\
# Examples: add them to a receiver above (secrets in files, not here).
#  - name: page
#    slack_configs:
#      - api_url_file: /etc/alertmanager/slack_url
#        channel: "#ml-oncall"
#        send_resolved: true
#        title: '{{ .CommonLabels.alertname }} ({{ .CommonLabels.use_case }})'
#        text: '{{ range .Alerts }}{{ .Annotations.summary }} {{ .Annotations.runbook_url }}{{ end }}'
#  - name: ticket
#    email_configs:
#      - to: ml-team@example.com
#        from: alertmanager@example.com
#        smarthost: smtp.example.com:587
#        auth_username: alertmanager@example.com
#        auth_password_file: /etc/alertmanager/smtp_password
#        send_resolved: true
"""


def _severity_routes(prefix: str) -> list[dict[str, Any]]:
    """`page` wakes someone soon and repeats hourly; `ticket` waits for working hours."""
    return [
        {
            "matchers": ['severity="page"'],
            "receiver": f"{prefix}page",
            "group_wait": "10s",
            "repeat_interval": "1h",
        },
        {
            "matchers": ['severity="ticket"'],
            "receiver": f"{prefix}ticket",
            "repeat_interval": "24h",
        },
    ]


def _receivers(prefix: str, url: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}{kind}",
         "webhook_configs": [{"url": url, "send_resolved": True, "max_alerts": 20}]}
        for kind in ("page", "ticket")
    ]  # fmt: skip


def alertmanager(cfgs: dict[str, Any], webhook_url: str | None = None) -> dict[str, Any]:
    """Alertmanager's config for these use cases ({name: config}): severity routes to the
    default webhook, a use case with its own `monitoring.webhook_url` routed to it first, and
    the service's child alerts inhibited while its down alert fires. `webhook_url` replaces
    every use case's URL."""
    default = webhook_url or MonitoringConfig().webhook_url
    own = {
        name: cfg.monitoring.webhook_url
        for name, cfg in cfgs.items()
        if webhook_url is None and cfg.monitoring.webhook_url != default
    }
    routes = [
        {"matchers": [f'use_case="{name}"'], "receiver": f"{name}-ticket",
         "routes": _severity_routes(f"{name}-")}
        for name in own
    ]  # fmt: skip
    receivers = _receivers("", default)
    for name, url in own.items():
        receivers += _receivers(f"{name}-", url)
    return {
        "route": {
            "receiver": "ticket",  # an alert without a severity label: a ticket
            "group_by": ["alertname", "use_case"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes + _severity_routes(""),
        },
        "receivers": receivers,
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{DOWN}"'],
                "target_matchers": [f'alertname=~"{"|".join(CHILDREN)}"'],
                "equal": ["use_case"],
            }
        ],
    }


def _dump(doc: Any) -> str:
    header = (
        "# Generated by `pilotpack monitoring generate` from the use case's config: do not edit.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


def files_for(uc: Any, cfg: Any) -> dict[str, str]:
    """Relative path -> text of one use case's generated files."""
    rules_rel = f"rules/{uc.name}.yml"
    return {
        rules_rel: _dump(rules(uc, cfg)),
        f"tests/{uc.name}.test.yml": _dump(rule_tests(uc, cfg, f"../{rules_rel}")),
        f"dashboards/{uc.name}.json": json.dumps(dashboard(uc, cfg), indent=2) + "\n",
    }


def alertmanager_yml(cfgs: dict[str, Any], webhook_url: str | None = None) -> str:
    """The text of monitoring/alertmanager.yml: the config, then receiver examples."""
    return _dump(alertmanager(cfgs, webhook_url)) + RECEIVER_EXAMPLES


def write_all(
    folder: Path,
    names: list[str] | None = None,
    overrides: list[str] | None = None,
    webhook_url: str | None = None,
) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfgs = {name: get_use_case(name).load_config(overrides) for name in names or registry()}
    texts = {
        "prometheus.yml": PROMETHEUS_YML,
        "alertmanager.yml": alertmanager_yml(cfgs, webhook_url),
    }
    for name, cfg in cfgs.items():
        texts |= files_for(get_use_case(name), cfg)
    written = []
    for rel, text in texts.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
