"""Regenerate data/churn.csv (synthetic, deterministic).

    python3 data/generate.py > data/churn.csv

Churn risk rises with short tenure, high monthly charges, many support
calls and the absence of an annual contract. Label noise keeps the task
realistic: logistic regression lands around 0.8-0.9 accuracy.
"""
import numpy as np

rng = np.random.default_rng(7)  # fixed seed: same CSV every time
n = 400

tenure = rng.integers(1, 73, n)                       # months, 1..72
charges = np.round(rng.normal(70, 25, n).clip(18, 120), 2)
calls = rng.poisson(1.5, n)
annual = (rng.random(n) < 0.35 + tenure / 200).astype(int)  # long-time customers sign annual more often

logit = (2.0 - 0.08 * tenure + 0.045 * (charges - 70)
         + 0.7 * calls - 2.0 * annual)
churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)

print("tenure_months,monthly_charges,support_calls,contract_annual,churned")
for row in zip(tenure, charges, calls, annual, churned):
    print(f"{row[0]},{row[1]:.2f},{row[2]},{row[3]},{row[4]}")
