"""Contributions of each model input to one prediction, summing exactly to the model's output.

- LightGBM: its own TreeSHAP (`pred_contrib`), from the booster saved in LightGBM's text
  format at training (never a pickle).
- Logistic / ridge: exact linear terms `coef * (z - mean z)`, base value at the training mean.
- One-hot columns are summed back to the model input they came from.

The output is the model's raw score: log-odds for a classifier, the prediction for a
regressor. `base_value + sum(contributions) + rest == output` (rest = the inputs beyond the
top ones asked for). The preprocessing is replayed from plain parameters (JSON), on the same
float32 feed the ONNX graph gets (`make_feed`).

During a canary, /explain routes each record (each entity, for history use cases) by the same
routing key and hash as /predict (shared/serve/router.py), so a customer the challenger
answered gets the challenger's explanation; each explanation names its variant and version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field

from shared.core.onnx_export import NUMERIC_INPUT, make_feed
from shared.core.tracking import CHALLENGER, CHAMPION
from shared.core.usecase import latest_positions

SPEC_FILE = "explainer.json"
BOOSTER_FILE = "lightgbm_booster.txt"


# --------------------------------------------------------------------------- training side


def explainer_files(
    pipeline: Any, numeric: list[str], categorical: list[str], X_train: Any
) -> dict[str, str]:
    """What the service needs to explain the fitted pipeline: a JSON spec (+ the booster)."""
    if hasattr(pipeline, "linear_parts"):  # a blend / calibrated model (shared/core/calibration.py)
        return _combined_files(pipeline, numeric, categorical, X_train)
    pre, est = pipeline.named_steps["features"], pipeline.named_steps["model"]
    owners: list[str] = []
    categories: dict[str, list[str]] = {}
    linear: dict[str, Any] = {}
    for name, trans, cols in pre.transformers_:
        if name == "remainder":
            continue
        if name == "num":
            owners += list(cols)
            if hasattr(trans, "named_steps"):  # the linear model's impute + scale (fitted
                # "passthrough" shows up as a FunctionTransformer: nothing to replay)
                linear["median"] = trans.named_steps["impute"].statistics_.tolist()
                linear["mean"] = trans.named_steps["scale"].mean_.tolist()
                linear["scale"] = trans.named_steps["scale"].scale_.tolist()
        elif name == "cat":
            for col, cats in zip(cols, trans.categories_, strict=True):
                categories[col] = [str(c) for c in cats]
                owners += [col] * len(cats)
    spec: dict[str, Any] = {
        "numeric": list(numeric),
        "categories": categories,
        "owners": owners,
        "classifier": hasattr(est, "predict_proba"),
    }
    files: dict[str, str] = {}
    if hasattr(est, "booster_"):
        spec["kind"] = "lightgbm"
        files[BOOSTER_FILE] = est.booster_.model_to_string()
    else:
        spec["kind"] = "linear"
        design = np.asarray(pre.transform(X_train), dtype=np.float64)
        spec |= {
            "coef": np.ravel(est.coef_).tolist(),
            "intercept": float(np.ravel(est.intercept_)[0]),
            "center": design.mean(axis=0).tolist(),
            **linear,
        }
    files[SPEC_FILE] = json.dumps(spec)
    return files


def _combined_files(
    model: Any, numeric: list[str], categorical: list[str], X_train: Any
) -> dict[str, str]:
    """Output = shift + sum_k weight_k * output_k, each part explained on its own: the
    contributions add up the same way (Platt scaling and log-odds blends are linear)."""
    pairs, scale, shift = model.linear_parts()  # TypeError when not linear (isotonic)
    files: dict[str, str] = {}
    parts = []
    for k, (_, pipe) in enumerate(pairs):
        sub = explainer_files(pipe, numeric, categorical, X_train)
        spec = json.loads(sub[SPEC_FILE])
        if BOOSTER_FILE in sub:
            spec["booster_file"] = f"lightgbm_booster_{k}.txt"
            files[spec["booster_file"]] = sub[BOOSTER_FILE]
        parts.append(spec)
    top = {key: parts[0][key] for key in ("numeric", "categories", "owners", "classifier")}
    top |= {
        "kind": "combined",
        "parts": parts,
        "weights": [w * scale for w, _ in pairs],
        "shift": shift,
    }
    files[SPEC_FILE] = json.dumps(top)
    return files


# --------------------------------------------------------------------------- both sides


@dataclass
class Explainer:
    spec: dict[str, Any]
    booster: Any = None
    parts: list[Explainer] = field(default_factory=list)

    @classmethod
    def from_files(cls, files: dict[str, str]) -> Explainer:
        spec = json.loads(files[SPEC_FILE])
        booster = None
        if spec["kind"] == "combined":
            parts = []
            for s in spec["parts"]:
                sub = {SPEC_FILE: json.dumps(s)}
                if "booster_file" in s:
                    sub[BOOSTER_FILE] = files[s["booster_file"]]
                parts.append(cls.from_files(sub))
            return cls(spec, None, parts)
        if spec["kind"] == "lightgbm":
            import lightgbm  # heavy: only for a LightGBM model's explainer

            booster = lightgbm.Booster(model_str=files[BOOSTER_FILE])
        return cls(spec, booster)

    @classmethod
    def from_folder(cls, folder: Path) -> Explainer:
        names = [SPEC_FILE, BOOSTER_FILE, *(f"lightgbm_booster_{k}.txt" for k in range(8))]
        return cls.from_files({n: (folder / n).read_text() for n in names if (folder / n).exists()})

    @property
    def inputs(self) -> list[str]:
        return list(dict.fromkeys(self.spec["owners"]))

    @property
    def output_kind(self) -> str:
        return "log_odds" if self.spec["classifier"] else "prediction"

    def design(self, features: dict[str, Any]) -> np.ndarray:
        """The transformed matrix the estimator sees (numbers imputed/scaled for a linear model)."""
        spec = self.spec
        feed = make_feed(features, spec["numeric"], list(spec["categories"]))
        cols = []
        for i in range(len(spec["numeric"])):
            x = feed[NUMERIC_INPUT][:, i]
            if spec["kind"] == "linear":  # SimpleImputer works in float32, the scaler in float64
                x = np.where(np.isnan(x), np.float32(spec["median"][i]), x).astype(np.float64)
                x = (x - spec["mean"][i]) / spec["scale"][i]
            cols.append(x.astype(np.float64))
        for c, cats in spec["categories"].items():
            v = feed[c][:, 0]
            cols += [(v == cat).astype(np.float64) for cat in cats]
        n = len(next(iter(feed.values()))) if feed else 0
        return np.column_stack(cols) if cols else np.zeros((n, 0))

    def explain(self, features: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(contributions [n, inputs] in the order of `inputs`, base value [n])."""
        if self.spec["kind"] == "combined":
            out = [p.explain(features) for p in self.parts]
            w = self.spec["weights"]
            contrib = sum(wk * c for wk, (c, _) in zip(w, out, strict=True))
            base = self.spec["shift"] + sum(wk * b for wk, (_, b) in zip(w, out, strict=True))
            return contrib, base
        m = self.design(features)
        if self.spec["kind"] == "lightgbm":
            raw = np.asarray(self.booster.predict(m, pred_contrib=True), dtype=np.float64)
            per_column, base = raw[:, :-1], raw[:, -1]
        else:
            coef, center = np.asarray(self.spec["coef"]), np.asarray(self.spec["center"])
            per_column = (m - center) * coef
            base = np.full(len(m), self.spec["intercept"] + float(coef @ center))
        owners = self.spec["owners"]
        index = {name: i for i, name in enumerate(self.inputs)}
        summed = np.zeros((len(m), len(index)))
        np.add.at(summed.T, [index[o] for o in owners], per_column.T)
        return summed, base

    def global_importance(self, features: dict[str, Any]) -> dict[str, float]:
        """Mean |contribution| per model input, largest first."""
        contrib, _ = self.explain(features)
        mean = np.abs(contrib).mean(axis=0) if len(contrib) else np.zeros(len(self.inputs))
        order = np.argsort(-mean, kind="stable")
        return {self.inputs[i]: round(float(mean[i]), 6) for i in order}


# --------------------------------------------------------------------------- serving side


class Contribution(BaseModel):
    column: str = Field(description="model input (one-hot columns summed back to theirs)")
    value: float = Field(description="contribution to the output, in its units")


class Explanation(BaseModel):
    output: float = Field(description="the model's raw output: log-odds, or the prediction")
    output_kind: str = Field(description="log_odds (classifier) or prediction (regressor)")
    base_value: float = Field(description="output at the training average")
    contributions: list[Contribution] = Field(description="largest |contribution| first")
    rest: float = Field(description="sum of the other inputs' contributions")
    model_version: str
    variant: str = Field(
        CHAMPION, description="champion, or challenger when the canary routes this key to it"
    )


_CACHE: dict[str, Explainer] = {}


def explainer_for(stored: Any) -> Explainer:
    """The stored model's explainer, loaded once per model tag."""
    if stored.tag not in _CACHE:
        if not (Path(stored.path) / SPEC_FILE).exists():
            raise InvalidArgument(
                f"model {stored.tag} was stored without an explainer: retrain it to get /explain"
            )
        _CACHE[stored.tag] = Explainer.from_folder(Path(stored.path))
    return _CACHE[stored.tag]


def explain_records(
    predictor: Any, records: list[Any], top: int, variant: str = CHAMPION
) -> list[Explanation]:
    """Per record (per entity's latest record, for history use cases): the top contributions."""
    uc = predictor.uc
    explainer = explainer_for(predictor.stored)
    columns = predictor.columns(records)
    if uc.history:  # the rows /predict scores: each entity's latest record
        latest = latest_positions(
            [getattr(r, uc.id_column) for r in records],
            [getattr(r, uc.time_column) for r in records],
        )
        rows = np.fromiter(latest.values(), dtype=np.int64, count=len(latest))
        features = uc.features_at(columns, rows)
    else:
        features = uc.build_features(columns)
    contrib, base = explainer.explain(features)
    return explanations(explainer, contrib, base, top, predictor.version, variant)


def explain_routed(deployment: Any, records: list[Any], top: int) -> list[Explanation]:
    """Each unit explained by the model /predict routes it to under the current plan, in the
    order /predict answers: records, or entities by first appearance for history use cases."""
    plan = deployment.plan
    uc = plan.champion.uc
    if uc.history:  # one unit per entity, routed by its first record's key (as /predict does)
        entities: dict[Any, list[int]] = {}
        for i, r in enumerate(records):
            entities.setdefault(getattr(r, uc.id_column) if uc.id_column else i, []).append(i)
        units = list(entities.values())
    else:
        units = [[i] for i in range(len(records))]
    field = deployment.key_field
    keys = [getattr(records[u[0]], field, None) if field else None for u in units]
    champion_units, challenger_units = deployment.split(plan, keys)
    out: list[Explanation | None] = [None] * len(units)
    for variant, model, chosen in (
        (CHAMPION, plan.champion, champion_units),
        (CHALLENGER, plan.challenger, challenger_units),
    ):
        if not chosen:
            continue
        rows = sorted(i for u in chosen for i in units[u])  # request order kept
        done = explain_records(model, [records[i] for i in rows], top, variant)
        for u, e in zip(chosen, done, strict=True):
            out[u] = e
    return [e for e in out if e is not None]


def explanations(
    explainer: Explainer,
    contrib: np.ndarray,
    base: np.ndarray,
    top: int,
    version: str,
    variant: str = CHAMPION,
) -> list[Explanation]:
    names = explainer.inputs
    out = []
    for row, b in zip(contrib, base, strict=True):
        order = np.argsort(-np.abs(row), kind="stable")
        head, tail = order[:top], order[top:]
        out.append(
            Explanation(
                output=float(b + row.sum()),
                output_kind=explainer.output_kind,
                base_value=float(b),
                contributions=[Contribution(column=names[i], value=float(row[i])) for i in head],
                rest=float(row[tail].sum()),
                model_version=version,
                variant=variant,
            )
        )
    return out


EXPLAIN_ROUTE = "/explain"


def explain_api(request: type[BaseModel], max_records: int) -> Any:
    """POST /explain: each record explained by the model that answers it on /predict."""

    def explain(
        self: Any,
        records: Any = Field(min_length=1, max_length=max_records),
        top: int = Field(5, ge=1, le=100, description="contributions returned per record"),
    ) -> Any:
        """Per record: the model's raw output (log-odds for a classifier), the base value and
        the largest contributions by model input; base + contributions + rest = output."""
        return explain_routed(self.deployment, records, top)

    explain.__annotations__ = {"records": list[request], "top": int, "return": list[Explanation]}
    return explain
