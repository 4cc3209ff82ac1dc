"""Train a logistic-regression churn model with numpy.

    python3 train.py --data PATH --out DIR [--epochs N] [--learning-rate F] [--seed N]

Writes DIR/model.json and DIR/metrics.json. Same input => identical bytes.
"""
import argparse
import os

import numpy as np

from common import FEATURES, DataError, fail, load_data, log_loss, metrics, split, write_json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="CSV file or directory of CSV files")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0, help="seeds the initial weights")
    args = ap.parse_args()
    if args.epochs < 1:
        fail("--epochs must be at least 1")

    try:
        X, y = load_data(args.data)
    except DataError as e:
        fail(e)

    train, _ = split(len(y))
    Xt, yt = X[train], y[train]

    # Standardise with training-set statistics only; guard constant columns.
    means = Xt.mean(axis=0)
    stds = Xt.std(axis=0)
    stds[stds == 0] = 1.0
    Z = (Xt - means) / stds

    # Small seeded initial weights; batch gradient descent is otherwise deterministic.
    w = np.random.default_rng(args.seed).normal(0.0, 0.01, Z.shape[1])
    b = 0.0
    checkpoints = {max(1, round(args.epochs * k / 4)) for k in range(1, 5)}
    for epoch in range(1, args.epochs + 1):
        p = 1.0 / (1.0 + np.exp(-(Z @ w + b)))
        grad = p - yt  # derivative of mean log loss w.r.t. the logit
        w -= args.learning_rate * (Z.T @ grad) / len(yt)
        b -= args.learning_rate * grad.mean()
        if epoch in checkpoints:
            print(f"epoch {epoch}/{args.epochs}  train loss {log_loss(p, yt):.4f}", flush=True)

    # Round to 8 places so tiny float noise never changes the artifact bytes.
    r = lambda a: [round(float(v), 8) for v in a]
    model = {"features": FEATURES, "means": r(means), "stds": r(stds),
             "weights": r(w), "bias": round(float(b), 8)}
    result = metrics(model, X, y)

    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "model.json"), model)
    write_json(os.path.join(args.out, "metrics.json"), result)
    print(f"held-out accuracy {result['accuracy']}  auc {result['auc']}  -> {args.out}")


if __name__ == "__main__":
    main()
