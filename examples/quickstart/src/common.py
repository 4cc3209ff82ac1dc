"""Shared pieces: data loading, the train/eval split, prediction, metrics."""
import csv
import json
import math
import os
import sys

import numpy as np

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_annual"]
LABEL = "churned"
HEADER = FEATURES + [LABEL]


class DataError(Exception):
    """Bad or missing input data; the message names the file and line."""


def csv_files(path):
    """PATH may be one CSV file or a directory of them (read in sorted order)."""
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".csv"))
        if not files:
            raise DataError(f"{path}: no *.csv files in directory")
        return files
    raise DataError(f"{path}: no such file or directory")


def load_data(path):
    """Return (X, y) as float arrays, validating every line."""
    rows = []
    for name in csv_files(path):
        with open(name, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{name}: file is empty")
            if [h.strip() for h in header] != HEADER:
                raise DataError(f"{name}:1: expected header {','.join(HEADER)}")
            for row in reader:
                line = reader.line_num
                if not row:
                    continue  # tolerate blank lines
                if len(row) != len(HEADER):
                    raise DataError(f"{name}:{line}: expected {len(HEADER)} columns, got {len(row)}")
                values = []
                for col, cell in zip(HEADER, row):
                    try:
                        v = float(cell)
                    except ValueError:
                        v = math.nan
                    if not math.isfinite(v):
                        raise DataError(f"{name}:{line}: {col} is not a number: {cell!r}")
                    values.append(v)
                if values[-1] not in (0.0, 1.0) or values[3] not in (0.0, 1.0):
                    raise DataError(f"{name}:{line}: contract_annual and churned must be 0 or 1")
                rows.append(values)
    if len(rows) < 10:
        raise DataError(f"{path}: need at least 10 data rows, found {len(rows)}")
    data = np.array(rows)
    return data[:, :-1], data[:, -1]


def split(n):
    """Deterministic 80/20 split: every 5th row is held out for evaluation."""
    held_out = np.arange(n) % 5 == 4
    return ~held_out, held_out


def predict_proba(model, X):
    z = (X - np.array(model["means"])) / np.array(model["stds"])
    return 1.0 / (1.0 + np.exp(-(z @ np.array(model["weights"]) + model["bias"])))


def log_loss(p, y):
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(p, y):
    """ROC AUC via the rank statistic (Mann-Whitney U), ties get average ranks."""
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return None  # undefined with a single class
    uniq, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank per value
    ranks = avg_rank[inverse]
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def metrics(model, X, y):
    """Metrics on the held-out split; `rows` is the total number of rows read."""
    _, test = split(len(y))
    p = predict_proba(model, X[test])
    a = auc(p, y[test])
    return {
        "accuracy": round(float(np.mean((p >= 0.5) == y[test])), 6),
        "auc": None if a is None else round(a, 6),
        "loss": round(log_loss(p, y[test]), 6),
        "rows": int(len(y)),
    }


def write_json(path, obj):
    # sorted keys + fixed indent + rounded floats => byte-for-byte reproducible files
    with open(path, "w") as f:
        f.write(json.dumps(obj, sort_keys=True, indent=2) + "\n")


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
