"""Model inputs from raw rows: row-wise, no fitting, no I/O; the same code in training and serving.

The file's quirks are handled here, not by the validator: `Select` and empty answers become
one "not answered" level, categories are compared in lower case ("Google" == "google"),
empty counts are 0 with a flag saying so, and counts are capped so that an outlier (251
visits) cannot dominate a linear model. The leaky columns in schema.LEAKY_COLUMNS are never read.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from shared.core.usecase import Columns, Features

NOT_ANSWERED = "not answered"
PLACEHOLDERS = {"", "select"}  # ADAPT: your form's placeholder values, in lower case
HOME_COUNTRY = "india"  # ADAPT: most leads come from here; the rest are grouped as "abroad"
MAX_VISITS = 50.0  # caps, not learned: 99.9 % of the file is below them
MAX_PAGES_PER_VISIT = 20.0

# Profile questions of the web form: answered or not says how engaged the lead is.
FORM_ANSWERS = {
    "Specialization": "specialization",
    "How did you hear about X Education": "heard_from",
    "What is your current occupation": "occupation",
    "What matters most to you in choosing a course": "what_matters",
    "City": "city",
}
# "Where did you see us" flags: each nearly always "No", so they are counted, not one-hot.
AD_CHANNELS = [
    "Search",
    "Newspaper Article",
    "X Education Forums",
    "Newspaper",
    "Digital Advertisement",
    "Through Recommendations",
]
# Raw column -> model input. Inputs get identifier names: the ONNX converter rewrites names
# with spaces ("Lead Source" -> "Lead_Source"), and the feed must match the graph.
PASSTHROUGH_CATEGORIES = {
    "Lead Origin": "lead_origin",
    "Lead Source": "lead_source",
    "Do Not Email": "do_not_email",
    "A free copy of Mastering The Interview": "free_copy",
    **FORM_ANSWERS,
}
TEXT_COLUMNS = [*PASSTHROUGH_CATEGORIES, *AD_CHANNELS]
FORM_ROWS = [TEXT_COLUMNS.index(c) for c in FORM_ANSWERS]
AD_ROWS = [TEXT_COLUMNS.index(c) for c in AD_CHANNELS]
# Not used: the ids, the leaky columns, `Do Not Call` (2 "Yes" in 9,240) and the five
# constant flags (Magazine, Receive More Updates..., Update me on Supply Chain Content,
# Get updates on DM Content, I agree to pay the amount through cheque).


def category(values: object) -> np.ndarray:
    """Lower-cased, stripped text; missing and placeholder values are NOT_ANSWERED."""
    return np.array(texts(values), dtype=str)


def categories(raw: Columns, columns: Sequence[str]) -> np.ndarray:
    """`category` of each of `columns`, one row each, built as one array (on a one-record
    request the cost is per numpy call: one array per column was a third of the features)."""
    return np.array([texts(raw[c]) for c in columns], dtype=str)


def texts(values: object) -> list[str]:
    """`category`'s values as a list."""
    items = np.asarray(values, dtype=object).tolist()
    # Text needs no missing-value check: pandas is asked only about the other values (a
    # pd.isna per column was most of a one-record request's 108 us of features).
    found = [v.strip().lower() if type(v) is str else None for v in items]
    if None in found:
        missing = pd.isna(np.asarray(items, dtype=object))
        found = [
            ("" if m else str(v).strip().lower()) if t is None else t
            for t, m, v in zip(found, missing, items, strict=True)
        ]
    return [NOT_ANSWERED if t in PLACEHOLDERS else t for t in found]


def number(values: object) -> np.ndarray:
    """float64 with NaN for missing (None, NaN and pandas' NA alike)."""
    try:  # numbers and NaN already (a request's columns, a float column): one conversion
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # pandas' NA or NaT among them (text still fails below)
        arr = np.asarray(values, dtype=object)
        return np.where(pd.isna(arr), np.nan, arr).astype(np.float64)


def country_group(values: object) -> np.ndarray:
    """home / abroad / not answered: 38 countries, most with a handful of leads."""
    c = category(values)
    return np.where(c == NOT_ANSWERED, c, np.where(c == HOME_COUNTRY, "home", "abroad")).astype(str)


def build_features(raw: Columns) -> Features:
    """Numbers as float, categories as str; does not modify `raw`."""
    visits_raw = number(raw["TotalVisits"])
    visits = np.minimum(np.nan_to_num(visits_raw, nan=0.0), MAX_VISITS)
    pages = np.minimum(
        np.nan_to_num(number(raw["Page Views Per Visit"]), nan=0.0), MAX_PAGES_PER_VISIT
    )
    seconds = number(raw["Total Time Spent on Website"])
    # each text column once, in one array: the form answers are counted here and passed below
    block = categories(raw, TEXT_COLUMNS)
    text = dict(zip(TEXT_COLUMNS, block, strict=True))
    answered = (block[FORM_ROWS] != NOT_ANSWERED).sum(axis=0, dtype=np.float64)
    ads = (block[AD_ROWS] == "yes").sum(axis=0, dtype=np.float64)
    out: Features = {
        "visits": visits,
        # The file leaves visits empty for leads imported or added by hand, which convert often.
        "visits_missing": np.isnan(visits_raw).astype(np.float64),
        "time_on_site_s": seconds,
        "pages_per_visit": pages,
        "time_per_visit_s": np.where(visits > 0, seconds / np.maximum(visits, 1.0), 0.0),
        "form_answers": answered,
        "ad_channels": ads,
        "country": country_group(raw["Country"]),
    }
    for column, name in PASSTHROUGH_CATEGORIES.items():
        out[name] = text[column]
    return out
