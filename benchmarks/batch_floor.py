"""The batch floor: a plain script scoring a file with the served model, nothing else.

Pandas reads the file in chunks, the use case's own `build_features` and `make_feed` turn each
chunk into the ONNX feed, onnxruntime scores it, and pandas / pyarrow append the scores to a
file: no typing, no validation, no rejects. The scores file has `pilotpack score`'s columns and
format (row, id, probability, decision, model version; CSV or Parquet by suffix), so both are
timed writing the same output: the comparison is like for like (benchmarks/results/batch.json,
shared/ops/batch_benchmark.py).

    python benchmarks/batch_floor.py churn records.parquet scores.parquet
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.core.onnx_export import make_feed
from shared.core.store import load_model
from shared.core.tracking import model_tag
from shared.core.usecase import get_use_case

CHUNK_ROWS = 50_000


def chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file in frames of `rows` rows (CSV or Parquet)."""
    if path.suffix.lower() == ".csv":
        yield from pd.read_csv(path, chunksize=rows)
        return
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas()


def score_floor(name: str, path: Path, out: Path | None = None) -> tuple[int, float]:
    """(rows scored, seconds) with the use case's served model; the scores go to `out` (CSV
    or Parquet by suffix) when given, in the columns `pilotpack score` writes."""
    uc = get_use_case(name)
    stored = load_model(model_tag(uc))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(stored.onnx_path), opts, providers=["CPUExecutionProvider"])
    output = sess.get_outputs()[-1].name
    threshold = float(stored.metadata.get("threshold", 0.5))
    version = str(stored.metadata.get("mlflow_version") or stored.tag)
    start, n = time.perf_counter(), 0
    writer = None
    for chunk in chunks(path):
        features = uc.build_features({c: chunk[c].to_numpy() for c in chunk.columns})
        feed = make_feed(features, uc.numeric_features, uc.categorical_features)
        scores = np.asarray(sess.run([output], feed)[0])
        if out is not None:
            proba = scores[:, 1] if scores.ndim == 2 else scores.reshape(-1)
            frame = pd.DataFrame(
                {"row": np.arange(n, n + len(proba))}
                | ({uc.id_column: chunk[uc.id_column].to_numpy()} if uc.id_column else {})
                | {"probability": proba, "decision": proba >= threshold, "model_version": version}
            )
            if out.suffix.lower() == ".csv":
                frame.to_csv(out, mode="a" if n else "w", header=not n, index=False)
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                writer = writer or pq.ParquetWriter(out, table.schema)
                writer.write_table(table)
        n += len(scores)
    if writer is not None:
        writer.close()
    return n, time.perf_counter() - start


if __name__ == "__main__":
    rows, seconds = score_floor(
        sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None
    )
    print(f"{rows} rows in {seconds:.2f} s: {rows / seconds:,.0f} rows/s")
