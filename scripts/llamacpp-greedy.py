#!/usr/bin/env python3
"""llama.cpp's tokenization and greedy continuation of fixed prompts, as a fixture that
abridge's real-weight tests compare with token for token (tests/real_weights.rs).

  VENV/bin/python scripts/llamacpp-greedy.py MODEL.gguf OUT.json [--gen 32] [--long FILE]

VENV is the llama.cpp binding's (bash ../shared/bench/setup-llamacpp.sh prints it). The
prompts: a short one, and FILE's first 3,000 characters cut at a space (of the seed
article: longer than Gemma 3's 512-token sliding window, so that the local layers' window
is exercised, and cut mid-sentence so that the continuation is text). Each is tokenized as llama.cpp
does for plain text with the file's BOS (add_bos, no special-token parsing), evaluated,
and continued greedily for --gen tokens on 1 thread (so that sums run in one order), with
llama.cpp's five highest logits at each step.
"""
import argparse, json

from llama_cpp import Llama, __version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--long", default=None)
    ap.add_argument("--chars", type=int, default=3000)
    a = ap.parse_args()
    # An f32 key/value cache (GGML_TYPE_F32 = 0), as abridge keeps; llama.cpp's default f16
    # cache rounds keys and values.
    llm = Llama(model_path=a.model, n_ctx=4096, n_threads=1, n_threads_batch=1, n_batch=512,
                type_k=0, type_v=0, logits_all=True, verbose=False, seed=0)
    prompts = ["The capital of France is"]
    if a.long:
        # Cut mid-sentence, so that the model goes on with the article rather than end it.
        text = open(a.long).read()[:a.chars]
        prompts.append(text[:text.rindex(" ")])
    cases = []
    for text in prompts:
        tokens = llm.tokenize(text.encode(), add_bos=True, special=False)
        llm.reset()
        llm.eval(tokens)
        out, top = [], []
        for _ in range(a.gen):
            scores = llm.scores[llm.n_tokens - 1]
            best = sorted(range(len(scores)), key=lambda t: -scores[t])[:5]
            top.append([[t, round(float(scores[t]), 4)] for t in best])
            tok = llm.sample(temp=0.0)
            out.append(tok)
            llm.eval([tok])
        cases.append({"prompt": text, "prompt_tokens": tokens, "greedy": out, "top5": top,
                      "text": llm.detokenize(out).decode(errors="replace")})
    json.dump({"engine": f"llama.cpp (llama-cpp-python {__version__})", "cases": cases},
              open(a.out, "w"), indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
