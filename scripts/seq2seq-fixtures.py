#!/usr/bin/env python3
"""Writes tests/fixtures/seq2seq/: tiny random encoder-decoders (BART, mBART, PEGASUS, T5,
FLAN-T5) in the Hub's folder layout, with what Python transformers computes for them, for
abridge's tests to match (tests/hub_models.rs): logits for fixed inputs, and the token ids that greedy decoding
and the model's own generation settings (its generation config, with the summarization task
parameters of its config.json over it) produce.

Needs torch and transformers 4.x, which CI does not install (about 6 GB); run it by hand
after changing it, and commit what it writes:

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install torch 'transformers==4.57.6'
    /tmp/tfenv/bin/python scripts/seq2seq-fixtures.py

The configs are awkward on purpose: encoder and decoder depths and widths of the
feed-forward layers differ, embeddings are scaled, positions are learned (BART, with its
offset of 2) or sinusoidal (PEGASUS), layer norms sit after (BART) or before (mBART,
PEGASUS) each sub-layer. The end token's logit gets a bias so that outputs end early enough
for min_length and no_repeat_ngram_size to bite.
"""

import copy
import json
import random
import shutil
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    MBartConfig,
    MBartForConditionalGeneration,
    PegasusConfig,
    PegasusForConditionalGeneration,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "seq2seq"

# A made-up town's news, written for these fixtures: the tokenizers are trained on it.
SUBJECTS = ["The council", "The mayor", "Local farmers", "The river board", "A new bakery",
            "The football club", "Teachers", "The harbour master", "Rail workers", "The library"]
VERBS = ["approved", "rejected", "announced", "delayed", "celebrated", "funded", "opened",
         "questioned", "repaired", "sold"]
OBJECTS = ["a plan for 3,000 homes", "the bridge on Mill Street", "a festival in May",
           "new solar panels", "the old market hall", "a budget of 9.5 million euros",
           "longer opening hours", "the ferry to the island", "a school for 450 pupils",
           "twelve electric buses"]
TAILS = ["after a long debate.", "on Tuesday.", "despite protests.", "to general surprise.",
         "for the third time.", "before the winter.", "with a narrow majority.",
         "at last."]

INPUTS = [
    "The council approved a plan for 3,000 homes after a long debate. The mayor said the "
    "first houses would be ready in two years.",
    "Rail workers delayed the ferry to the island on Tuesday. Local farmers questioned the "
    "budget of 9.5 million euros.",
    "A new bakery opened the old market hall. Teachers celebrated longer opening hours at "
    "last, and the library sold twelve electric buses despite protests.",
]


# Changes to each model's own settings, each run too: the length penalty and the stopping
# rule only show when outputs end at different lengths.
VARIANTS = [
    dict(length_penalty=2.0),
    dict(length_penalty=-1.0),
    dict(length_penalty=0.0, early_stopping="never"),
    dict(early_stopping=True),
    dict(early_stopping=False),
    dict(early_stopping="never"),
    dict(num_beams=2),
    dict(min_length=20),
]


def corpus(seed):
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}"
        for _ in range(2000)
    ] + INPUTS


def byte_level_tokenizer(seed):
    """A GPT-2-style byte-level BPE like BART's, with <s> … </s> around each input."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(seed), trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>",
    )


def unigram_tokenizer(seed, specials=("<pad>", "</s>", "<unk>", "<mask_1>")):
    """A SentencePiece-style unigram model like PEGASUS's and T5's, with </s> after each
    input."""
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Replace(" +", " ")
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    specials = list(specials)
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    tokenizer.train_from_iterator(corpus(seed), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
    )


def randomize(model, seed, eos, eos_bias=2.0):
    """Weights drawn wider than the default init, so that the logits are peaked (no ties
    that float rounding could flip), and a bias towards the end token."""
    generator = torch.Generator().manual_seed(seed)
    scaled = getattr(model.config, "scale_embedding", False)
    embedding_std = model.config.d_model ** -0.5 if scaled else 0.3
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "embed_positions" in name and not parameter.requires_grad:
                continue  # sinusoidal: fixed
            if parameter.dim() == 1 and "norm" in name:
                parameter.copy_(1.0 + 0.2 * torch.randn(parameter.shape, generator=generator))
            elif "embed" in name or "shared" in name:
                # Scaled embeddings would drown out the layers, and with a tied output
                # projection every token would predict itself.
                parameter.copy_(embedding_std * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
        if hasattr(model, "final_logits_bias"):
            bias = 0.5 * torch.randn(model.final_logits_bias.shape, generator=generator)
            bias[0, eos] += eos_bias
            model.final_logits_bias.copy_(bias)
    model.eval()


def ids(tensor):
    return [int(t) for t in tensor]


def record(name, model, tokenizer, generation, task_params=None):
    folder = OUT / name
    if folder.exists():
        shutil.rmtree(folder)
    if task_params:
        model.config.task_specific_params = {"summarization": task_params}
    model.generation_config = transformers.GenerationConfig(
        **{**model.generation_config.to_diff_dict(), **generation}
    )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    # tokenizer_config.json names the plain PreTrainedTokenizerFast, so that transformers does
    # not swap in the family's own tokenizer class (mBART's adds language codes).
    # From here on, the model and tokenizer as transformers reads them from the folder.
    model = type(model).from_pretrained(folder).eval()
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))

    # The model's own settings: its generation config, updated by the summarization task's
    # parameters where config.json has them (as transformers' v4 summarization pipeline
    # did before its own defaults of 4 beams and 256 new tokens took over).
    own_settings = copy.deepcopy(model.generation_config)
    own_settings.update(**{k: v for k, v in (task_params or {}).items() if k != "prefix"})
    cases = []
    for text in INPUTS:
        prefix = (task_params or {}).get("prefix", "")
        input_ids = tokenizer(prefix + text)["input_ids"]
        batch = torch.tensor([input_ids])
        with torch.no_grad():
            greedy = model.generate(batch, num_beams=1, do_sample=False, min_length=0,
                                    no_repeat_ngram_size=0, max_length=24)[0]
            own = model.generate(batch, generation_config=own_settings)[0]
            variants = []
            for change in VARIANTS:
                settings = copy.deepcopy(own_settings)
                settings.update(**change)
                output = model.generate(batch, generation_config=settings)[0]
                variants.append({"change": change, "ids": ids(output)})
            # Logits of every decoder position for the greedy output's first tokens.
            decoder_ids = greedy[:8].unsqueeze(0)
            logits = model(input_ids=batch, decoder_input_ids=decoder_ids).logits[0]
            if cases:
                logits = logits[-2:]  # the first case has every position, the others two
            # How far apart the two likeliest tokens are at each greedy step: a fixture whose
            # greedy choice hinges on rounding would be flaky.
            full = model(input_ids=batch, decoder_input_ids=greedy.unsqueeze(0)).logits[0]
            top2 = torch.topk(full[:-1], 2).values
            margin = float((top2[:, 0] - top2[:, 1]).min())
        cases.append({
            "text": text,
            "input_ids": input_ids,
            "decoder_ids": ids(decoder_ids[0]),
            "logits": [[round(float(x), 6) for x in row] for row in logits],
            "greedy_max_length": 24,
            "greedy": ids(greedy),
            "greedy_margin": margin,
            "own": ids(own),
            "own_text": tokenizer.decode(own, skip_special_tokens=True),
            "variants": variants,
        })
    expected = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "generation": generation,
        "task_specific_params": task_params,
        "cases": cases,
    }
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    distinct = {tuple(v["ids"]) for c in cases for v in c["variants"]}
    print(f"{name}: {len(distinct)} distinct outputs over {len(VARIANTS)} variants")
    sizes = sum(f.stat().st_size for f in folder.iterdir())
    print(f"{name}: {sizes / 1024:.0f} KiB, greedy margins "
          f"{[round(c['greedy_margin'], 3) for c in cases]}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)

    tokenizer = byte_level_tokenizer(1)
    common = dict(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=3, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=48,
        decoder_ffn_dim=40, max_position_embeddings=128, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2,
    )
    torch.manual_seed(0)
    bart = BartForConditionalGeneration(BartConfig(
        **common, scale_embedding=True, activation_function="gelu", forced_bos_token_id=0,
    ))
    randomize(bart, 10, eos=2, eos_bias=5.0)
    record("bart", bart, tokenizer, generation=dict(
        num_beams=4, length_penalty=2.0, early_stopping=True, no_repeat_ngram_size=3,
        min_length=12, max_length=30, forced_bos_token_id=0, forced_eos_token_id=2,
        decoder_start_token_id=2, bos_token_id=0, eos_token_id=2, pad_token_id=1,
    ))

    mbart = MBartForConditionalGeneration(MBartConfig(
        **common, scale_embedding=False, activation_function="relu",
    ))
    randomize(mbart, 11, eos=2, eos_bias=4.0)
    # The task's settings override the model's: a smaller beam, no early stop.
    record("mbart", mbart, tokenizer, generation=dict(
        num_beams=5, length_penalty=1.0, early_stopping=True, max_length=26,
        decoder_start_token_id=2, bos_token_id=0, eos_token_id=2, pad_token_id=1,
    ), task_params=dict(num_beams=3, early_stopping=False, length_penalty=0.6,
                        min_length=8, no_repeat_ngram_size=2, max_length=28))

    tokenizer = unigram_tokenizer(2)
    pegasus = PegasusForConditionalGeneration(PegasusConfig(
        vocab_size=len(tokenizer), d_model=24, encoder_layers=2, decoder_layers=3,
        encoder_attention_heads=3, decoder_attention_heads=4, encoder_ffn_dim=36,
        decoder_ffn_dim=52, max_position_embeddings=128, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0, forced_eos_token_id=1, scale_embedding=True,
        activation_function="relu",
    ))
    randomize(pegasus, 12, eos=1, eos_bias=1.0)
    record("pegasus", pegasus, tokenizer, generation=dict(
        num_beams=6, length_penalty=0.8, early_stopping=False, no_repeat_ngram_size=3,
        min_length=10, max_length=32, forced_eos_token_id=1, decoder_start_token_id=0,
        eos_token_id=1, pad_token_id=0,
    ))

    # T5 as t5-small ships: ReLU, tied output projection, its settings and input prefix in
    # the summarization task's parameters. The attention's inner width (heads × d_kv)
    # differs from d_model.
    tokenizer = unigram_tokenizer(3, specials=("<pad>", "</s>", "<unk>"))
    t5 = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=24, d_kv=8, d_ff=40, num_layers=3,
        num_decoder_layers=2, num_heads=4, relative_attention_num_buckets=8,
        relative_attention_max_distance=20, feed_forward_proj="relu", pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0,
    ))
    randomize(t5, 19, eos=1)
    record("t5", t5, tokenizer, generation=dict(
        decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
    ), task_params=dict(early_stopping=True, length_penalty=2.0, max_length=30, min_length=8,
                        no_repeat_ngram_size=3, num_beams=4, prefix="summarize: "))

    # FLAN-T5 (T5 v1.1): gated GELU, a separate output projection, its settings in its
    # generation config. (transformers 4.57 sizes the decoder's cache by the encoder's depth,
    # so the decoder cannot be the deeper one.)
    flan = T5ForConditionalGeneration(T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=6, d_ff=28, num_layers=3,
        num_decoder_layers=1, num_heads=3, relative_attention_num_buckets=10,
        relative_attention_max_distance=24, feed_forward_proj="gated-gelu",
        tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    randomize(flan, 14, eos=1)
    record("flan-t5", flan, tokenizer, generation=dict(
        num_beams=3, early_stopping=False, length_penalty=1.5, no_repeat_ngram_size=2,
        min_length=6, max_length=28, decoder_start_token_id=0, eos_token_id=1, pad_token_id=0,
    ))


if __name__ == "__main__":
    main()
