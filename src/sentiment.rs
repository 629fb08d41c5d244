//! Sentiment from the model's probabilities, not from parsed text: a short question after
//! the text ("positive, negative or neutral for X?"), whose answer's first token the model
//! gives a distribution over. The score is P(positive) − P(negative) among the three
//! answers, on −1…1, and the label is read off the score on a fixed five-point scale. It is
//! deterministic and never fails to parse. The model is asked by `crate::summarize`
//! (`Summarizer::sentiment`, and the article report).

use anyhow::{bail, Result};
use serde::Serialize;

/// A sentiment: a score on −1…1 and its label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sentiment {
    pub score: f64,
    pub label: Label,
}

/// The five-point scale a score is labelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Label {
    #[serde(rename = "negative")]
    Negative,
    #[serde(rename = "somewhat negative")]
    SomewhatNegative,
    #[serde(rename = "neutral")]
    Neutral,
    #[serde(rename = "somewhat positive")]
    SomewhatPositive,
    #[serde(rename = "positive")]
    Positive,
}

impl Label {
    /// The label of `score`: below −0.6 negative, below −0.2 somewhat negative, up to 0.2
    /// neutral, up to 0.6 somewhat positive, above that positive.
    pub fn of(score: f64) -> Label {
        match score {
            s if s < -0.6 => Label::Negative,
            s if s < -0.2 => Label::SomewhatNegative,
            s if s <= 0.2 => Label::Neutral,
            s if s <= 0.6 => Label::SomewhatPositive,
            _ => Label::Positive,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Label::Negative => "negative",
            Label::SomewhatNegative => "somewhat negative",
            Label::Neutral => "neutral",
            Label::SomewhatPositive => "somewhat positive",
            Label::Positive => "positive",
        }
    }
}

impl Sentiment {
    /// The sentiment of answer probabilities: P(positive) − P(negative), the three
    /// answers' probabilities made to sum to 1.
    pub fn from_probabilities(positive: f64, negative: f64, neutral: f64) -> Result<Self> {
        let total = positive + negative + neutral;
        if !(total > 0.0 && total.is_finite()) {
            bail!("the model gives none of the answers any probability");
        }
        let score = ((positive - negative) / total).clamp(-1.0, 1.0);
        Ok(Sentiment {
            score,
            label: Label::of(score),
        })
    }
}

/// The answers, in the order [`Sentiment::from_probabilities`] takes them.
const ANSWERS: [&str; 3] = ["positive", "negative", "neutral"];

/// The one-word question asked about a text, toward `target` when given.
pub fn question(target: Option<&str>) -> String {
    let about = target.map_or(String::new(), |target| format!(" for {target}"));
    format!(
        "Is this news positive, negative or neutral{about}? Answer with one word: positive, \
         negative or neutral."
    )
}

/// The message asking about a short `text` (a headline): the question, then the text.
pub fn headline_message(text: &str, target: Option<&str>) -> String {
    format!("{}\n\n{text}", question(target))
}

impl Sentiment {
    /// The sentiment a model's `logits` for the first token of its answer give: the
    /// probability of each answer is that of the first tokens of its spellings (`positive`,
    /// `Positive`, `POSITIVE`), which `first_token` gives in the model's tokenizer.
    pub fn from_logits(
        logits: &[f32],
        first_token: impl Fn(&str) -> Result<Option<u32>>,
    ) -> Result<Self> {
        let probabilities = softmax(logits);
        let mut mass = [0f64; 3];
        for (answer, mass) in ANSWERS.iter().zip(&mut mass) {
            let mut tokens = Vec::new();
            for spelling in spellings(answer) {
                if let Some(first) = first_token(&spelling)? {
                    if !tokens.contains(&first) {
                        tokens.push(first);
                    }
                }
            }
            *mass = tokens
                .iter()
                .map(|&t| probabilities.get(t as usize).copied().unwrap_or(0.0))
                .sum();
        }
        Sentiment::from_probabilities(mass[0], mass[1], mass[2])
    }
}

/// The spellings a one-word answer may start with.
fn spellings(answer: &str) -> [String; 3] {
    let mut capital = answer.to_string();
    capital[..1].make_ascii_uppercase();
    [answer.to_string(), capital, answer.to_ascii_uppercase()]
}

/// Probabilities of `logits`, in f64.
fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distribution_gives_its_expected_score_and_label() {
        let s = Sentiment::from_probabilities(0.6, 0.1, 0.3).unwrap();
        assert!((s.score - 0.5).abs() < 1e-12);
        assert_eq!(s.label, Label::SomewhatPositive);
        // Only the three answers count: their probabilities are renormalised.
        let s = Sentiment::from_probabilities(0.01, 0.03, 0.0).unwrap();
        assert!((s.score + 0.5).abs() < 1e-12);
        assert_eq!(s.label, Label::SomewhatNegative);
        assert_eq!(
            Sentiment::from_probabilities(0.0, 0.0, 1.0).unwrap().label,
            Label::Neutral
        );
        assert!(Sentiment::from_probabilities(0.0, 0.0, 0.0).is_err());
    }

    #[test]
    fn logits_give_the_mass_of_each_answers_spellings() {
        // Tokens: 0 "positive", 1 "Positive", 2 "negative", 3 "neutral", 4 "other"; the
        // capitals of "negative" and "neutral" and every all-caps spelling are unknown.
        let first_token = |spelling: &str| {
            Ok(["positive", "Positive", "negative", "neutral"]
                .iter()
                .position(|t| *t == spelling)
                .map(|i| i as u32))
        };
        let ln = |p: f32| p.ln();
        let logits = [ln(0.3), ln(0.2), ln(0.1), ln(0.1), ln(0.3)];
        let s = Sentiment::from_logits(&logits, first_token).unwrap();
        // P(positive) = 0.5, P(negative) = 0.1, P(neutral) = 0.1: (0.5 − 0.1) / 0.7.
        assert!((s.score - 0.4 / 0.7).abs() < 1e-6, "{}", s.score);
        assert_eq!(s.label, Label::SomewhatPositive);
    }

    #[test]
    fn the_scale_has_five_points() {
        let labels: Vec<&str> = [-0.9, -0.4, 0.0, 0.2, 0.4, 0.9]
            .map(|s| Label::of(s).name())
            .to_vec();
        assert_eq!(
            labels,
            [
                "negative",
                "somewhat negative",
                "neutral",
                "neutral",
                "somewhat positive",
                "positive"
            ]
        );
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, 3.0, 2.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[1] > p[2] && p[2] > p[0]);
    }
}
