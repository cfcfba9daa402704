from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from shared.core.config import apply_overrides, config_hash, parse_override, read_yaml
from shared.core.usecase import get_use_case

ROOT = Path(__file__).resolve().parents[1]


def test_parse_override_reads_yaml_values():
    assert parse_override("model.cv_folds=5") == (["model", "cv_folds"], 5)
    assert parse_override("data.path=null") == (["data", "path"], None)
    assert parse_override("a.b=[1, 2]") == (["a", "b"], [1, 2])
    with pytest.raises(ValueError, match="section.key=value"):
        parse_override("model.cv_folds")


def test_apply_overrides_copies_and_addresses_list_items():
    raw = {"model": {"candidates": [{"name": "a", "grid": {"x": [1]}}]}}
    out = apply_overrides(raw, ["model.candidates.0.grid={}", "gates.min_roc_auc=0.9"])
    assert out["model"]["candidates"][0]["grid"] == {}
    assert out["gates"]["min_roc_auc"] == 0.9
    assert raw["model"]["candidates"][0]["grid"] == {"x": [1]}  # input untouched


def test_typos_and_bad_values_fail_with_the_key_named():
    uc = get_use_case("churn")
    with pytest.raises(ValidationError, match="contact_cots"):
        uc.load_config(["kpi.contact_cots=5"])
    with pytest.raises(ValidationError, match="test_size"):
        uc.load_config(["split.test_size=1.5"])
    with pytest.raises(ValidationError, match="baseline"):
        uc.load_config(["model.baseline=nope"])
    with pytest.raises(ValidationError, match="grid keys"):
        uc.load_config(["model.candidates.1.grid={num_leaves: [3]}"])


def test_config_hash_changes_with_values_only():
    uc = get_use_case("churn")
    a, b = uc.load_config(), uc.load_config()
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(uc.load_config(["kpi.contact_cost=21"]))


def test_read_yaml_parses_with_libyaml_and_reads_what_safe_load_reads():
    """Configs are read by PyYAML's C parser (the lock's wheel has it): every YAML file of the
    repository (configs, bentofiles, Prometheus and Alertmanager files, mkdocs.yml) reads to
    the same values as `yaml.safe_load`, and unsafe tags are refused as there."""
    assert yaml.__with_libyaml__
    files = [  # the repository's own (hidden folders hold environments and stores)
        p
        for p in ROOT.glob("**/*.y*ml")
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    ]
    assert len(files) > 20
    for path in files:
        text = path.read_text()
        assert read_yaml(text) == yaml.safe_load(text), path
    for value in ["5", "null", "1.0e+6", "[naive, seasonal_naive]", "{}", "2026-12-05", "'07'"]:
        assert read_yaml(value) == yaml.safe_load(value), value
    with pytest.raises(yaml.YAMLError):
        read_yaml("!!python/object/apply:os.system ['true']")
