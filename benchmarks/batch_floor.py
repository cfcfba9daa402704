"""The batch floor: a plain script scoring a file with the served model, nothing else.

Pandas reads the file in chunks, the use case's own `build_features` and `make_feed` turn each
chunk into the ONNX feed, and onnxruntime scores it: no validation, no rejects, no output file.
`pilotpack score` does all of that too, so it is measured against this script on the same
file and model in the same run (benchmarks/results/batch.json, shared/ops/batch_benchmark.py).

    python benchmarks/batch_floor.py churn records.parquet
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow.parquet as pq

from shared.core.champion import model_tag
from shared.core.onnx_export import make_feed
from shared.core.store import load_model
from shared.core.usecase import get_use_case

CHUNK_ROWS = 50_000


def chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file in frames of `rows` rows (CSV or Parquet)."""
    if path.suffix.lower() == ".csv":
        yield from pd.read_csv(path, chunksize=rows)
        return
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas()


def score_floor(name: str, path: Path) -> tuple[int, float]:
    """(rows scored, seconds) with the use case's served model."""
    uc = get_use_case(name)
    stored = load_model(model_tag(uc))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(stored.onnx_path), opts, providers=["CPUExecutionProvider"])
    output = sess.get_outputs()[-1].name
    start, n = time.perf_counter(), 0
    for chunk in chunks(path):
        features = uc.build_features({c: chunk[c].to_numpy() for c in chunk.columns})
        feed = make_feed(features, uc.numeric_features, uc.categorical_features)
        scores = np.asarray(sess.run([output], feed)[0])
        n += len(scores)
    return n, time.perf_counter() - start


if __name__ == "__main__":
    rows, seconds = score_floor(sys.argv[1], Path(sys.argv[2]))
    print(f"{rows} rows in {seconds:.2f} s: {rows / seconds:,.0f} rows/s")
