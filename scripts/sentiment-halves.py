#!/usr/bin/env python3
"""Cosine similarity (SemEval-2017 Task 5's metric) of `abridge eval --predictions` files of
sentiment rows, on the whole set and on its two interleaved halves (rows 1, 3, 5, … and
2, 4, 6, … of the data file): the cross-check docs/quality.md reports for each design.

Usage: scripts/sentiment-halves.py DATA.jsonl PREDICTIONS.jsonl [PREDICTIONS.jsonl ...]
"""
import json
import math
import sys


def rows(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def cosine(gold, predicted):
    dot = sum(g * p for g, p in zip(gold, predicted))
    norms = math.sqrt(sum(g * g for g in gold) * sum(p * p for p in predicted))
    return dot / norms if norms else 0.0


def main():
    data, predictions = rows(sys.argv[1]), sys.argv[2:]
    for path in predictions:
        scores = [p["score"] for p in rows(path)]  # one per row, in the data's order
        if len(scores) != len(data):
            sys.exit(f"{path}: {len(scores)} predictions for {len(data)} rows")
        gold = [r["score"] for r in data]
        print(f"{path}: all {cosine(gold, scores):.3f}  first half {cosine(gold[0::2], scores[0::2]):.3f}"
              f"  second half {cosine(gold[1::2], scores[1::2]):.3f}")


if __name__ == "__main__":
    main()
