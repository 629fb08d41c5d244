//! The language a summary is written in: by default the article's own, detected from its
//! text (`whatlang`), or the one the user names (`--language de`, `German`, `deu`). An
//! English summary is asked for as it always was; any other language is named in the
//! instructions. Languages are ISO 639 languages (`isolang`), shown by their ISO 639-1 code.

pub use isolang::Language;
use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Which language summaries are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LanguageChoice {
    /// Each article's own language, where it can be told; else as for English.
    #[default]
    Auto,
    /// This language, whatever the article's.
    Named(Language),
}

impl LanguageChoice {
    pub fn is_auto(&self) -> bool {
        *self == LanguageChoice::Auto
    }

    /// The language a summary of `text` is written in: the one named, else the text's
    /// own where detection is reliable, else `None`.
    pub fn for_text(self, text: &str) -> Option<Language> {
        match self {
            LanguageChoice::Named(language) => Some(language),
            LanguageChoice::Auto => detect(text),
        }
    }
}

/// The language of `text` where `whatlang` tells it reliably.
pub fn detect(text: &str) -> Option<Language> {
    whatlang::detect(text)
        .filter(whatlang::Info::is_reliable)
        .and_then(|info| Language::from_639_3(info.lang().code()))
}

/// A language's short code: ISO 639-1 where it has one (`de`), else ISO 639-3.
pub fn code(language: Language) -> &'static str {
    language.to_639_1().unwrap_or_else(|| language.to_639_3())
}

/// The English name to ask the model for, or `None` for English (asked for as it always
/// was, with no language named).
pub fn instruction_name(language: Option<Language>) -> Option<&'static str> {
    language
        .filter(|language| *language != Language::Eng)
        .map(|language| language.to_name())
}

impl FromStr for LanguageChoice {
    type Err = String;

    /// `auto`, an ISO 639-1 or 639-3 code, or an English name, in any case.
    fn from_str(value: &str) -> Result<Self, String> {
        let lower = value.trim().to_ascii_lowercase();
        if lower == "auto" {
            return Ok(LanguageChoice::Auto);
        }
        Language::from_639_1(&lower)
            .or_else(|| Language::from_639_3(&lower))
            .or_else(|| Language::from_name_lowercase(&lower))
            .map(LanguageChoice::Named)
            .ok_or_else(|| {
                format!(
                    "unknown language `{value}` (auto, an ISO 639-1 code such as de, or an \
                     English name such as German)"
                )
            })
    }
}

impl fmt::Display for LanguageChoice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LanguageChoice::Auto => formatter.write_str("auto"),
            LanguageChoice::Named(language) => formatter.write_str(code(*language)),
        }
    }
}

impl Serialize for LanguageChoice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_read_codes_and_names_and_refuse_others() {
        let german = LanguageChoice::Named(Language::Deu);
        for given in ["de", "DE", "deu", "German", "german"] {
            assert_eq!(given.parse::<LanguageChoice>(), Ok(german), "{given}");
        }
        assert_eq!("auto".parse(), Ok(LanguageChoice::Auto));
        let err = "klingon-ish".parse::<LanguageChoice>().unwrap_err();
        assert!(err.contains("unknown language `klingon-ish`"), "{err}");
        assert_eq!(german.to_string(), "de");
    }

    #[test]
    fn articles_are_told_apart_and_english_is_asked_for_as_before() {
        let german = "Der Gemeinderat von Kellerby hat am Dienstagabend mit neun zu vier \
                      Stimmen beschlossen, auf dem alten Steinbruchsee eine schwimmende \
                      Solaranlage zu bauen, die ab dem Frühjahr Strom für 120 Haushalte liefert.";
        let french = "Le conseil municipal de Kellerby a voté mardi soir, par neuf voix contre \
                      quatre, la construction d'une centrale solaire flottante sur le lac de \
                      l'ancienne carrière, qui alimentera 120 foyers dès le printemps.";
        let english = "The council of Kellerby voted nine to four on Tuesday night to build a \
                       floating solar farm on the old quarry lake, powering 120 homes from spring.";
        assert_eq!(detect(german), Some(Language::Deu));
        assert_eq!(detect(french), Some(Language::Fra));
        assert_eq!(detect(english), Some(Language::Eng));
        assert_eq!(instruction_name(detect(german)), Some("German"));
        assert_eq!(instruction_name(detect(english)), None);
        assert_eq!(instruction_name(None), None);
        let named = LanguageChoice::Named(Language::Spa);
        assert_eq!(named.for_text(english), Some(Language::Spa));
        assert_eq!(code(Language::Spa), "es");
    }

    #[test]
    fn no_english_evaluation_article_is_taken_for_another_language() {
        // An English article must get the prompt it always got, so set A's figures stand.
        for set in ["eval/cnndm-test-a.jsonl", "eval/cnndm-test-a2.jsonl"] {
            let Some(path) = crate::test_support::shared_file(set) else {
                return;
            };
            let rows = std::fs::read_to_string(path).expect("readable");
            for line in rows.lines().filter(|line| !line.trim().is_empty()) {
                let row: serde_json::Value = serde_json::from_str(line).expect("JSON");
                let article = row["article"].as_str().expect("an article");
                let language = detect(article);
                assert!(
                    matches!(language, None | Some(Language::Eng)),
                    "{set} {}: {language:?}",
                    row["id"]
                );
            }
        }
    }
}
