"""The alert rules against series the simulator records, judged by promtool.

The rules are the ones `pilotpack monitoring generate` writes (shared/ops/monitoring/generate.py,
so a rule added there is checked here too). `promtool test rules` is given the recorded series
and, at each evaluation time, an expectation of no alert for every rule: each failure it
reports names an alert that fired, with its time. That gives the set of alerts that fire
minute by minute, without the simulator knowing the rules' names in advance.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from shared.ops.monitoring.generate import rules

_FIRED = re.compile(r"alertname:\s*(\S+),\s*time:\s*(\d+)m")


def promtool() -> str | None:
    return shutil.which("promtool")


def fired(
    uc: Any, cfg: Any, series: list[dict[str, str]], minutes: list[int], folder: Path
) -> dict[int, set[str]]:
    """minute -> the alerts firing then, for these input series (1-minute interval)."""
    tool = promtool()
    if tool is None:
        raise RuntimeError("promtool is not installed (Debian: apt-get install prometheus)")
    doc = rules(uc, cfg)
    names = sorted({r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r})
    folder.mkdir(parents=True, exist_ok=True)
    rules_file = folder / "rules.yml"
    rules_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    test = {
        "rule_files": [rules_file.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{m}m", "alertname": n, "exp_alerts": []}
                    for m in minutes
                    for n in names
                ],
            }
        ],
    }
    test_file = folder / "simulated.test.yml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False))
    run = subprocess.run(
        [tool, "test", "rules", test_file.name], cwd=folder, capture_output=True, text=True
    )
    out: dict[int, set[str]] = {m: set() for m in minutes}
    for name, minute in _FIRED.findall(run.stdout + run.stderr):
        out.setdefault(int(minute), set()).add(name)
    if run.returncode not in (0, 1) or ("FAILED" not in run.stdout + run.stderr and run.returncode):
        raise RuntimeError(f"promtool failed: {run.stdout[-2000:]} {run.stderr[-2000:]}")
    return out


def down_alerts(uc: Any, cfg: Any) -> set[str]:
    """The rules that watch the service itself: on `up` or on `absent(...)` series."""
    doc = rules(uc, cfg)
    return {
        r["alert"]
        for g in doc["groups"]
        for r in g["rules"]
        if "alert" in r and re.search(r"\bup\b|absent\(", str(r["expr"]))
    }


def service_series(
    uc: Any, per_minute: list[int], up_minutes: int, total_minutes: int
) -> list[dict[str, str]]:
    """The series Prometheus would have scraped: BentoML's request counter of the use case's
    route (the requests the simulator sent each minute) and `up`, until the service stops at
    `up_minutes`; after that the counter is stale and `up` is 0."""
    counts = []
    total = 0
    for n in per_minute[:up_minutes]:
        total += n
        counts.append(str(total))
    down = total_minutes - up_minutes
    labels = f'job="pilotpack", instance="127.0.0.1:3000", service_name="{uc.name}"'
    req = (
        f'bentoml_service_request_total{{{labels}, endpoint="{uc.task.route}", '
        'http_response_code="200", http_method="POST"}'
    )
    return [
        {"series": req, "values": " ".join(counts) + " stale" + " _" * max(down - 1, 0)},
        {"series": 'up{job="pilotpack", instance="127.0.0.1:3000"}',
         "values": " ".join(["1"] * up_minutes + ["0"] * down)},
    ]  # fmt: skip
