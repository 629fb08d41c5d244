#!/usr/bin/env python3
"""Writes tests/fixtures/seq2seq/{bart,pegasus,t5}-legacy/: tiny random encoder-decoders stored
the way older Hub repositories store them (sshleifer/distilbart-cnn-12-6,
google/pegasus-cnn_dailymail): no tokenizer.json, only the slow tokenizer's files —
`vocab.json` and `merges.txt` (BART's byte-level BPE) or a SentencePiece `spiece.model`
(PEGASUS, T5) — and the weights in PyTorch's `pytorch_model.bin` (T5's in bf16 safetensors,
so that each weight format meets a SentencePiece tokenizer).

Beside each, what transformers computes when it loads the folder with `AutoTokenizer` (which
converts the slow files into a fast tokenizer) and `AutoModelForSeq2SeqLM`: the same
expected.json as scripts/seq2seq-fixtures.py writes, plus `tokenization`, the ids of awkward
texts (spaces, newlines, accents, full-width digits, ligatures, emoji).

Needs torch, transformers 4.x and sentencepiece, which CI does not install; run it by hand
after changing it, and commit what it writes:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install torch 'transformers==4.57.6' \
        sentencepiece protobuf
    /tmp/tfenv/bin/python scripts/legacy-layout-fixtures.py
"""

import importlib.util
import io
import json
import shutil
import tempfile
from pathlib import Path

import sentencepiece
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizer,
    PegasusConfig,
    PegasusForConditionalGeneration,
    PegasusTokenizer,
    T5Config,
    T5ForConditionalGeneration,
    T5Tokenizer,
)

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("seq2seq_fixtures", HERE / "seq2seq-fixtures.py")
seq2seq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seq2seq)

# Texts whose tokenization depends on every part of a converted tokenizer: normalization
# (NFKC folds full-width digits and ligatures), runs of spaces, line breaks and tabs,
# leading and trailing space, characters the vocabulary lacks.
AWKWARD = [
    "The council approved a plan for 3,000 homes.",
    "  Two  spaces,\tone tab and\na line break.  ",
    "Caf\u00e9 owners in M\u00fcnchen paid \u20ac9.5 million \u2014 \uff11\uff12\uff13 times the "
    "\ufb01rst offer.",
    "Rail workers \U0001F682 delayed the ferry (again) on Tuesday!!",
    "UPPER case, MiXeD case and 2026-12-04 dates: 14,000 panels; 9,000,000 euros.",
    "",
]


def sentencepiece_model(seed, **ids):
    """A unigram SentencePiece model trained on the fixtures' made-up news, with the
    default NFKC normalization rule (so the file carries a precompiled character map)."""
    written = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(seq2seq.corpus(seed) + AWKWARD[:-1]),
        model_writer=written,
        vocab_size=130,
        hard_vocab_limit=False,
        model_type="unigram",
        num_threads=1,
        bos_id=-1,
        **ids,
    )
    return written.getvalue()


def byte_level_files(seed, folder):
    """vocab.json and merges.txt of a byte-level BPE like BART's."""
    fast = seq2seq.byte_level_tokenizer(seed)
    fast.backend_tokenizer.model.save(str(folder))


def greedy_margin(model, tokenizer, prefix=""):
    """The smallest gap between the two likeliest tokens over the greedy outputs of the
    fixtures' inputs."""
    gaps = []
    for text in seq2seq.INPUTS:
        batch = torch.tensor([tokenizer(prefix + text)["input_ids"]])
        with torch.no_grad():
            greedy = model.generate(batch, num_beams=1, do_sample=False, min_length=0,
                                    no_repeat_ngram_size=0, max_length=24)
            logits = model(input_ids=batch, decoder_input_ids=greedy).logits[0]
        top2 = torch.topk(logits[:-1], 2).values
        gaps.append(float((top2[:, 0] - top2[:, 1]).min()))
    return min(gaps)


def randomize_decisively(model, tokenizer, first_seed, eos, prefix="", **bias):
    """Random weights from the first seed whose greedy outputs hinge on no near tie."""
    for seed in range(first_seed, first_seed + 50):
        seq2seq.randomize(model, seed, eos=eos, **bias)
        if greedy_margin(model, tokenizer, prefix) > 0.05:
            return
    raise SystemExit("no seed gives decisive greedy outputs")


def legacy(name, model, tokenizer, generation, task_params=None, bf16_safetensors=False):
    """Records `model` and `tokenizer` as seq2seq-fixtures.py does, then stores the folder in
    the old layout (or, with `bf16_safetensors`, the weights rounded to bf16 and stored so,
    as many newer repositories store them) and adds what transformers makes of that
    layout."""
    if bf16_safetensors:
        model.to(torch.bfloat16).to(torch.float32)
    with tempfile.TemporaryDirectory() as slow_files:
        tokenizer.save_pretrained(slow_files)
        converted = AutoTokenizer.from_pretrained(slow_files)
    seq2seq.record(name, model, converted, generation, task_params)
    folder = seq2seq.OUT / name
    for generated in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        (folder / generated).unlink(missing_ok=True)
    tokenizer.save_pretrained(folder)
    assert not (folder / "tokenizer.json").exists(), name
    reloaded = type(model).from_pretrained(folder)
    (folder / "model.safetensors").unlink()
    if bf16_safetensors:
        reloaded.to(torch.bfloat16).save_pretrained(folder, safe_serialization=True)
    else:
        reloaded.save_pretrained(folder, safe_serialization=False)

    # What transformers reads from the old layout must be what it computed above.
    fast = AutoTokenizer.from_pretrained(folder)
    assert fast.is_fast, name
    expected = json.loads((folder / "expected.json").read_text())
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    prefix = (task_params or {}).get("prefix", "")
    for case in expected["cases"]:
        assert fast(prefix + case["text"])["input_ids"] == case["input_ids"], name
        with torch.no_grad():
            ids = reloaded.generate(torch.tensor([case["input_ids"]]), num_beams=1,
                                    do_sample=False, min_length=0, no_repeat_ngram_size=0,
                                    max_length=case["greedy_max_length"])[0]
        assert [int(t) for t in ids] == case["greedy"], name

    cases = []
    for text in AWKWARD:
        ids = fast(text)["input_ids"]
        slow = tokenizer(text)["input_ids"]
        if ids != slow:
            print(f"{name}: the slow tokenizer differs on {text!r}: {slow} (fast {ids})")
        cases.append({
            "text": text,
            "ids": ids,
            "decoded": fast.decode(ids, skip_special_tokens=True),
        })
    expected["tokenization"] = cases
    expected["layout"] = sorted(path.name for path in folder.iterdir() if path.name != "expected.json")
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{name}: {', '.join(expected['layout'])}")


def main():
    scratch = Path(tempfile.mkdtemp())

    byte_level_files(21, scratch)
    tokenizer = BartTokenizer(str(scratch / "vocab.json"), str(scratch / "merges.txt"))
    torch.manual_seed(0)
    bart = BartForConditionalGeneration(BartConfig(
        vocab_size=len(tokenizer), d_model=24, encoder_layers=2, decoder_layers=3,
        encoder_attention_heads=3, decoder_attention_heads=2, encoder_ffn_dim=40,
        decoder_ffn_dim=36, max_position_embeddings=128, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
        forced_bos_token_id=0, scale_embedding=False, activation_function="gelu",
    ))
    seq2seq.randomize(bart, 34, eos=2, eos_bias=4.0)
    legacy("bart-legacy", bart, tokenizer, generation=dict(
        num_beams=3, length_penalty=1.5, early_stopping=True, no_repeat_ngram_size=3,
        min_length=10, max_length=28, forced_bos_token_id=0, forced_eos_token_id=2,
        decoder_start_token_id=2, bos_token_id=0, eos_token_id=2, pad_token_id=1,
    ))

    (scratch / "pegasus.model").write_bytes(
        sentencepiece_model(22, pad_id=0, eos_id=1, unk_id=2))
    tokenizer = PegasusTokenizer(str(scratch / "pegasus.model"))
    pegasus = PegasusForConditionalGeneration(PegasusConfig(
        vocab_size=len(tokenizer), d_model=24, encoder_layers=3, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=3, encoder_ffn_dim=32,
        decoder_ffn_dim=44, max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, forced_eos_token_id=1, scale_embedding=True,
        activation_function="relu",
    ))
    seq2seq.randomize(pegasus, 32, eos=1, eos_bias=1.5)
    legacy("pegasus-legacy", pegasus, tokenizer, generation=dict(
        num_beams=4, length_penalty=0.8, early_stopping=False, no_repeat_ngram_size=3,
        min_length=8, max_length=30, forced_eos_token_id=1, decoder_start_token_id=0,
        eos_token_id=1, pad_token_id=0,
    ))

    (scratch / "t5.model").write_bytes(sentencepiece_model(23, pad_id=0, eos_id=1, unk_id=2))
    # Fewer sentinel tokens than T5's 100, so that their number must be read from
    # tokenizer_config.json.
    tokenizer = T5Tokenizer(str(scratch / "t5.model"), extra_ids=7, legacy=True)
    t5 = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=24, d_kv=8, d_ff=40, num_layers=2,
        num_decoder_layers=2, num_heads=3, relative_attention_num_buckets=8,
        relative_attention_max_distance=20, feed_forward_proj="relu", pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0,
    ))
    randomize_decisively(t5, tokenizer, 33, eos=1, prefix="summarize: ")
    legacy("t5-legacy", t5, tokenizer, generation=dict(
        decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
    ), task_params=dict(early_stopping=True, length_penalty=2.0, max_length=26, min_length=6,
                        no_repeat_ngram_size=3, num_beams=3, prefix="summarize: "),
        bf16_safetensors=True)

    shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
