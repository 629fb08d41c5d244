#!/usr/bin/env python3
"""The text each GGUF file's own chat template gives for one system and one user message,
rendered as transformers' apply_chat_template renders it (jinja2's sandbox with
trim_blocks, lstrip_blocks and loop controls; raise_exception; tojson; the generation
prompt added; thinking switched off), as a fixture that tests/real_gguf.rs compares
abridge's rendering with.

  VENV/bin/python scripts/chat-template-fixtures.py OUT.json MODEL.gguf...

VENV is the llama.cpp binding's (bash ../shared/bench/setup-llamacpp.sh prints it); it
reads the files' metadata. Files without a chat template are left out.
"""
import json, sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
from llama_cpp import Llama

SYSTEM = "You are a news editor. You write accurate, concise summaries."
USER = "Summarize the article below in {two} sentences.\n\n<article>\nA story, with 38,000 residents.\n</article>"


def render(source, bos, eos):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    return env.from_string(source).render(messages=messages, add_generation_prompt=True,
                                          enable_thinking=False, bos_token=bos, eos_token=eos)


def main():
    out, files = sys.argv[1], sys.argv[2:]
    fixtures = {}
    for path in files:
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
        source = llm.metadata.get("tokenizer.chat_template")
        if not source:
            continue
        token = lambda key: llm.detokenize([int(llm.metadata[key])], special=True).decode() \
            if key in llm.metadata else ""
        bos, eos = token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id")
        fixtures[path.rsplit("/", 1)[-1]] = {"system": SYSTEM, "user": USER,
                                             "rendered": render(source, bos, eos)}
    json.dump(fixtures, open(out, "w"), indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
