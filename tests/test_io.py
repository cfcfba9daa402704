from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from shared.core.config import DataConfig
from shared.core.io import ReaderConfig, iter_table, read_table
from tests.conftest import real_data

CMAPSS_NAMES = (
    ["unit", "cycle"] + [f"setting_{i}" for i in range(1, 4)] + [f"s{i}" for i in range(1, 22)]
)


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_with_decimal_comma_reads_numbers_and_keeps_ids_as_text(tmp_path):
    path = _write(tmp_path / "export.csv", "id;amount;city\n007;1,5;Köln\n008;2,25;NA\n")
    frame = read_table(path, ReaderConfig(sep=";", decimal=","))
    assert list(frame.columns) == ["id", "amount", "city"]
    assert frame["amount"].tolist() == [1.5, 2.25]
    assert frame["city"].tolist() == ["Köln", "NA"]  # "NA" is a value, not missing
    assert frame["id"].tolist() == [7, 8]  # same type inference as before: no dtype=str


def test_latin1_file_reads_with_its_encoding_and_fails_clearly_without(tmp_path):
    path = _write(tmp_path / "old.csv", "name,city\nJosé,Zürich\n", encoding="latin-1")
    frame = read_table(path, ReaderConfig(encoding="latin-1"))
    assert frame.loc[0, "name"] == "José" and frame.loc[0, "city"] == "Zürich"
    with pytest.raises(ValueError, match="data.reader.encoding"):
        read_table(path)


def test_header_less_whitespace_file_with_trailing_spaces_takes_names(tmp_path):
    path = _write(tmp_path / "engine.txt", "1 1 0.5 641.9  \n1 2 -0.2 642.0 \n2 1 0.1 640.8  \n")
    reader = ReaderConfig(sep="whitespace", header=False, names=["unit", "cycle", "x", "y"])
    frame = read_table(path, reader)
    assert frame.shape == (3, 4)
    assert list(frame.columns) == ["unit", "cycle", "x", "y"]
    assert frame["y"].tolist() == [641.9, 642.0, 640.8]


def test_wrong_names_count_is_reported_with_both_counts(tmp_path):
    path = _write(tmp_path / "engine.txt", "1 1 0.5 \n1 2 0.7 \n")
    reader = ReaderConfig(sep="whitespace", header=False, names=["unit", "cycle"])
    with pytest.raises(ValueError, match="3 columns read but 2 names"):
        read_table(path, reader)


def test_names_with_a_header_is_refused():
    with pytest.raises(ValidationError, match="header-less"):
        ReaderConfig(names=["a"])


def test_tsv_uses_tab_by_default(tmp_path):
    path = _write(tmp_path / "data.tsv", "a\tb c\n1\tx y\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b c"] and frame.loc[0, "b c"] == "x y"


def test_utf8_byte_order_mark_does_not_stick_to_the_first_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfcustomerID,score\nA1,3\n")
    assert list(read_table(path).columns) == ["customerID", "score"]


def test_parquet_applies_rename_and_normalized_names(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({" Customer   ID ": ["a", "b"], "Score": [1, 2]}).to_parquet(path)
    reader = ReaderConfig(normalize_names=True, rename={"Customer ID": "customer_id"})
    frame = read_table(path, reader)
    assert list(frame.columns) == ["customer_id", "Score"]
    assert frame["customer_id"].tolist() == ["a", "b"]


def test_rename_of_an_absent_column_lists_the_file_columns(tmp_path):
    path = _write(tmp_path / "d.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"\['zz'\].*\['a', 'b'\]"):
        read_table(path, ReaderConfig(rename={"zz": "x"}))


def test_one_column_read_suggests_the_separator(tmp_path):
    path = _write(tmp_path / "export.csv", "id;amount;city\n1;2;x\n3;4;y\n")
    with pytest.raises(ValueError) as exc:
        read_table(path)
    text = str(exc.value)
    assert text.startswith("export.csv: 1 column read: is the separator ';'?")
    assert "data.reader.sep" in text


def test_a_genuine_one_column_file_is_read(tmp_path):
    path = _write(tmp_path / "rul.txt", "112\n98\n69\n")
    frame = read_table(path, ReaderConfig(header=False, names=["rul"]))
    assert frame["rul"].tolist() == [112, 98, 69]


def test_missing_file_and_unsupported_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_table(tmp_path / "nope.csv")
    path = _write(tmp_path / "book.xlsx", "x")
    with pytest.raises(ValueError, match=r"book.xlsx.*\.csv.*\.tsv.*\.parquet"):
        read_table(path)


def test_data_config_takes_reader_overrides():
    cfg = DataConfig.model_validate({"reader": {"sep": ";", "decimal": ","}})
    assert cfg.reader == ReaderConfig(sep=";", decimal=",")
    assert DataConfig().reader == ReaderConfig()
    with pytest.raises(ValidationError, match="seperator"):
        DataConfig.model_validate({"reader": {"seperator": ";"}})


@pytest.mark.real_data
def test_cmapss_fd003_reads_as_documented():
    path = real_data("maintenance/cmapss_fd003/test_FD003.txt")
    reader = ReaderConfig(sep="whitespace", header=False, names=CMAPSS_NAMES)
    frame = read_table(path, reader)
    assert frame.shape == (16596, 26)
    assert list(frame.columns) == CMAPSS_NAMES
    assert frame["unit"].nunique() == 100
    assert not frame.isna().any().any()  # trailing spaces made no empty column


def test_a_file_that_does_not_decode_is_one_clear_error_read_whole_or_in_chunks(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(bytes(range(128, 256)) * 8)  # no byte of it starts a utf-8 character
    for read in (read_table, lambda p: next(iter_table(p))):
        with pytest.raises(ValueError, match=r"binary.csv: not valid utf-8 \(byte 0\)"):
            read(path)
