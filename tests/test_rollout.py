"""Routing by a stable hash, rollout state in registry tags, criteria: no server needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.core.config import RolloutConfig
from shared.core.tracking import RolloutState
from shared.ops.rollout import criteria, psi
from shared.serve.router import Windows, bucket, to_challenger

KEYS = [f"customer-{i}" for i in range(5000)]
SALT = "a1b2c3d4e5f60718"

_BUCKETS = (
    "import json, sys; from shared.serve.router import bucket; "
    "keys = json.load(sys.stdin); print(json.dumps([bucket(sys.argv[1], k) for k in keys]))"
)


def _buckets_in_subprocess(seed: str, keys: list[str]) -> list[float]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _BUCKETS, SALT],
        input=json.dumps(keys),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_two_processes_with_different_hash_seeds_route_every_key_identically():
    keys = KEYS[:2000]
    a = _buckets_in_subprocess("1", keys)
    b = _buckets_in_subprocess("4242", keys)
    assert a == b == [bucket(SALT, k) for k in keys]
    # ... and Python's own hash() would not have: the reason it is never used
    probe = "import sys; print(hash('customer-1'))"
    seeds = {
        subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONHASHSEED": s},
            capture_output=True,
            text=True,
        ).stdout
        for s in ("1", "2")
    }
    assert len(seeds) == 2


def test_a_20_percent_canary_routes_20_percent_of_5000_keys():
    share = sum(to_challenger(SALT, k, 20) for k in KEYS) / len(KEYS)
    assert 0.18 <= share <= 0.22, share


def test_another_salt_picks_other_customers():
    a = {k for k in KEYS if to_challenger(SALT, k, 20)}
    b = {k for k in KEYS if to_challenger("another salt", k, 20)}
    assert len(a & b) < 0.35 * len(a)  # ~20 % overlap by chance


def test_a_record_without_a_key_goes_to_the_champion():
    assert not to_challenger(SALT, None, 100)


@settings(max_examples=300, deadline=None)
@given(
    salt=st.text(max_size=80),
    key=st.one_of(st.text(max_size=40), st.integers()),
    low=st.floats(0, 100),
    high=st.floats(0, 100),
)
def test_growing_stages_are_monotone(salt, key, low, high):
    low, high = min(low, high), max(low, high)
    if to_challenger(salt, key, low):
        assert to_challenger(salt, key, high)
    assert 0 <= bucket(salt, key) < 1


def test_the_state_round_trips_through_registry_tags():
    state = RolloutState(
        status="active",
        version="7",
        champion="5",
        stage=2,
        stages=("shadow", 5.0, 20.0),
        salt=SALT,
        started_at=1.5,
        stage_started_at=2.25,
        held=True,
        reason="waiting for outcomes",
    ).event("hold", "ana", "waiting for outcomes")
    tags = state.to_tags()
    assert all(isinstance(v, str) and len(v) <= 5000 for v in tags.values())
    back = RolloutState.from_tags(tags | {"unrelated": "x"})
    assert back == state
    assert back.percent == 20.0 and not back.shadow and back.active
    assert RolloutState.from_tags({}).status == "none"


@pytest.mark.parametrize(
    "stages", [["shadow", 20, 5], [5, "shadow"], [5, 5], [0, 5], [5, 101]], ids=str
)
def test_stages_must_grow(stages):
    with pytest.raises(ValidationError):
        RolloutConfig(stages=stages)


def _cfg(**kw):
    return RolloutConfig(min_requests=100, min_duration_s=60, min_window_requests=20, **kw)


def test_criteria_hold_only_with_enough_requests_time_and_health():
    cfg = _cfg()
    state = RolloutState(status="active", version="2", stages=(5.0,), stage_started_at=0)
    champ = {"requests": 1000, "error_rate": 0.01, "p99_ms": 3.0}
    good = {"requests": 150, "error_rate": 0.015, "p99_ms": 4.0}
    ok, back = criteria(cfg, state, champ, good, now=120)
    assert all(c["ok"] for c in ok) and not back
    few, _ = criteria(cfg, state, champ, good | {"requests": 50}, now=120)
    assert [c["name"] for c in few if not c["ok"]] == ["min_requests"]
    young, _ = criteria(cfg, state, champ, good, now=30)
    assert [c["name"] for c in young if not c["ok"]] == ["min_duration"]
    bad, back = criteria(cfg, state, champ, good | {"error_rate": 0.05}, now=120)
    assert [c["name"] for c in bad if not c["ok"]] == ["error_rate"] and back
    slow, back = criteria(cfg, state, champ, good | {"p99_ms": 250.0}, now=120)
    assert [c["name"] for c in slow if not c["ok"]] == ["p99"] and back


def test_significantly_worse_outcomes_fail_the_stage():
    cfg = _cfg(min_outcomes=30)
    state = RolloutState(status="active", version="2", stages=(5.0,), stage_started_at=0)
    champ = {"requests": 1000, "error_rate": 0, "outcomes": 400, "outcome_mse": 0.15}
    champ["outcome_se"] = 0.005
    worse = {"requests": 200, "error_rate": 0, "outcomes": 100, "outcome_mse": 0.25}
    worse["outcome_se"] = 0.01
    crit, back = criteria(cfg, state, champ, worse, now=120)
    assert not next(c for c in crit if c["name"] == "outcomes")["ok"] and back
    same = worse | {"outcome_mse": 0.155}
    crit, back = criteria(cfg, state, champ, same, now=120)
    assert next(c for c in crit if c["name"] == "outcomes")["ok"] and not back


def test_sliding_window_triggers_on_error_rate_and_latency():
    cfg = _cfg()
    w = Windows(100)
    w.add("champion", 100, False, 2.0)
    w.add("challenger", 10, True, 2.0)
    assert w.breach(cfg) is None  # too few records yet
    w.add("challenger", 15, False, 2.0)
    cause, reason = w.breach(cfg)
    assert cause == "error_rate" and "40.0%" in reason
    w.reset()
    w.add("champion", 50, False, 2.0)
    w.add("challenger", 30, False, 350.0)
    assert w.breach(cfg)[0] == "p99"


def test_psi_is_small_for_one_distribution_and_large_for_a_shift():
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 5000), rng.normal(0, 1, 5000)
    assert psi(a, b) < 0.02
    assert psi(a, b + 1) > 0.5
    assert psi(a[:5], b) is None


def test_routing_cost_is_microseconds():
    t0 = time.perf_counter()
    for k in KEYS:
        to_challenger(SALT, k, 20)
    per_key_us = (time.perf_counter() - t0) / len(KEYS) * 1e6
    assert per_key_us < 50, per_key_us
