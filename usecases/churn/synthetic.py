"""Seeded Telco-like customers in the RawSchema, quirks included (blank TotalCharges at tenure 0)."""

import numpy as np
import pandas as pd


def _pick(rng: np.random.Generator, values: list[str], p: list[float], n: int) -> np.ndarray:
    return rng.choice(np.array(values, dtype=object), size=n, p=p)


def make_synthetic(n: int = 7043, seed: int = 42) -> pd.DataFrame:
    """About a quarter churners; churn driven by contract, tenure, charges, payment, internet, support."""
    rng = np.random.default_rng(seed)
    contract = _pick(rng, ["Month-to-month", "One year", "Two year"], [0.55, 0.21, 0.24], n)
    max_tenure = np.where(contract == "Month-to-month", 40, 72)
    tenure = np.floor(rng.beta(0.9, 1.1, n) * (max_tenure + 1)).astype(int)
    tenure[rng.random(n) < 0.002] = 0  # brand-new customers: the blank-TotalCharges quirk
    internet = _pick(rng, ["DSL", "Fiber optic", "No"], [0.34, 0.44, 0.22], n)
    has_net = internet != "No"
    phone = _pick(rng, ["Yes", "No"], [0.9, 0.1], n)

    def addon(p_yes: float) -> np.ndarray:
        yes = rng.random(n) < p_yes
        return np.where(has_net, np.where(yes, "Yes", "No"), "No internet service").astype(object)

    security, backup, protection, support = addon(0.35), addon(0.4), addon(0.4), addon(0.35)
    tv, movies = addon(0.5), addon(0.5)
    multiple = np.where(
        phone == "Yes", np.where(rng.random(n) < 0.45, "Yes", "No"), "No phone service"
    )
    payment = _pick(
        rng,
        [
            "Electronic check",
            "Mailed check",
            "Bank transfer (automatic)",
            "Credit card (automatic)",
        ],
        [0.34, 0.23, 0.22, 0.21],
        n,
    )
    monthly = (
        (
            20
            + 25 * (internet == "DSL")
            + 50 * (internet == "Fiber optic")
            + 5 * (multiple == "Yes")
            + 5 * sum((c == "Yes") for c in (security, backup, protection, support))
            + 9 * sum((c == "Yes") for c in (tv, movies))
            + rng.normal(0, 3, n)
        )
        .clip(18, 120)
        .round(2)
    )
    total = (tenure * monthly * rng.normal(1.0, 0.03, n)).round(2)
    senior = (rng.random(n) < 0.16).astype(int)

    logit = (
        -2.1
        + 1.5 * (contract == "Month-to-month")
        - 1.0 * (contract == "Two year")
        - 0.045 * tenure
        + 0.012 * (monthly - 65)
        + 0.6 * (payment == "Electronic check")
        + 0.5 * (internet == "Fiber optic")
        + 0.4 * (support == "No")
        + 0.4 * (security == "No")
        + 0.3 * senior
        + rng.normal(0, 0.6, n)
    )
    churn = rng.random(n) < 1 / (1 + np.exp(-logit))

    return pd.DataFrame(
        {
            "customerID": [f"{rng.integers(1000, 9999)}-{i:05d}" for i in range(n)],
            "gender": _pick(rng, ["Female", "Male"], [0.5, 0.5], n),
            "SeniorCitizen": senior,
            "Partner": _pick(rng, ["Yes", "No"], [0.48, 0.52], n),
            "Dependents": _pick(rng, ["Yes", "No"], [0.3, 0.7], n),
            "tenure": tenure,
            "PhoneService": phone,
            "MultipleLines": multiple.astype(object),
            "InternetService": internet,
            "OnlineSecurity": security,
            "OnlineBackup": backup,
            "DeviceProtection": protection,
            "TechSupport": support,
            "StreamingTV": tv,
            "StreamingMovies": movies,
            "Contract": contract,
            "PaperlessBilling": _pick(rng, ["Yes", "No"], [0.59, 0.41], n),
            "PaymentMethod": payment,
            "MonthlyCharges": monthly.astype(float),
            # The raw file stores this as text with a single space when nothing was billed yet.
            "TotalCharges": np.where(tenure == 0, " ", total.astype(str)).astype(object),
            "Churn": np.where(churn, "Yes", "No").astype(object),
        }
    )
