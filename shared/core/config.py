"""Config models shared by every use case, YAML loading and `--set section.key=value` overrides."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

# libyaml's parser when PyYAML was built with it (the wheels are): the same values as the pure
# Python one, about 9x faster (a use case's config.yaml: 4.3 -> 0.5 ms). Configs are read many
# times a run (each `load_config`, each `--set` value, every process of a served use case).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> Any:
    """YAML text -> Python values, as `yaml.safe_load` reads it."""
    return yaml.load(text, Loader=_LOADER)  # a safe loader: SafeLoader's C twin


# How to read a team's data file (the `data.reader` section; shared/core/io.py reads with it).
class ReaderConfig(BaseModel):
    """How to parse one data file; every field maps to a quirk seen in real exports."""

    model_config = ConfigDict(extra="forbid")

    sep: str | None = Field(
        None,
        description='None = "," for .csv/.txt and tab for .tsv; "whitespace" = any run of spaces',
    )
    decimal: str = Field(".", min_length=1, max_length=1, description='"," for European exports')
    encoding: str = Field("utf-8", description="utf-8 also strips a byte-order mark")
    header: bool = Field(True, description="false when the first line is already data")
    names: list[str] | None = Field(None, description="column names of a header-less file")
    rename: dict[str, str] = Field({}, description="file column name -> schema column name")
    normalize_names: bool = Field(
        False, description="strip column names and collapse inner whitespace (case is kept)"
    )

    @model_validator(mode="after")
    def _names_only_without_header(self) -> ReaderConfig:
        if self.names is not None and self.header:
            raise ValueError(
                "names is for header-less files (header: false); use rename to change a header"
            )
        return self


# The `monitoring:` section of every use case's config: alert thresholds and window sizes.
# Defaults suit most pilots; a use case overrides them in its config.yaml. The generated
# Prometheus rules (monitoring/) and `pilotpack monitor` read the same values.
class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    psi_alert: float = Field(
        0.2, gt=0, description="PSI at or above this on any model input or the score: alert"
    )
    psi_watch: float = Field(0.1, gt=0, description="PSI at or above this: worth a look")
    p_value: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="KS / chi-square p-value under which a feature is flagged `test` (large "
        "windows make tiny, harmless shifts significant: PSI decides alerts)",
    )
    min_rows: int = Field(100, ge=10, description="rows a window needs before drift is judged")
    live_window: int = Field(
        2000, ge=50, description="recent records each service worker keeps for live PSI"
    )
    live_min_records: int = Field(
        300, ge=10, description="records in the live window before the PSI gauges are set"
    )
    live_every: int = Field(
        50, ge=1, description="recompute the live PSI gauges every this many records"
    )
    psi_for_minutes: int = Field(
        10, ge=0, description="minutes the live PSI stays above psi_alert before the alert fires"
    )
    metric_drop: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="relative drop of the realised headline metric against the registered "
        "figure that raises an alert (0.05 = 5 %)",
    )
    min_outcomes: int = Field(200, ge=10, description="outcomes before realised metrics count")
    outcome_is_good: bool = Field(
        True,
        description="an outcome of 1 is good for the business (a conversion): the higher rate "
        "wins an A/B test; false when the counted outcome is bad (churned, failed): the lower "
        "rate wins",
    )
    min_outcome_coverage: float = Field(
        0.8,
        ge=0,
        le=1,
        description="share of a window's predictions with an outcome before its realised "
        "figures are called complete (outcomes arrive late)",
    )
    error_rate_ratio: float = Field(
        2.0, gt=1, description="alert when the 5-minute error rate exceeds this x the 1-day one"
    )
    min_error_rate: float = Field(
        0.01, ge=0, le=1, description="error rates at or below this never alert"
    )
    traffic_stopped_minutes: int = Field(
        15, ge=1, description="minutes without a scored record before `traffic stopped` fires"
    )
    latency_for_minutes: int = Field(
        5, ge=0, description="minutes p99 stays above the SLA before the latency alert fires"
    )
    down_for_minutes: int = Field(
        1, ge=0, description="minutes a scrape target is down or missing before the down alert"
    )
    webhook_url: str = Field(
        "http://127.0.0.1:5001/alerts",
        description="Alertmanager's webhook receiver for this use case's alerts (default: a "
        "local sink); `pilotpack monitoring generate --webhook-url` or "
        "PILOTPACK_ALERT_WEBHOOK_URL overrides it",
    )
    runbook_url: str = Field(
        "docs/monitoring.md",
        description="the runbook page each alert links (`<runbook_url>#<alert name in lower "
        "case>`): the published manual's monitoring page once it has one",
    )
    reference_sample_rows: int = Field(
        2000, ge=100, description="training rows stored with the model for KS / chi-square tests"
    )
    important_features: list[str] = Field(
        [],
        description="model inputs whose drift makes retraining due; [] = every input",
    )


class Strict(BaseModel):
    """Base for every config section: unknown keys are typos and fail."""

    model_config = ConfigDict(extra="forbid")


class DataConfig(Strict):
    path: Path | None = Field(None, description="CSV or Parquet file; None = synthetic data")
    reader: ReaderConfig = Field(
        ReaderConfig(), description="separator, decimal mark, encoding, header and column names"
    )
    synthetic_rows: int = Field(7000, ge=100)
    seed: int = 42


class SliceRule(Strict):
    """An edge case that must be present in the data, e.g. customers with tenure 0."""

    name: str
    column: str
    op: Literal["eq", "le", "ge", "isin"]
    value: Any
    min_rows: int = Field(1, ge=1)


class QualityConfig(Strict):
    min_rows: int = Field(1000, ge=1)
    label_rate_min: float = Field(0.01, ge=0, le=1)
    label_rate_max: float = Field(0.99, ge=0, le=1)
    max_duplicate_ids: int = Field(0, ge=0)
    max_duplicates_across_parts: int = Field(
        0,
        ge=0,
        description="identical rows allowed in two of train / valid / test (a leak without ids)",
    )
    check_label_rate_by_part: bool = Field(
        True, description="each part's label rate within [label_rate_min, label_rate_max]"
    )
    required_slices: list[SliceRule] = []


class SplitConfig(Strict):
    kind: Literal["stratified", "time", "row_order", "group", "group_time"] = Field(
        "stratified",
        description=(
            "stratified: random, label rate kept in each part (CV: stratified k-fold, plain"
            " k-fold for a continuous target); time: oldest rows train, newest test (CV:"
            " expanding window by time); row_order: file order is time order, first rows"
            " train, last rows test (CV: expanding window by row); group: whole entities at"
            " random in one part, e.g. run-to-failure fleets (CV: group k-fold); group_time:"
            " whole entities in one part and test only after the training cut-off time (CV:"
            " group k-fold)"
        ),
    )
    test_size: float = Field(0.2, gt=0, lt=1)
    valid_size: float = Field(0.2, gt=0, lt=1, description="share of the non-test part")
    seed: int = 42


class LightGBMParams(Strict):
    kind: Literal["lightgbm"] = "lightgbm"
    n_estimators: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(20, ge=1)
    subsample: float = Field(1.0, gt=0, le=1)
    colsample_bytree: float = Field(1.0, gt=0, le=1)
    reg_lambda: float = Field(0.0, ge=0)


class LogisticParams(Strict):
    kind: Literal["logistic"] = "logistic"
    C: float = Field(1.0, gt=0, description="inverse L2 regularisation strength")
    max_iter: int = Field(2000, ge=10)


class RidgeParams(Strict):
    kind: Literal["ridge"] = "ridge"
    alpha: float = Field(1.0, ge=0, description="L2 regularisation strength")


ModelParams = Annotated[LightGBMParams | LogisticParams | RidgeParams, Field(discriminator="kind")]


class Candidate(Strict):
    """One model family to try; `grid` is tuned by cross-validation on the training part, or
    (LightGBM, `search: true`) the budgeted search of `model.search` replaces the grid."""

    name: str
    params: ModelParams
    grid: dict[str, list[float | int | str]] = {}
    search: bool = Field(
        False,
        description="tune LightGBM by the budgeted search (model.search) instead of `grid`; "
        "LightGBM's defaults and `params` are always among the trials",
    )

    @model_validator(mode="after")
    def _grid_keys_are_params(self) -> Candidate:
        unknown = set(self.grid) - set(type(self.params).model_fields)
        if unknown:
            raise ValueError(
                f"grid keys {sorted(unknown)} are not parameters of {self.params.kind}"
            )
        if self.search and self.params.kind != "lightgbm":
            raise ValueError(f"candidate {self.name}: search is for LightGBM candidates only")
        return self


class SearchConfig(Strict):
    """Optuna TPE over LightGBM's important parameters, scored on the training part's folds
    (the split kind's), the number of trees chosen by early stopping on those folds."""

    trials: int = Field(
        30, ge=2, description="trials per searched candidate, the two fixed ones included"
    )
    timeout_s: float | None = Field(
        60.0, gt=0, description="seconds per searched candidate; the trials done so far count"
    )
    max_estimators: int = Field(2000, ge=10, description="trees at most in a sampled trial")
    early_stopping_rounds: int = Field(50, ge=1)
    seed: int = 0


class ModelConfig(Strict):
    candidates: list[Candidate] = Field(min_length=1)
    baseline: str = Field(description="candidate the chosen model must not be worse than")
    cv_folds: int = Field(3, ge=2)
    refit: bool = Field(True, description="refit the tuned model on train + validation")
    search: SearchConfig = SearchConfig()
    blend: list[str] = Field(
        [],
        description="candidates averaged (classifiers: in log-odds) into one more candidate, "
        "`blend`, exported as one ONNX graph; chosen only when it wins on validation",
    )
    calibration: list[Literal["platt", "isotonic"]] = Field(
        ["platt"],
        description="classifiers: calibrators tried on the validation part; one is applied "
        "(inside the ONNX graph) when it lowers the out-of-fold log loss there; [] = none. "
        "Isotonic is not additive: a model calibrated with it has no per-input explanation",
    )

    @model_validator(mode="after")
    def _baseline_is_candidate(self) -> ModelConfig:
        names = [c.name for c in self.candidates]
        if self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the candidates {names}")
        unknown = [b for b in self.blend if b not in names]
        if unknown or (self.blend and len(set(self.blend)) < 2):
            raise ValueError(f"blend needs two or more of the candidates {names}: {self.blend}")
        if "blend" in names and self.blend:
            raise ValueError("a candidate named `blend` clashes with the blend of `model.blend`")
        return self


class GatesConfig(Strict):
    min_roc_auc: float = Field(0.7, ge=0, le=1)
    baseline_alpha: float = Field(0.05, gt=0, lt=1, description="paired-bootstrap significance")
    n_bootstrap: int = Field(500, ge=50)
    max_parity_diff: float = Field(1e-4, gt=0)


class RegressionGatesConfig(Strict):
    baseline_alpha: float = Field(0.05, gt=0, lt=1, description="paired-bootstrap significance")
    n_bootstrap: int = Field(500, ge=50)
    max_parity_diff: float = Field(1e-3, gt=0, description="in the target's units")


RiskLevel = Literal["minimal", "limited", "high", "unacceptable"]
# Deployers of a high-risk system keep its logs at least six months (EU AI Act Art. 26(6)).
HIGH_RISK_MIN_RETENTION_DAYS = 183.0


class GovernanceConfig(Strict):
    """What the AI registry and the model card state about the system (EU AI Act, GDPR).

    Every field may be left out so that a fresh fork still trains, but `pilotpack registry`
    refuses a use case whose risk level or owner is not declared.
    """

    risk_level: RiskLevel | None = Field(
        None, description="EU AI Act risk level: minimal | limited | high | unacceptable"
    )
    risk_rationale: str | None = Field(None, description="why this risk level (one sentence)")
    owner: str | None = Field(None, description="accountable team or person")
    intended_use: str | None = None
    intended_users: str | None = None
    out_of_scope: list[str] = Field([], description="uses the model must not be put to")
    personal_data: bool | None = Field(None, description="does the system process personal data")
    use_sensitive: list[str] = Field(
        [],
        description="sensitive columns (schema metadata `sensitive`) the model may use as "
        "inputs; by default none may",
    )
    limitations: list[str] = Field([], description="known limitations and failure modes")

    def prohibited(self) -> str:
        """Why the system may be neither trained nor served (EU AI Act Art. 5), or ""."""
        if self.risk_level != "unacceptable":
            return ""
        return (
            "governance.risk_level is 'unacceptable': a prohibited practice under the EU AI Act "
            "(Art. 5), never trained or served"
        )

    def min_retention_days(self) -> float:
        """The shortest log retention the risk level allows (0: no floor)."""
        return HIGH_RISK_MIN_RETENTION_DAYS if self.risk_level == "high" else 0.0


class PrivacyConfig(Strict):
    """What the prediction log keeps of personal data, and for how long (shared/serve/privacy.py).

    Direct identifiers (schema metadata `pii: True`) and routing keys are always stored as
    keyed hashes; this section drops further request fields and sets the retention.
    """

    retention_days: float = Field(
        90, gt=0, description="`pilotpack log prune` deletes log rows older than this"
    )
    log_drop: list[str] = Field(
        [],
        description="request fields never written to the prediction log (e.g. quasi-identifiers"
        " or sensitive columns); not model inputs: monitoring rebuilds features from the log",
    )


def risk_retention(governance: GovernanceConfig, privacy: PrivacyConfig) -> PrivacyConfig:
    """The privacy section as the risk level allows it: a high-risk system's retention left
    unset becomes 183 days; one set lower is refused, by value (never silently raised)."""
    floor = governance.min_retention_days()
    if privacy.retention_days >= floor:
        return privacy
    if "retention_days" not in privacy.model_fields_set:
        return privacy.model_copy(update={"retention_days": floor})
    raise ValueError(
        f"privacy.retention_days is {privacy.retention_days:g}, but governance.risk_level "
        f"{governance.risk_level!r} keeps the logs at least {floor:g} days (EU AI Act Art. "
        f"26(6)): set privacy.retention_days to {floor:g} or more"
    )


def retention_days(cfg: Any, days: float | None = None) -> float:
    """How many days `pilotpack log prune` keeps: `days` (else the config's), never under the
    risk level's floor."""
    keep = cfg.privacy.retention_days if days is None else days
    return max(keep, cfg.governance.min_retention_days())


class FairnessConfig(Strict):
    """Fairness by sensitive column on the test part; `gate: fail` makes a breach fail the run."""

    gate: Literal["warn", "fail"] = "warn"
    max_demographic_parity_difference: float = Field(0.2, ge=0, le=1)
    min_demographic_parity_ratio: float = Field(0.0, ge=0, le=1)
    max_equalized_odds_difference: float = Field(0.2, ge=0, le=1)
    min_group_size: int = Field(
        30, ge=1, description="smaller groups are reported but left out of the gate"
    )
    max_groups: int = Field(8, ge=2, description="rarer values are pooled as 'other'")
    bands: dict[str, list[float]] = Field(
        {}, description="band edges per numeric sensitive column, e.g. age; default quartiles"
    )


class OutcomeIntakeConfig(Strict):
    """What POST /outcome accepts (shared/serve/factory.py `outcome_api`)."""

    max_per_request: int = Field(
        1000, ge=1, le=10_000, description="outcomes per request; the body limit follows from it"
    )
    rate_per_minute: float = Field(
        6000,
        gt=0,
        description="outcomes per caller and minute (the API key, else the client address; per "
        "worker); above it a 429",
    )
    burst: int = Field(2000, ge=1, description="outcomes a caller may send at once")

    @model_validator(mode="after")
    def _burst_holds_a_request(self) -> OutcomeIntakeConfig:
        if self.burst < self.max_per_request:
            raise ValueError("burst must be at least max_per_request (one full request)")
        return self


class ServingConfig(Strict):
    max_records: int = Field(1000, ge=1)
    inline_max: int = Field(
        1,
        ge=0,
        description="requests of at most this many records are scored on the event loop; "
        "larger ones in a worker thread (0: every request in a thread)",
    )
    outcomes: OutcomeIntakeConfig = OutcomeIntakeConfig()


class RolloutConfig(Strict):
    """How a challenger reaches every customer: stages, their criteria, routing, auto-rollback.

    Stages run in order: `shadow` (the challenger scores every request too, logged, never
    returned), then canary percentages; after the last stage the challenger is promoted.
    """

    stages: list[
        Literal["shadow"] | Annotated[float, Field(gt=0, le=100), AfterValidator(float)]
    ] = Field(
        ["shadow", 5.0, 20.0, 50.0, 100.0],
        min_length=1,
        description="shadow, then growing % canaries",
    )
    min_requests: int = Field(
        200, ge=1, description="challenger records scored in a stage before `advance`"
    )
    min_duration_s: float = Field(
        7 * 86400,
        ge=0,
        description="seconds a stage lasts at least before `advance`: a week by default (the "
        "playbook moves one stage a week, so every weekday is seen); 60 for a demo",
    )
    salt: str | None = Field(
        None,
        description="routing hash key; None = a new random salt per rollout (set it to keep "
        "the same customers on the challenger across rollouts)",
    )
    routing_key: str | None = Field(
        None, description="request field hashed for routing; None = the use case's id column"
    )
    sla_ms: float = Field(
        200,
        gt=0,
        description="latency SLA: the request p99 alerted on, and the p99 scoring time (model "
        "and features, no HTTP) allowed per variant in a rollout",
    )
    max_error_ratio: float = Field(
        2.0, gt=0, description="challenger error rate allowed, as a multiple of the champion's"
    )
    min_error_rate: float = Field(
        0.01, ge=0, le=1, description="error rates at or below this never trigger a rollback"
    )
    window: int = Field(500, ge=10, description="sliding window of recent records per variant")
    min_window_requests: int = Field(
        50, ge=1, description="records in the window before automatic rollback may trigger"
    )
    refresh_s: float = Field(3.0, gt=0, description="how often services re-read the registry")
    min_outcomes: int | None = Field(
        None,
        ge=1,
        description="outcomes per variant before the outcome comparison counts; None = sized "
        "by power for the non-inferiority margin from the losses seen (before outcomes: a "
        "two-proportion test of baseline_rate vs baseline_rate x (1 + mde))",
    )
    baseline_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="the champion's outcome rate, for sizing; None = its mean predicted "
        "probability in the stage (a calibrated classifier's expected rate)",
    )
    mde: float = Field(
        0.2, gt=0, description="smallest relative change of the outcome rate worth detecting"
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="significance of the outcome comparison")
    power: float = Field(0.8, gt=0, lt=1, description="power wanted at the mde")
    loss_margin: float | None = Field(
        None,
        gt=0,
        description="non-inferiority margin: how much higher the challenger's outcome loss "
        "(mean squared error, the Brier score for probabilities) may be than the champion's "
        "and still advance; None = loss_margin_ratio x the champion's loss in the stage",
    )
    loss_margin_ratio: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="the margin relative to the champion's outcome loss when loss_margin is "
        "not set: 0.05 = a challenger at most 5 % worse may advance",
    )
    max_score_psi: float = Field(
        0.25,
        gt=0,
        description="challenger-vs-champion score PSI above which status raises a flag and "
        "advance (so promotion) is refused",
    )

    @model_validator(mode="after")
    def _monotone(self) -> RolloutConfig:
        pct = [s for s in self.stages if s != "shadow"]
        if "shadow" in self.stages[1:]:
            raise ValueError("rollout.stages: shadow can only be the first stage")
        if pct != sorted(pct) or len(set(pct)) != len(pct):
            raise ValueError(f"rollout.stages: canary percentages must grow: {self.stages}")
        return self


class Band(Strict):
    """Green at or better than `green`, amber at or better than `amber`, else red."""

    green: float
    amber: float
    higher_is_better: bool = True


class ScorecardConfig(Strict):
    """The go/no-go scorecard (`pilotpack scorecard`): the price used for cost, and the band of
    each figure."""

    core_hour_price: float = Field(
        0.05, ge=0, description="price of one CPU core for an hour (cost per 1,000 predictions)"
    )
    kpi: str | None = Field(
        None,
        description="KPI compared realised vs expected; None = the first registered KPI whose "
        "name ends in `rate` (a rate compares across window sizes, a sum does not)",
    )
    kpi_ratio: Band = Band(green=0.9, amber=0.75)  # realised / expected KPI
    p99_vs_sla: Band = Band(green=0.5, amber=1.0, higher_is_better=False)  # p99 / SLA
    uptime: Band = Band(green=0.999, amber=0.99)
    cost_per_1000: Band = Band(green=0.01, amber=0.1, higher_is_better=False)
    retrains: Band = Band(green=3, amber=6, higher_is_better=False)  # in the pilot so far
    fairness_gap: Band = Band(green=0.1, amber=0.2, higher_is_better=False)  # largest difference


class PipelineConfig(Strict):
    """Everything but `kpi`, which each use case defines in its kpi.py."""

    data: DataConfig = DataConfig()
    quality: QualityConfig = QualityConfig()
    split: SplitConfig = SplitConfig()
    model: ModelConfig
    gates: GatesConfig = GatesConfig()
    serving: ServingConfig = ServingConfig()
    governance: GovernanceConfig = GovernanceConfig()
    fairness: FairnessConfig = FairnessConfig()
    rollout: RolloutConfig = RolloutConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    scorecard: ScorecardConfig = ScorecardConfig()

    @model_validator(mode="after")
    def _risk_retention(self) -> PipelineConfig:
        self.privacy = risk_retention(self.governance, self.privacy)
        return self


def config_model(
    name: str,
    kpi_model: type[BaseModel],
    settings_model: type[BaseModel] | None = None,
    gates_model: type[BaseModel] = GatesConfig,
    base: type[BaseModel] = PipelineConfig,
) -> type[Any]:
    """The full config class of one use case: the task's sections plus its KPI section, and
    its `settings` section when the use case has one."""
    extra: dict[str, Any] = (
        {"settings": (settings_model, settings_model())} if settings_model else {}
    )
    if gates_model is not None:
        extra["gates"] = (gates_model, gates_model())
    return create_model(f"{name}_config", __base__=base, kpi=(kpi_model, ...), **extra)


def has_setting(cfg: Any, dotted: str) -> bool:
    """Whether a config has the setting `a.b.c` (overrides meant for several tasks' configs)."""
    for part in dotted.split("."):
        if not hasattr(cfg, part):
            return False
        cfg = getattr(cfg, part)
    return True


def parse_override(item: str) -> tuple[list[str], Any]:
    """`model.cv_folds=5` -> (["model", "cv_folds"], 5); the value is read as YAML."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override {item!r} is not of the form section.key=value")
    return key.strip().split("."), read_yaml(value)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of `raw` with each `a.b.c=value` set; list items are addressed by index."""
    out = json.loads(json.dumps(raw, default=str))
    for item in overrides:
        path, value = parse_override(item)
        node: Any = out
        for part in path[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = path[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return out


def load_config(
    path: Path, model: type[PipelineConfig], overrides: list[str] | None = None
) -> PipelineConfig:
    """Read a use case's config.yaml, apply overrides and validate it (typos fail)."""
    raw = read_yaml(path.read_text()) or {}
    return model.model_validate(apply_overrides(raw, overrides or []))


def config_hash(cfg: BaseModel) -> str:
    """Stable short hash of the resolved config, logged as lineage."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
