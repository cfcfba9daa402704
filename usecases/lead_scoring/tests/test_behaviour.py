"""Behavioural tests of a trained model (Made-With-ML style): directions the sales team expects."""

import numpy as np
import pytest

from shared.core.usecase import get_use_case
from tests.conftest import onnx_scorer
from usecases.lead_scoring.schema import LEAKY_COLUMNS

UC = get_use_case("lead_scoring")


@pytest.fixture(scope="module")
def score():
    return onnx_scorer(UC)


def test_working_professionals_convert_more_than_the_unemployed(score):
    raw = UC.make_synthetic(300, 5)
    working = score(raw.assign(**{"What is your current occupation": "Working Professional"}))
    unemployed = score(raw.assign(**{"What is your current occupation": "Unemployed"}))
    assert np.mean(working > unemployed) > 0.9


def test_long_visits_score_higher_than_short_ones(score):
    raw = UC.make_synthetic(300, 6).assign(
        **{"Lead Origin": "Landing Page Submission", "TotalVisits": 3.0}
    )
    short = score(raw.assign(**{"Total Time Spent on Website": 120}))
    long = score(raw.assign(**{"Total Time Spent on Website": 1500}))
    assert np.mean(long > short) > 0.9


def test_e_mail_opt_out_lowers_the_score(score):
    raw = UC.make_synthetic(300, 7)
    assert (
        np.mean(
            score(raw.assign(**{"Do Not Email": "Yes"}))
            < score(raw.assign(**{"Do Not Email": "No"}))
        )
        > 0.8
    )


def test_spelling_of_the_source_and_the_placeholder_do_not_matter(score):
    raw = UC.make_synthetic(100, 8)
    np.testing.assert_array_equal(
        score(raw.assign(**{"Lead Source": "Google", "City": "Select"})),
        score(raw.assign(**{"Lead Source": "google", "City": None})),
    )


def test_ids_and_post_contact_columns_do_not_change_the_score(score):
    raw = UC.make_synthetic(100, 9)
    closed = raw.assign(**{c: None for c in LEAKY_COLUMNS}).assign(
        **{"Tags": "Closed by Horizzon", "Prospect ID": "someone-else", "Lead Number": 1}
    )
    np.testing.assert_array_equal(score(raw), score(closed))
