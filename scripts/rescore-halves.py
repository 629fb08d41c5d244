#!/usr/bin/env python3
"""Rescores `abridge eval --predictions` files on the two halves of a data set (rows before
and after the middle), with LEAD-3 beside them, using Python's rouge-score (pip install
rouge-score): the cross-check docs/quality.md reports for each lever.

Usage: scripts/rescore-halves.py DATA.jsonl PREDICTIONS.jsonl [PREDICTIONS.jsonl ...]
"""
import json
import re
import sys

from rouge_score import rouge_scorer

# abridge's eval::summary_sentences: a break at a newline, or at whitespace after . ! ?
SPLIT = re.compile(r"\n|(?<=[.!?])\s")


def sentences(text):
    return "\n".join(s.strip() for s in SPLIT.split(text) if s.strip())


def lead3(article):
    return "\n".join(sentences(article).split("\n")[:3])


def score(pairs):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    totals = [0.0, 0.0, 0.0]
    for prediction, reference in pairs:
        result = scorer.score(sentences(reference), prediction)
        for i, key in enumerate(["rouge1", "rouge2", "rougeLsum"]):
            totals[i] += result[key].fmeasure
    return " / ".join(f"{100 * t / len(pairs):.2f}" for t in totals)


def main():
    data, *prediction_files = sys.argv[1:]
    rows = [json.loads(line) for line in open(data) if line.strip()]
    middle = (len(rows) + 1) // 2
    halves = [rows[:middle], rows[middle:]]
    systems = [("lead3", {r["id"]: lead3(r["article"]) for r in rows})]
    for path in prediction_files:
        lines = [json.loads(line) for line in open(path) if line.strip()]
        systems.append((path, {p["id"]: sentences(p["summary"]) for p in lines}))
    print(f"| system | rows 0-{middle - 1} | rows {middle}-{len(rows) - 1} |")
    for name, predictions in systems:
        cells = [score([(predictions[r["id"]], r["reference"]) for r in half]) for half in halves]
        print(f"| {name} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
