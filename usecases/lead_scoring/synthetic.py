"""Seeded X-Education-like leads in the RawSchema, quirks included.

Quirks as in the real export: `Select` placeholders, "Google" and "google", empty answers
that cluster by lead origin, constant and near-constant Yes/No flags, visit-count outliers,
"02.Medium"-style index strings, and post-contact columns (Tags, Lead Quality, ...) that are
generated FROM the outcome, so that a model using them looks far better than it is.
Weights are {value: relative weight}; None is an empty cell. They follow the real file's counts.
"""

import uuid

import numpy as np
import pandas as pd

# fmt: off
ORIGINS = {"Landing Page Submission": 52.9, "API": 38.7, "Lead Add Form": 7.8, "Lead Import": 0.58,
           "Quick Add Form": 0.02}
SOURCES = {  # lead source given the origin
    "Landing Page Submission": {"Direct Traffic": 49.5, "Google": 34.5, "Organic Search": 14.3,
                                "Referral Sites": 0.6, "google": 0.4, "Social Media": 0.3,
                                "Pay per Click Ads": 0.2, "blog": 0.2},
    "API": {"Olark Chat": 48.8, "Google": 32, "Organic Search": 12.7, "Direct Traffic": 3.1,
            "Referral Sites": 2.7, "bing": 0.4, "google": 0.3},
    "Lead Add Form": {"Reference": 74.4, "Welingak Website": 19.8, None: 4.6, "Click2call": 0.6,
                      "Live Chat": 0.3, "Olark Chat": 0.3},
    "Lead Import": {"Facebook": 98.2, None: 1.8},
    "Quick Add Form": {None: 1},
}
# Share of empty form answers by origin: API and imported leads mostly skip the web form.
EMPTY = {"Landing Page Submission": 0.01, "API": 0.39, "Lead Add Form": 0.0, "Lead Import": 0.4,
         "Quick Add Form": 0.0}
# Share with no occupation answer: in the real file these are the leads nobody called.
NO_PROFILE = {"Landing Page Submission": 0.25, "API": 0.40, "Lead Add Form": 0.0,
              "Lead Import": 0.16, "Quick Add Form": 0.0}
NO_COUNTRY = {"Landing Page Submission": 0.007, "API": 0.47, "Lead Add Form": 0.9,
              "Lead Import": 1.0, "Quick Add Form": 1.0}
SPECIALIZATIONS = {
    "Finance Management": 976, "Human Resource Management": 848, "Marketing Management": 838,
    "Operations Management": 503, "Business Administration": 403, "IT Projects Management": 366,
    "Supply Chain Management": 349, "Banking, Investment And Insurance": 338,
    "Media and Advertising": 203, "Travel and Tourism": 203, "International Business": 178,
    "Healthcare Management": 159, "Hospitality Management": 114, "E-COMMERCE": 112,
    "Retail Management": 100, "Rural and Agribusiness": 73, "E-Business": 57,
    "Services Excellence": 40,
}
HEARD = {"Online Search": 808, "Word Of Mouth": 348, "Student of SomeSchool": 310, "Other": 186,
         "Multiple Sources": 152, "Advertisements": 70, "Social Media": 67, "Email": 26, "SMS": 23}
CITIES = {"Mumbai": 3222, "Thane & Outskirts": 752, "Other Cities": 686,
          "Other Cities of Maharashtra": 457, "Other Metro Cities": 380, "Tier II Cities": 74}
ABROAD = {"United States": 4, "United Arab Emirates": 3, "Singapore": 1.5, "Saudi Arabia": 1.3,
          "United Kingdom": 1, "Australia": 1, "Qatar": 0.6, "unknown": 0.3}
OCCUPATIONS = {"Unemployed": 86, "Working Professional": 9, "Student": 3.5, "Other": 0.8,
               "Housewife": 0.4, "Businessman": 0.3}
MATTERS = {"Better Career Prospects": 99.95, "Flexibility & Convenience": 0.03, "Other": 0.02}

# Effects on the log-odds of converting (the unobserved intent and noise come on top).
ORIGIN_EFFECT = {"Landing Page Submission": 0.0, "API": -0.1, "Lead Add Form": 2.4,
                 "Lead Import": -0.6, "Quick Add Form": 2.0}
SOURCE_EFFECT = {"Welingak Website": 1.8, "Reference": 0.6, "Olark Chat": -0.5,
                 "Referral Sites": -0.6}
JOB_EFFECT = {"Working Professional": 2.6, "Student": -0.3, "Housewife": 2.5, "Other": 0.7,
              "Businessman": 0.7, None: -1.5}

# Post-contact columns, written by the sales team: distributions given converted / not.
TAGS = (
    {"Will revert after reading the email": 53, "Closed by Horizzon": 10, "Lost to EINS": 4,
     "Busy": 3, None: 25, "in touch with EINS": 0.3, "Interested in Next batch": 0.2},
    {"Ringing": 26, "Interested in other courses": 11, "Already a student": 10, "switched off": 5,
     "Not doing further education": 3, "Interested  in full time MBA": 2.5,
     "Graduation in progress": 2.3, "invalid number": 1.8, "Busy": 2,
     "Diploma holder (Not Eligible)": 1.4, "wrong number given": 1,
     "Will revert after reading the email": 1.5, None: 31},
)
QUALITY = (
    {None: 30, "Might be": 30, "High in Relevance": 16, "Low in Relevance": 12, "Not Sure": 7,
     "Worst": 1},
    {None: 64, "Not Sure": 14, "Worst": 10, "Might be": 8, "Low in Relevance": 2,
     "High in Relevance": 0.6},
)
PROFILE = (
    {"Potential Lead": 38, "Select": 47, "Other Leads": 8, "Lateral Student": 1,
     "Dual Specialization Student": 1, "Student of SomeSchool": 0.5},
    {"Select": 60, "Potential Lead": 12, "Other Leads": 8, "Student of SomeSchool": 7},
)
LAST_ACTIVITY = (
    {"SMS Sent": 47, "Email Opened": 33, "Page Visited on Website": 4,
     "Olark Chat Conversation": 2.4, "Converted to Lead": 1.5, "Email Link Clicked": 2,
     "Had a Phone Conversation": 0.6, "Unreachable": 0.8, None: 2.2, "Email Bounced": 0.7,
     "Form Submitted on Website": 0.8, "Unsubscribed": 0.5, "Approached upfront": 0.3},
    {"Email Opened": 38, "SMS Sent": 18, "Olark Chat Conversation": 16,
     "Page Visited on Website": 8.7, "Converted to Lead": 6.6, "Email Bounced": 5.3,
     "Email Link Clicked": 3.4, "Form Submitted on Website": 1.6, "Unreachable": 1.1,
     "Unsubscribed": 0.8, None: 0.4, "View in browser link Clicked": 0.1},
)
ACTIVITY_INDEX = ({"01.High": 12, "02.Medium": 84, "03.Low": 4},
                  {"01.High": 19, "02.Medium": 70, "03.Low": 11})
PROFILE_INDEX = ({"01.High": 50, "02.Medium": 49, "03.Low": 1},
                 {"01.High": 38, "02.Medium": 61, "03.Low": 1})
# fmt: on


def _pick(rng: np.random.Generator, weights: dict, n: int) -> np.ndarray:
    p = np.array(list(weights.values()), dtype=float)
    return rng.choice(np.array(list(weights), dtype=object), size=n, p=p / p.sum())


def _flag(rng: np.random.Generator, p_yes: float, n: int) -> np.ndarray:
    return np.where(rng.random(n) < p_yes, "Yes", "No").astype(object)


def _share(origin: np.ndarray, by_origin: dict[str, float]) -> np.ndarray:
    return np.array([by_origin[o] for o in origin])


def _by_origin(rng: np.random.Generator, origin: np.ndarray, table: dict[str, dict]) -> np.ndarray:
    out = np.empty(len(origin), dtype=object)
    for o, weights in table.items():
        m = origin == o
        out[m] = _pick(rng, weights, int(m.sum()))
    return out


def _by_label(
    rng: np.random.Generator, converted: np.ndarray, tables: tuple[dict, dict]
) -> np.ndarray:
    out = _pick(rng, tables[1], len(converted))
    out[converted] = _pick(rng, tables[0], int(converted.sum()))
    return out


def _answers(rng, origin, weights, select_share, empty_scale=1.0) -> np.ndarray:
    """A form question: empty (by origin), the `Select` placeholder, or a real answer."""
    n = len(origin)
    out = _pick(rng, weights, n)
    out[rng.random(n) < select_share] = "Select"
    out[rng.random(n) < _share(origin, EMPTY) * empty_scale] = None
    return out


def _visits(rng: np.random.Generator, origin: np.ndarray) -> np.ndarray:
    """Visit counts: none for most API and hand-added leads, rare outliers, some empty cells."""
    n = len(origin)
    visits = 1.0 + rng.negative_binomial(2, 0.4, n)
    added = np.isin(origin, ["Lead Add Form", "Lead Import", "Quick Add Form"])
    no_visit = ((origin == "API") & (rng.random(n) < 0.45)) | (added & (rng.random(n) < 0.9))
    visits[no_visit] = 0.0
    outlier = (origin == "Landing Page Submission") & (rng.random(n) < 0.002)
    visits[outlier] = rng.integers(30, 252, int(outlier.sum()))
    empty = {"Lead Add Form": 0.15, "Lead Import": 0.44, "Quick Add Form": 1.0}
    visits[rng.random(n) < np.array([empty.get(o, 0.001) for o in origin])] = np.nan
    return visits


def make_synthetic(n: int = 9240, seed: int = 42) -> pd.DataFrame:
    """About 38 % converted; driven by origin, source, occupation, time on site and e-mail opt-out."""
    rng = np.random.default_rng(seed)
    origin = _pick(rng, ORIGINS, n)
    source = _by_origin(rng, origin, SOURCES)
    intent = rng.normal(0, 1, n)  # unobserved: drives both time on site and conversion
    visits = _visits(rng, origin)
    active = np.nan_to_num(visits) > 0
    engaged = rng.random(n) < 1 / (1 + np.exp(-(0.1 + 1.6 * intent)))
    seconds = np.where(engaged, rng.normal(1250, 380, n), rng.lognormal(np.log(220), 0.7, n))
    seconds = np.where(active, np.clip(seconds, 1, 2272), 0).round().astype(np.int64)
    pages = np.where(active, (1 + rng.gamma(2.0, 0.8, n)).round(2), 0.0)
    pages[np.isnan(visits)] = np.nan

    occupation = _pick(rng, OCCUPATIONS, n)
    occupation[(origin == "Lead Add Form") & (rng.random(n) < 0.18)] = "Working Professional"
    no_profile = rng.random(n) < _share(origin, NO_PROFILE)
    occupation[no_profile] = None
    matters = _pick(rng, MATTERS, n)
    matters[no_profile] = None
    do_not_email = _flag(rng, 0.08, n)
    free_copy = np.where(origin == "Landing Page Submission", _flag(rng, 0.5, n), "No")

    logit = (
        -0.65
        + _share(origin, ORIGIN_EFFECT)
        + np.array([SOURCE_EFFECT.get(s, 0.0) for s in source])
        + np.array([JOB_EFFECT.get(j, 0.0) for j in occupation])
        + np.where(active, -1.0 + 2.2 / (1 + np.exp(-(seconds - 700) / 150)), 0.0)
        + 0.8 * intent
        - 1.1 * (do_not_email == "Yes")
        - 0.15 * (free_copy == "Yes")
        + rng.normal(0, 0.5, n)
    )
    converted = rng.random(n) < 1 / (1 + np.exp(-logit))

    tags = _by_label(rng, converted, TAGS)
    tags[no_profile & (rng.random(n) < 0.95)] = None  # nobody called them: no tag, no profile
    profile = _by_label(rng, converted, PROFILE)
    profile[no_profile] = None
    last = _by_label(rng, converted, LAST_ACTIVITY)
    quiet = np.isin(last, ["Converted to Lead", "Form Submitted on Website", None])
    notable = np.where(quiet | (rng.random(n) < np.where(converted, 0.2, 0.4)), "Modified", last)
    scored = rng.random(n) >= 0.456  # the Asymmetrique scores exist for about half the leads
    act_idx = _by_label(rng, converted, ACTIVITY_INDEX)
    prof_idx = _by_label(rng, converted, PROFILE_INDEX)
    act_score = np.select(
        [act_idx == "01.High", act_idx == "02.Medium"],
        [rng.integers(16, 19, n), rng.integers(13, 16, n)],
        rng.integers(7, 13, n),
    )
    prof_score = np.select(
        [prof_idx == "01.High", prof_idx == "02.Medium"],
        [rng.integers(17, 21, n), rng.integers(13, 17, n)],
        rng.integers(11, 13, n),
    )
    country = np.where(rng.random(n) < 0.96, "India", _pick(rng, ABROAD, n)).astype(object)
    country[rng.random(n) < _share(origin, NO_COUNTRY)] = None

    frame = pd.DataFrame(
        {
            "Prospect ID": [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)],
            "Lead Number": (579_533 + np.cumsum(rng.integers(1, 12, n))).astype(np.int64),
            "Lead Origin": origin,
            "Lead Source": source,
            "Do Not Email": do_not_email,
            "Do Not Call": _flag(rng, 0.0003, n),
            "Converted": converted.astype(np.int64),
            "TotalVisits": visits,
            "Total Time Spent on Website": seconds,
            "Page Views Per Visit": pages,
            "Last Activity": last,
            "Country": country,
            "Specialization": _answers(rng, origin, SPECIALIZATIONS, 0.3),
            "How did you hear about X Education": _answers(rng, origin, HEARD, 0.68, 0.9),
            "What is your current occupation": occupation,
            "What matters most to you in choosing a course": matters,
            "Search": _flag(rng, 0.0015, n),
            "Magazine": _flag(rng, 0.0, n),
            "Newspaper Article": _flag(rng, 0.0003, n),
            "X Education Forums": _flag(rng, 0.0002, n),
            "Newspaper": _flag(rng, 0.0002, n),
            "Digital Advertisement": _flag(rng, 0.0005, n),
            "Through Recommendations": _flag(rng, 0.0008, n),
            "Receive More Updates About Our Courses": _flag(rng, 0.0, n),
            "Tags": tags,
            "Lead Quality": _by_label(rng, converted, QUALITY),
            "Update me on Supply Chain Content": _flag(rng, 0.0, n),
            "Get updates on DM Content": _flag(rng, 0.0, n),
            "Lead Profile": profile,
            "City": _answers(rng, origin, CITIES, 0.3),
            "Asymmetrique Activity Index": np.where(scored, act_idx, None),
            "Asymmetrique Profile Index": np.where(scored, prof_idx, None),
            "Asymmetrique Activity Score": np.where(scored, act_score, np.nan),
            "Asymmetrique Profile Score": np.where(scored, prof_score, np.nan),
            "I agree to pay the amount through cheque": _flag(rng, 0.0, n),
            "A free copy of Mastering The Interview": free_copy.astype(object),
            "Last Notable Activity": notable.astype(object),
        }
    )
    # Empty cells as a CSV read gives them: NaN, not None.
    return frame.where(frame.notna(), np.nan)
