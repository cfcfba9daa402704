"""Reading a team's data file: CSV / TSV / whitespace text or Parquet, with its quirks in config.

No use-case word here. The file's quirks are its config section, `ReaderConfig` (shared/core/config.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from shared.core.config import ReaderConfig

TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Separators a one-column read most likely missed, in the order they are suggested.
LIKELY_SEPARATORS = (";", "\t", "|", ",")


def read_table(path: Path, reader: ReaderConfig | None = None) -> pd.DataFrame:
    """CSV / TSV / text or Parquet by suffix; text is kept as text (no type guessing of ids)."""
    path = Path(path)
    reader = reader or ReaderConfig()
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        frame = pd.read_parquet(path)
    elif suffix in TEXT_SUFFIXES:
        frame = _read_text(path, reader)
    else:
        accepted = ", ".join(TEXT_SUFFIXES + PARQUET_SUFFIXES)
        raise ValueError(f"unsupported data file {path.name}: use one of {accepted}")
    return _rename_columns(frame, reader, path.name)


def resolve_sep(sep: str | None, suffix: str) -> str:
    """The pandas separator for a configured `sep` and a file suffix."""
    if sep is None:
        return "\t" if suffix.lower() == ".tsv" else ","
    return r"\s+" if sep == "whitespace" else sep


def python_encoding(encoding: str) -> str:
    """utf-8 is read as utf-8-sig so that a byte-order mark does not stick to the first name."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in {"utf-8", "utf8"} else encoding


def _read_text(path: Path, reader: ReaderConfig) -> pd.DataFrame:
    sep = resolve_sep(reader.sep, path.suffix)
    encoding = python_encoding(reader.encoding)
    with read_errors(path, reader.encoding, encoding, sep):
        frame = pd.read_csv(
            path,
            sep=sep,
            decimal=reader.decimal,
            encoding=encoding,
            header=0 if reader.header else None,
            # Only an empty field is missing: "NA" or "None" may be real category values.
            keep_default_na=False,
            na_values=[""],
        )
    return named_columns(frame, path, reader, encoding, sep)


@contextmanager
def read_errors(path: Path, configured: str, encoding: str, sep: str) -> Iterator[None]:
    """A text file's decoding or parsing error as one line that says what to set."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path.name}: not valid {configured} (byte {exc.start}): "
            "set data.reader.encoding (e.g. --set data.reader.encoding=latin-1)"
        ) from exc
    except pd.errors.ParserError as exc:
        hint = separator_hint(_first_line(path, encoding), sep)
        raise ValueError(f"{path.name}: {exc}" + (f"; {hint}" if hint else "")) from exc


def named_columns(
    frame: pd.DataFrame, path: Path, reader: ReaderConfig, encoding: str, sep: str
) -> pd.DataFrame:
    """Stop on a file read as one column when another separator is likely; name the columns of
    a header-less file."""
    if frame.shape[1] == 1 and (hint := separator_hint(_first_line(path, encoding), sep)):
        raise ValueError(f"{path.name}: 1 column read: {hint}")
    if not reader.header:
        frame.columns = _header_less_names(frame.shape[1], reader.names, path.name)
    return frame


def separator_hint(first_line: str, sep: str) -> str | None:
    """A suggestion when the first line holds a likely separator other than the one used."""
    counts = {c: first_line.count(c) for c in LIKELY_SEPARATORS if c != sep}
    best = max(counts, key=lambda c: counts[c])
    if not counts[best]:
        return None
    # Double-quoted YAML survives the shell and the YAML reader for every candidate ("," alone
    # and "|" alone are YAML syntax).
    example = best.replace("\t", "\\t")
    return (
        f"is the separator {best!r}? set data.reader.sep "
        f"(e.g. --set 'data.reader.sep=\"{example}\"')"
    )


def _first_line(path: Path, encoding: str) -> str:
    with path.open(encoding=encoding, errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.rstrip("\r\n")
    return ""


def _header_less_names(n_columns: int, names: list[str] | None, file_name: str) -> list[str]:
    """Configured names, or "0", "1", ... as text so that `rename` can address them."""
    if names is None:
        return [str(i) for i in range(n_columns)]
    if len(names) != n_columns:
        raise ValueError(
            f"{file_name}: {n_columns} columns read but {len(names)} names given in "
            "data.reader.names"
        )
    return list(names)


def normalize_name(name: str) -> str:
    """Strip and collapse inner whitespace to one space; case is kept."""
    return re.sub(r"\s+", " ", name).strip()


def _rename_columns(frame: pd.DataFrame, reader: ReaderConfig, file_name: str) -> pd.DataFrame:
    columns = [str(c) for c in frame.columns]
    rename = dict(reader.rename)
    if reader.normalize_names:
        columns = [normalize_name(c) for c in columns]
        # The rename keys are compared with the normalised names, so write them either way.
        rename = {normalize_name(k): v for k, v in rename.items()}
    missing = [k for k in rename if k not in columns]
    if missing:
        raise ValueError(
            f"{file_name}: data.reader.rename names column(s) {missing} that are not in the "
            f"file; its columns are {columns}"
        )
    columns = [rename.get(c, c) for c in columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ValueError(f"{file_name}: column name(s) {duplicated} appear twice after renaming")
    return frame.set_axis(columns, axis=1)


def iter_table(
    path: Path, reader: ReaderConfig | None = None, chunk_rows: int = 50_000
) -> Iterator[pd.DataFrame]:
    """The file in chunks of at most `chunk_rows` rows, without holding it whole in memory.

    Text cells stay text (`str`, an empty field is missing): per-chunk type guessing would
    give the same column another type in another chunk, so typing is left to the caller,
    value by value (shared/ops/batch.py). Parquet keeps its own types. The index runs on across
    chunks: it is the row's position in the file.
    """
    path = Path(path)
    reader = reader or ReaderConfig()
    if not path.exists():
        raise FileNotFoundError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    start = 0
    if suffix in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield _rename_columns(frame, reader, path.name)
        return
    if suffix not in TEXT_SUFFIXES:
        accepted = ", ".join(TEXT_SUFFIXES + PARQUET_SUFFIXES)
        raise ValueError(f"unsupported data file {path.name}: use one of {accepted}")
    sep = resolve_sep(reader.sep, path.suffix)
    encoding = python_encoding(reader.encoding)
    # Opening reads the header already: a file that does not decode fails here, in one line.
    with read_errors(path, reader.encoding, encoding, sep):
        chunks = pd.read_csv(
            path,
            sep=sep,
            encoding=encoding,
            header=0 if reader.header else None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=chunk_rows,
        )
    try:
        with read_errors(path, reader.encoding, encoding, sep):
            for frame in chunks:
                frame = named_columns(frame, path, reader, encoding, sep)
                yield _rename_columns(frame, reader, path.name)
    finally:
        chunks.close()


def count_rows(path: Path, reader: ReaderConfig | None = None) -> int | None:
    """Data rows in the file, for a progress bar: Parquet's metadata, a text file's line count
    (an estimate when quoted cells hold line breaks); None when unknown."""
    path = Path(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix.lower() not in TEXT_SUFFIXES or not path.exists():
        return None
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    lines += last != b"\n"  # no newline after the last line
    return max(lines - (1 if (reader or ReaderConfig()).header else 0), 0)


def with_reading(
    reader: ReaderConfig, sep: str | None, no_header: bool, names: str | None
) -> ReaderConfig:
    """The configured reader with a command line's `--sep`, `--no-header`, `--names a,b,c`.

    `--names` implies a header-less file (the names replace a header the file does not have);
    `--sep whitespace` (or `\\s+`) splits on any run of spaces or tabs.
    """
    update: dict[str, object] = {}
    if sep is not None:
        update["sep"] = "whitespace" if sep in {"whitespace", r"\s+", " "} else sep
    if no_header or names is not None:
        update["header"] = False
    if names is not None:
        listed = [n.strip() for n in names.split(",")]
        if not all(listed):
            raise ValueError(f"--names {names!r}: an empty name; give a,b,c")
        if len(set(listed)) != len(listed):
            twice = sorted({n for n in listed if listed.count(n) > 1})
            raise ValueError(f"--names: {twice} appear twice")
        update["names"] = listed
    return ReaderConfig.model_validate(reader.model_dump() | update) if update else reader


def reading_overrides(sep: str | None, no_header: bool, names: str | None) -> list[str]:
    """`--sep`, `--no-header`, `--names` as config overrides (`--set` strings) for commands
    that load the config with overrides (train)."""
    reader = with_reading(ReaderConfig(), sep, no_header, names)  # checks the names
    out = [f"data.reader.sep={json.dumps(reader.sep)}"] if sep is not None else []
    if not reader.header:
        out.append("data.reader.header=false")
    if reader.names is not None:
        out.append(f"data.reader.names={json.dumps(reader.names)}")
    return out
