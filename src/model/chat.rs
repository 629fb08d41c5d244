//! A GGUF file's own chat format: its Jinja `tokenizer.chat_template`, rendered with
//! minijinja as transformers' `apply_chat_template` renders it (a system and a user message,
//! the assistant's turn opened, Qwen3's thinking switched off), and the tokens that end its
//! turns (`tokenizer.ggml.eos_token_id`, `eot_token_id`, and the end-of-turn markers the
//! template uses).
//!
//! The template is rendered once, with markers in place of the two messages, and kept in
//! abridge's own form — text with `{system}` and `{user}` placeholders
//! (`crate::catalogue::ModelSpec::render_prompt`) — so that the texts filled in stay plain
//! text whatever they spell, never control tokens.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use minijinja::{context, Environment, Error, ErrorKind};
use tokenizers::Tokenizer;

/// A chat template with `{system}` and `{user}` placeholders, and the strings that end
/// generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFormat {
    pub template: String,
    pub stop: Vec<String>,
}

/// Markers rendered in place of the messages, from Unicode's private use area (no
/// template produces them itself).
const SYSTEM_MARK: &str = "\u{E000}system\u{E001}";
const USER_MARK: &str = "\u{E000}user\u{E001}";

/// End-of-turn markers of the families abridge runs; those the tokenizer has as special
/// tokens end generation besides the file's end tokens.
const TURN_ENDS: [&str; 6] = [
    "<|im_end|>",
    "<end_of_turn>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<|endoftext|>",
];

/// The chat format of a GGUF file, if it has a chat template.
pub fn from_gguf(
    content: &gguf_file::Content,
    tokenizer: &Tokenizer,
) -> Result<Option<ChatFormat>> {
    let Some(source) = content.metadata.get("tokenizer.chat_template") else {
        return Ok(None);
    };
    let source = source
        .to_string()
        .map_err(|_| anyhow!("tokenizer.chat_template is not a string"))?;
    let token = |key: &str| -> Option<String> {
        let id = match content.metadata.get(key)? {
            Value::U32(id) => *id,
            Value::I32(id) => u32::try_from(*id).ok()?,
            Value::U64(id) => u32::try_from(*id).ok()?,
            _ => return None,
        };
        tokenizer.id_to_token(id)
    };
    let bos = token("tokenizer.ggml.bos_token_id").unwrap_or_default();
    let eos = token("tokenizer.ggml.eos_token_id").unwrap_or_default();
    let template =
        placeholders(source, &bos, &eos).context("cannot use the file's chat template")?;
    let mut stop: Vec<String> = ["eos", "eot", "eom"]
        .iter()
        .filter_map(|name| token(&format!("tokenizer.ggml.{name}_token_id")))
        .collect();
    let specials = tokenizer.get_added_tokens_decoder();
    for end in TURN_ENDS {
        let special = specials.values().any(|t| t.special && t.content == end);
        if special && template.contains(end) && !stop.iter().any(|s| s == end) {
            stop.push(end.to_string());
        }
    }
    Ok(Some(ChatFormat { template, stop }))
}

/// Renders the Jinja chat template `source` for a system and a user message, the
/// assistant's turn opened, with `bos` and `eos` as its special tokens.
pub fn render(source: &str, bos: &str, eos: &str, system: &str, user: &str) -> Result<String> {
    // transformers renders chat templates with trim_blocks and lstrip_blocks on.
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |message: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        },
    );
    env.add_template("chat", source)
        .map_err(|e| anyhow!("the chat template does not parse: {e}"))?;
    let messages = [
        context! { role => "system", content => system },
        context! { role => "user", content => user },
    ];
    env.get_template("chat")
        .and_then(|template| {
            template.render(context! {
                messages => messages,
                add_generation_prompt => true,
                enable_thinking => false,
                bos_token => bos,
                eos_token => eos,
            })
        })
        .map_err(|e| anyhow!("the chat template does not render: {e}"))
}

/// The template `source` in abridge's form: rendered with markers for the messages, which
/// become `{system}` and `{user}`. A template that drops the system message (or has no
/// system role) gets the system text at the start of the user's.
fn placeholders(source: &str, bos: &str, eos: &str) -> Result<String> {
    let rendered = render(source, bos, eos, SYSTEM_MARK, USER_MARK)?;
    let count = |mark: &str| rendered.matches(mark).count();
    if count(USER_MARK) != 1 || count(SYSTEM_MARK) > 1 {
        bail!("the rendered template does not hold each message once");
    }
    if rendered.contains("{system}") || rendered.contains("{user}") {
        bail!("the template's own text spells a placeholder");
    }
    let template = match count(SYSTEM_MARK) {
        1 => rendered
            .replace(SYSTEM_MARK, "{system}")
            .replace(USER_MARK, "{user}"),
        _ => rendered.replace(USER_MARK, "{system}\n\n{user}"),
    };
    Ok(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen3's template in brief: the thinking switch after the assistant's turn.
    const THINKING: &str = "{%- for m in messages %}\n    {{- '<|im_start|>' + m.role + '\\n' + m.content | trim + '<|im_end|>\\n' }}\n{%- endfor %}\n\
        {%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n    \
        {%- if enable_thinking is defined and enable_thinking is false %}\n        {{- '<think>\\n\\n</think>\\n\\n' }}\n    \
        {%- endif %}\n{%- endif %}\n";

    #[test]
    fn a_template_becomes_placeholders_with_thinking_off() {
        let template = placeholders(THINKING, "", "").unwrap();
        assert_eq!(
            template,
            "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n\
             <|im_start|>assistant\n<think>\n\n</think>\n\n"
        );
    }

    #[test]
    fn a_template_without_a_system_role_folds_it_into_the_user_turn() {
        let source = "{{ bos_token }}{% for m in messages %}{% if m.role == 'user' %}<u>{{ m.content }}</u>{% endif %}{% endfor %}";
        assert_eq!(
            placeholders(source, "<s>", "</s>").unwrap(),
            "<s><u>{system}\n\n{user}</u>"
        );
    }

    #[test]
    fn python_string_methods_and_raise_exception_work_as_in_transformers() {
        let source = "{% if messages[0].content.startswith('x') %}{{ raise_exception('no x') }}{% endif %}{{ messages[1].content.upper() }}";
        assert_eq!(render(source, "", "", "a", "b").unwrap(), "B");
        let err = render(source, "", "", "xa", "b").unwrap_err().to_string();
        assert!(err.contains("no x"), "{err}");
        let broken = placeholders("{% for %}", "", "").unwrap_err();
        assert!(
            format!("{broken:#}").contains("does not parse"),
            "{broken:#}"
        );
    }
}
