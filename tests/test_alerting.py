"""Alerts that reach a person: the generated Alertmanager config passes `amtool check-config`
(its commented Slack and e-mail examples too) and routes by severity; every alert links a
runbook section that exists in docs/monitoring.md; and end to end, a real Prometheus and a real
Alertmanager (Debian's `prometheus` and `prometheus-alertmanager`) deliver alerts to a local
webhook sink.

The end-to-end test scrapes two tiny prometheus_client exporters, one per use case, emitting
BentoML's request metric names with the pack's latency buckets (`latency_buckets`, the SLA's
edge among them): a real `bentoml serve` answers in about a millisecond and cannot be made to
answer in 100-150 ms, which is the case the SLA's edge is for. That the served histogram
carries these buckets, tests/test_prometheus.py checks on a real `bentoml serve`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from tests.processes import on_a_free_port, start_until_ready, stop_group, wait_until
from tests.test_prometheus import _start_prometheus, tool

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
RUNBOOK = ROOT / "docs" / "monitoring.md"
LATENCY = "PilotpackLatencyP99AboveSLA"
DOWN = "PilotpackServiceDown"


def _alert_rules() -> list[dict]:
    return [
        rule
        for path in sorted((MONITORING / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_committed_alertmanager_config_matches_the_configs():
    from shared.core.usecase import get_use_case, registry
    from shared.ops.monitoring.generate import alertmanager_yml

    names = sorted(p.stem for p in (MONITORING / "rules").glob("*.yml"))
    assert set(names) <= set(registry())
    cfgs = {name: get_use_case(name).load_config() for name in names}
    assert (MONITORING / "alertmanager.yml").read_text() == alertmanager_yml(cfgs), (
        "monitoring/alertmanager.yml is stale: run `pilotpack monitoring generate`"
    )


def test_amtool_checks_the_config_and_its_receiver_examples(tmp_path):
    amtool = tool("amtool")
    text = (MONITORING / "alertmanager.yml").read_text()
    check = subprocess.run([amtool, "check-config", str(MONITORING / "alertmanager.yml")],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    # the commented examples, uncommented in place of the webhook receivers, are valid too
    config, examples = text.split("# Examples:", 1)
    doc = yaml.safe_load(config)
    doc["receivers"] = yaml.safe_load(
        "\n".join(line[2:] for line in examples.splitlines()[1:] if line.startswith("#"))
    )
    assert {"slack_configs", "email_configs"} <= {k for r in doc["receivers"] for k in r}
    (tmp_path / "slack_url").write_text("https://hooks.slack.example/T0/B0/x\n")
    (tmp_path / "smtp_password").write_text("secret\n")
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc).replace("/etc/alertmanager", str(tmp_path)))
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_alerts_route_by_severity():
    """Every alert's severity reaches its receiver: pages to `page`, the rest to `ticket`."""
    amtool = tool("amtool")
    seen = set()
    for rule in _alert_rules():
        labels = rule["labels"] | {"alertname": rule["alert"]}
        args = [f"{k}={v}" for k, v in labels.items()]
        done = subprocess.run(
            [amtool, "config", "routes", "test",
             f"--config.file={MONITORING / 'alertmanager.yml'}", *args],
            capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == labels["severity"], (rule["alert"], done.stdout)
        seen.add(labels["severity"])
    assert seen == {"page", "ticket"}


def test_a_use_case_with_its_own_webhook_gets_its_own_route(tmp_path):
    """churn's config names another URL: its alerts go there by severity; lead_scoring's keep
    the default receivers."""
    from shared.core.usecase import get_use_case
    from shared.ops.monitoring.generate import alertmanager

    amtool = tool("amtool")
    url = "http://127.0.0.1:5002/churn-team"
    cfgs = {
        "churn": get_use_case("churn").load_config([f"monitoring.webhook_url={url}"]),
        "lead_scoring": get_use_case("lead_scoring").load_config(),
    }
    doc = alertmanager(cfgs)
    hooks = {r["name"]: r["webhook_configs"][0]["url"] for r in doc["receivers"]}
    assert hooks["churn-page"] == hooks["churn-ticket"] == url
    assert hooks["page"] == hooks["ticket"] == "http://127.0.0.1:5001/alerts"
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc))
    for labels, receiver in (
        (["use_case=churn", "severity=page"], "churn-page"),
        (["use_case=churn", "severity=ticket"], "churn-ticket"),
        (["use_case=lead_scoring", "severity=page"], "page"),
    ):
        done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={path}",
                               "alertname=X", *labels], capture_output=True, text=True)  # fmt: skip
        assert done.stdout.strip() == receiver, (labels, done.stdout, done.stderr)


def test_generate_takes_the_webhook_from_the_environment(tmp_path):
    """`PILOTPACK_ALERT_WEBHOOK_URL` points every receiver at one URL, e.g. the team's relay."""
    url = "https://hooks.example.com/pilotpack"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "pilotpack"), "monitoring", "generate",
         "--out", str(tmp_path), "--use-case", "churn"],
        capture_output=True, text=True, env={**os.environ, "PILOTPACK_ALERT_WEBHOOK_URL": url},
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    assert {r["webhook_configs"][0]["url"] for r in doc["receivers"]} == {url}


def test_the_root_service_histogram_holds_every_use_cases_sla_edge():
    """The root service serves every use case: a fork whose SLA is 300 ms gets its edge too
    (it had only the 200 ms default's), or its p99 > 300 ms alert reads a 250-500 ms bucket."""
    from shared.serve.metrics import duration_config

    buckets = duration_config(200, 300, 120)["duration"]["buckets"]
    assert {0.12, 0.15, 0.2, 0.3} <= set(buckets) and buckets == sorted(buckets)


def test_every_alert_links_its_runbook_section():
    """Each alert's `runbook_url` names a heading of docs/monitoring.md (mkdocs anchors it by
    the lower-cased name), and each runbook heading is an alert the rules raise."""
    headings = set(re.findall(r"^#{2,4} (Pilotpack\w+)\s*$", RUNBOOK.read_text(), re.M))
    alerts = {rule["alert"] for rule in _alert_rules()}
    assert alerts == headings, (alerts ^ headings, "alerts and runbook sections differ")
    for rule in _alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/monitoring.md#{rule['alert'].lower()}", url


# --------------------------------------------------------------------------- end to end

EXPORTER = """
import random, sys, time
from prometheus_client import Counter, Histogram, start_http_server
port, use_case, low, high = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
buckets = [float(b) for b in sys.argv[5].split(",")]
labels = ["service_name", "endpoint", "http_response_code"]
seconds = Histogram("bentoml_service_request_duration_seconds", "", labels, buckets=buckets)
total = Counter("bentoml_service_request", "", labels)
start_http_server(port, addr="127.0.0.1")
print("ready", flush=True)
rng = random.Random(7)
while True:  # 50 requests a second, every one between low and high seconds
    seconds.labels(use_case, "/predict", "200").observe(rng.uniform(low, high))
    total.labels(use_case, "/predict", "200").inc()
    time.sleep(0.02)
"""


class Sink:
    """A local webhook receiver: every POSTed Alertmanager notification, in order."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, status: str = "firing") -> list[tuple[str, dict]]:
        """(receiver, alert) of every delivered alert with this status."""
        return [(p["receiver"], a) for p in list(self.posts) for a in p["alerts"]
                if a["status"] == status]  # fmt: skip

    def got(self, name: str, use_case: str) -> list[tuple[str, dict]]:
        return [(r, a) for r, a in self.alerts()
                if a["labels"]["alertname"] == name and a["labels"]["use_case"] == use_case]  # fmt: skip


def _exporter(tmp_path: Path, use_case: str, low: float, high: float, buckets: str):
    def start(port: int) -> tuple[subprocess.Popen, int]:
        cmd = [sys.executable, "-c", EXPORTER, str(port), use_case, str(low), str(high), buckets]
        log = tmp_path / f"exporter-{use_case}.log"
        url = f"http://127.0.0.1:{port}/metrics"
        return start_until_ready(cmd, log, url, 30, output_to_log=True), port

    return on_a_free_port(start)


def _alertmanager(tmp_path: Path, port: int) -> tuple[subprocess.Popen, int]:
    cmd = [tool("prometheus-alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
           f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
           "--cluster.listen-address="]  # fmt: skip  # no HA peer port
    log = tmp_path / "alertmanager.log"
    return start_until_ready(cmd, log, f"http://127.0.0.1:{port}/-/ready", 30), port


def _fast(doc: dict) -> dict:
    """The generated routes with second-long waits (30 s / 5 min in production)."""
    route = doc["route"]
    for r in [route, *route["routes"]]:
        r.update(group_wait="1s", group_interval="1s")
    return doc


def _rules(tmp_path: Path) -> list[Path]:
    """The generated rules of churn and lead_scoring; `for` in seconds (config counts minutes)."""
    from shared.ops.monitoring.generate import write_all

    write_all(tmp_path / "m", ["churn", "lead_scoring"], webhook_url="http://unused")
    paths = []
    for name in ("churn", "lead_scoring"):
        path = tmp_path / "m" / "rules" / f"{name}.yml"
        doc = yaml.safe_load(path.read_text())
        for rule in doc["groups"][0]["rules"]:
            if rule["alert"] in (LATENCY, DOWN):
                rule["for"] = "3s"
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    return paths


@contextmanager
def _stopping(*procs: subprocess.Popen) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            stop_group(proc, timeout=20)


@pytest.mark.serve
def test_prometheus_and_alertmanager_deliver_down_and_latency_alerts_to_a_webhook(tmp_path):
    """churn answers every request in 100-150 ms: no latency alert (the histogram's 150 and
    200 ms edges: BentoML's default buckets read p99 = 248.5 ms). lead_scoring answers in
    210-240 ms: its latency alert reaches the sink as a page. churn's process is killed: its
    down alert reaches the sink, and its traffic alert is held back (inhibited) meanwhile."""
    from shared.core.usecase import get_use_case
    from shared.ops.monitoring.generate import alertmanager
    from shared.serve.metrics import latency_buckets

    prometheus = tool("prometheus")
    tool("prometheus-alertmanager")
    started = time.monotonic()
    sink = Sink()
    buckets = ",".join(
        f"{b:g}" for b in latency_buckets(get_use_case("churn").load_config().rollout.sla_ms)
    )
    assert "0.15" in buckets.split(",") and "0.2" in buckets.split(",")
    cfgs = {n: get_use_case(n).load_config() for n in ("churn", "lead_scoring")}
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(_fast(alertmanager(cfgs, webhook_url=sink.url)))
    )
    rules = _rules(tmp_path)
    churn, churn_port = _exporter(tmp_path, "churn", 0.1, 0.15, buckets)
    lead, lead_port = _exporter(tmp_path, "lead_scoring", 0.21, 0.24, buckets)
    am, am_port = on_a_free_port(lambda port: _alertmanager(tmp_path, port))
    with _stopping(churn, lead, am):
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in rules],
            "alerting": {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [
                {"job_name": "churn", "static_configs": [{"targets": [f"127.0.0.1:{churn_port}"]}]},
                {"job_name": "lead_scoring",
                 "static_configs": [{"targets": [f"127.0.0.1:{lead_port}"]}]},
            ],
        }))  # fmt: skip
        prom, port = on_a_free_port(lambda port: _start_prometheus(prometheus, tmp_path, port))
        with _stopping(prom):
            api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            am_api = httpx.Client(base_url=f"http://127.0.0.1:{am_port}", timeout=10)

            # a breach: lead_scoring's page reaches the sink, with its runbook
            wait_until(lambda: sink.got(LATENCY, "lead_scoring"), 40, "lead_scoring latency page")
            receiver, alert = sink.got(LATENCY, "lead_scoring")[0]
            assert receiver == "page" and alert["labels"]["severity"] == "page"
            assert alert["annotations"]["runbook_url"].endswith("#pilotpacklatencyp99abovesla")
            assert re.search(
                r"p99 over 5 minutes is 2[34]\d(\.\d+)?ms", alert["annotations"]["description"]
            )

            # every churn request <= 150 ms: its p99 was read (not vacuous), never above 150 ms,
            # and its latency alert was never even pending
            churn_rule = next(r for r in yaml.safe_load(rules[0].read_text())["groups"][0]["rules"]
                              if r["alert"] == LATENCY)  # fmt: skip
            p99 = churn_rule["expr"].rsplit(">", 1)[0].strip()
            wait_until(lambda: len(_range(api, p99)) >= 5, 30, "five evaluations of churn's p99")
            values = _range(api, p99)
            assert max(values) <= 0.15, values
            assert not _range(api, f'ALERTS{{alertname="{LATENCY}", use_case="churn"}}')
            assert not sink.got(LATENCY, "churn")
            assert not sink.got(DOWN, "churn") and not sink.got(DOWN, "lead_scoring")

            # churn's service dies: its down alert reaches the sink as a page
            stop_group(churn)
            wait_until(lambda: sink.got(DOWN, "churn"), 40, "churn's down alert at the sink")
            receiver, alert = sink.got(DOWN, "churn")[0]
            assert receiver == "page" and alert["labels"]["job"] == "churn"
            assert not sink.got(DOWN, "lead_scoring")

            # while churn is down its traffic alert is inhibited; lead_scoring's is not
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            posted = [{"labels": {"alertname": "PilotpackTrafficStopped", "use_case": uc,
                                  "severity": "page"}, "startsAt": now} for uc in
                      ("churn", "lead_scoring")]  # fmt: skip
            assert am_api.post("/api/v2/alerts", json=posted).status_code == 200
            wait_until(lambda: sink.got("PilotpackTrafficStopped", "lead_scoring"), 30,
                       "lead_scoring's traffic alert at the sink")  # fmt: skip
            state = {
                a["labels"]["use_case"]: a["status"]
                for a in am_api.get("/api/v2/alerts").json()
                if a["labels"]["alertname"] == "PilotpackTrafficStopped"
            }
            assert state["churn"]["state"] == "suppressed" and state["churn"]["inhibitedBy"]
            assert state["lead_scoring"]["state"] == "active"
            assert not sink.got("PilotpackTrafficStopped", "churn")
    assert time.monotonic() - started < 90


def _range(api: httpx.Client, expr: str) -> list[float]:
    """Every value of `expr` over the last 10 minutes, one a second."""
    end = time.time()
    body = api.get("/api/v1/query_range",
                   params={"query": expr, "start": end - 600, "end": end, "step": "1s"}).json()  # fmt: skip
    assert body["status"] == "success", body
    return [float(v) for series in body["data"]["result"] for _, v in series["values"]]
