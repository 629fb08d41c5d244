//! The companies an article is about: the names a model lists, kept only where the article
//! names them (a name it does not contain is dropped, never reported), each with the
//! ticker the article gives for it (`(NASDAQ: META)`, `Meta (META)`) or, failing that, the
//! one a small shipped table gives its exact name, and its relevance from how often the
//! article mentions it.

use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// Most companies one report lists.
pub const MOST_COMPANIES: usize = 10;

/// A company the article names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Company {
    /// The name as the article first spells it.
    pub name: String,
    /// Its ticker symbol, where the article gives one or the shipped table has the name.
    pub ticker: Option<String>,
    /// How often the article names it (or its ticker).
    pub mentions: usize,
    /// Mentions as a share of the most-mentioned company's: 1.0 for that one.
    pub relevance: f64,
}

/// The names in a model's answer to "list the companies": one per line or separated by
/// commas, with list marks, quotes and any parenthesised note taken off; an answer saying
/// there are none gives none.
pub fn parse_list(answer: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in answer.lines() {
        let line = line
            .trim()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start_matches(['.', ')', '-', '*', '•', ' ']);
        for item in line.split([',', ';']) {
            let mut name = item.trim();
            if let Some(open) = name.find('(') {
                name = name[..open].trim();
            }
            let name = name
                .trim_matches(|c: char| "\"'“”‘’*`".contains(c))
                .trim_end_matches(['.', ':'])
                .trim();
            let words = name.split_whitespace().count();
            if words == 0 || words > 6 || name.eq_ignore_ascii_case("none") {
                continue;
            }
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The companies among `names` that `article` names, most relevant first (ties in the
/// order the article first names them), at most [`MOST_COMPANIES`]. A name the article
/// gives only inside another's ("Scale" of "Scale AI") is that company, not another.
pub fn in_article(names: &[String], article: &str) -> Vec<Company> {
    let mut found: Vec<(Vec<(usize, usize)>, Company)> = Vec::new();
    for name in names {
        let spans = word_spans(name, article, false);
        let Some(&(first, end)) = spans.first() else {
            continue;
        };
        let spelled = &article[first..end];
        if found
            .iter()
            .any(|(_, company)| company.name.eq_ignore_ascii_case(spelled))
        {
            continue;
        }
        let ticker = given_ticker(article, &spans).or_else(|| known_ticker(spelled));
        let ticker_mentions = ticker.as_deref().map_or(0, |ticker| {
            word_spans(ticker, article, true)
                .iter()
                .filter(|&&span| !within(span, &spans))
                .count()
        });
        let company = Company {
            name: spelled.to_string(),
            ticker,
            mentions: spans.len() + ticker_mentions,
            relevance: 0.0,
        };
        found.push((spans, company));
    }
    let inside_another = |(spans, company): &(Vec<(usize, usize)>, Company)| {
        found.iter().any(|(other, named)| {
            named.name.len() > company.name.len() && spans.iter().all(|&span| within(span, other))
        })
    };
    let mut kept: Vec<(usize, Company)> = found
        .iter()
        .filter(|entry| !inside_another(entry))
        .map(|(spans, company)| (spans[0].0, company.clone()))
        .collect();
    kept.sort_by(|a, b| b.1.mentions.cmp(&a.1.mentions).then(a.0.cmp(&b.0)));
    kept.truncate(MOST_COMPANIES);
    let most = kept.first().map_or(1, |(_, c)| c.mentions.max(1)) as f64;
    kept.into_iter()
        .map(|(_, mut company)| {
            company.relevance = (company.mentions as f64 / most * 100.0).round() / 100.0;
            company
        })
        .collect()
}

/// Whether `span` lies inside one of `spans`.
fn within(span: (usize, usize), spans: &[(usize, usize)]) -> bool {
    spans.iter().any(|s| s.0 <= span.0 && span.1 <= s.1)
}

/// The spans of `needle` in `haystack` that start and end at word boundaries, matched
/// exactly or ignoring case.
fn word_spans(needle: &str, haystack: &str, exact: bool) -> Vec<(usize, usize)> {
    let case = if exact { "" } else { "(?i)" };
    let Ok(pattern) = Regex::new(&format!("{case}{}", regex::escape(needle))) else {
        return Vec::new();
    };
    pattern
        .find_iter(haystack)
        .filter(|m| {
            let before = haystack[..m.start()].chars().next_back();
            let after = haystack[m.end()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// A ticker in parentheses, with or without its exchange: `(NASDAQ: META)`, `(NYSE:IBM)`,
/// `(META)`, `(LON: BARC)`.
static TICKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\((?:[A-Za-z][A-Za-z ]{0,15}:\s*)?([A-Z][A-Z0-9]{0,5}(?:\.[A-Z]{1,2})?)\)")
        .expect("a valid pattern")
});

/// The ticker the article gives right after one of the company's mentions, if any.
fn given_ticker(article: &str, spans: &[(usize, usize)]) -> Option<String> {
    spans.iter().find_map(|&(_, end)| {
        TICKER
            .captures(&article[end..])
            .map(|captures| captures[1].to_string())
    })
}

/// Tickers of widely covered companies, by the names news articles give them.
const KNOWN_TICKERS: &[(&str, &str)] = &[
    ("Meta", "META"),
    ("Meta Platforms", "META"),
    ("Facebook", "META"),
    ("Apple", "AAPL"),
    ("Microsoft", "MSFT"),
    ("Alphabet", "GOOGL"),
    ("Google", "GOOGL"),
    ("Amazon", "AMZN"),
    ("Nvidia", "NVDA"),
    ("Tesla", "TSLA"),
    ("Netflix", "NFLX"),
    ("Intel", "INTC"),
    ("AMD", "AMD"),
    ("Advanced Micro Devices", "AMD"),
    ("IBM", "IBM"),
    ("Oracle", "ORCL"),
    ("Salesforce", "CRM"),
    ("Adobe", "ADBE"),
    ("Qualcomm", "QCOM"),
    ("Broadcom", "AVGO"),
    ("Cisco", "CSCO"),
    ("Uber", "UBER"),
    ("Airbnb", "ABNB"),
    ("PayPal", "PYPL"),
    ("Visa", "V"),
    ("Mastercard", "MA"),
    ("JPMorgan", "JPM"),
    ("JPMorgan Chase", "JPM"),
    ("Goldman Sachs", "GS"),
    ("Morgan Stanley", "MS"),
    ("Bank of America", "BAC"),
    ("Citigroup", "C"),
    ("Wells Fargo", "WFC"),
    ("Berkshire Hathaway", "BRK.B"),
    ("Walmart", "WMT"),
    ("Coca-Cola", "KO"),
    ("PepsiCo", "PEP"),
    ("McDonald's", "MCD"),
    ("Disney", "DIS"),
    ("Boeing", "BA"),
    ("Exxon Mobil", "XOM"),
    ("ExxonMobil", "XOM"),
    ("Chevron", "CVX"),
    ("Pfizer", "PFE"),
    ("Johnson & Johnson", "JNJ"),
    ("Moderna", "MRNA"),
    ("Ford", "F"),
    ("General Motors", "GM"),
    ("AT&T", "T"),
    ("Verizon", "VZ"),
    ("Starbucks", "SBUX"),
    ("Nike", "NKE"),
    ("Snap", "SNAP"),
    ("Spotify", "SPOT"),
    ("Palantir", "PLTR"),
    ("Shopify", "SHOP"),
    ("Alibaba", "BABA"),
    ("Baidu", "BIDU"),
    ("TSMC", "TSM"),
    ("Samsung", "005930.KS"),
    ("Sony", "SONY"),
    ("Toyota", "TM"),
];

/// The shipped table's ticker for a company of exactly this name (case aside).
fn known_ticker(name: &str) -> Option<String> {
    KNOWN_TICKERS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, ticker)| ticker.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_list_is_read_whatever_its_marks() {
        let answer =
            "1. Meta (the buyer)\n- \"Scale AI\"\n* OpenAI, Google; Microsoft.\nmeta\nNone";
        assert_eq!(
            parse_list(answer),
            names(&["Meta", "Scale AI", "OpenAI", "Google", "Microsoft"])
        );
        assert!(parse_list("None.").is_empty());
    }

    #[test]
    fn names_the_article_does_not_give_are_dropped() {
        let article = "Meta (NASDAQ: META) is buying 49% of Scale AI. Meta's chief, Mark \
                       Zuckerberg, met Scale AI staff. Metallica played.";
        let companies = in_article(&names(&["Meta", "Scale AI", "Amazon", "Scale"]), article);
        let found: Vec<&str> = companies.iter().map(|c| c.name.as_str()).collect();
        // Amazon is not in the article; "Scale" is, but only inside "Scale AI".
        assert_eq!(found, ["Meta", "Scale AI"]);
        assert!(!found.contains(&"Amazon"));
        // "Metallica" is no mention of Meta; "META" in the ticker is.
        assert_eq!(companies[0].mentions, 3);
        assert_eq!(companies[0].relevance, 1.0);
        assert_eq!(companies[1].relevance, 0.67);
    }

    #[test]
    fn tickers_come_from_the_article_or_the_table_only() {
        let article = "Shares of Acme Corp (NYSE:ACME) rose. Meta fell. Initech (INTC2) and \
                       Globex were flat. Apple Hospitality sank.";
        let companies = in_article(
            &names(&[
                "Acme Corp",
                "Meta",
                "Initech",
                "Globex",
                "Apple Hospitality",
            ]),
            article,
        );
        let ticker = |name: &str| {
            companies
                .iter()
                .find(|c| c.name == name)
                .unwrap()
                .ticker
                .clone()
        };
        assert_eq!(ticker("Acme Corp").as_deref(), Some("ACME"));
        assert_eq!(ticker("Meta").as_deref(), Some("META"), "the shipped table");
        assert_eq!(ticker("Initech").as_deref(), Some("INTC2"));
        assert_eq!(ticker("Globex"), None, "never invented");
        assert_eq!(
            ticker("Apple Hospitality"),
            None,
            "the table takes exact names"
        );
    }

    #[test]
    fn the_articles_spelling_is_kept_and_each_company_listed_once() {
        let article = "Openai works with Google. OPENAI grew.";
        let companies = in_article(&names(&["OpenAI", "openai", "Google"]), article);
        assert_eq!(companies.len(), 2);
        assert_eq!(companies[0].name, "Openai");
        assert_eq!(companies[0].mentions, 2);
    }
}
