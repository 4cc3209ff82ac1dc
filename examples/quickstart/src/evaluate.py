"""Recompute metrics.json for a trained model on the held-out split.

    python3 evaluate.py --model DIR --data PATH --out DIR
"""
import argparse
import json
import os

from common import DataError, fail, load_data, metrics, write_json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="directory containing model.json")
    ap.add_argument("--data", required=True, help="CSV file or directory of CSV files")
    ap.add_argument("--out", required=True, help="directory for metrics.json")
    args = ap.parse_args()

    model_path = os.path.join(args.model, "model.json")
    try:
        with open(model_path) as f:
            model = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{model_path}: {e}")
    try:
        X, y = load_data(args.data)
    except DataError as e:
        fail(e)

    result = metrics(model, X, y)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "metrics.json"), result)
    print(f"held-out accuracy {result['accuracy']}  auc {result['auc']}  loss {result['loss']}")


if __name__ == "__main__":
    main()
