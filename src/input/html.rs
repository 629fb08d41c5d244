//! The readable text of an HTML page: its main content where the page marks it (the longest
//! `<article>`, else `<main>`), blocks become paragraphs, page chrome (navigation, headers,
//! footers, scripts, hidden elements) is left out.

use scraper::{ElementRef, Html, Node, Selector};

/// Elements whose content is never article text.
const SKIPPED_ELEMENTS: &[&str] = &[
    "head", "script", "style", "noscript", "template", "nav", "footer", "header", "aside", "form",
    "iframe", "svg", "button", "select", "dialog",
];

/// ARIA landmark roles of page chrome.
const SKIPPED_ROLES: &[&str] = &["navigation", "banner", "contentinfo", "complementary"];

/// Elements that start and end a paragraph.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tr",
    "ul",
    "html",
];

/// Readable text of an HTML document: blocks separated by blank lines, `<br>` as a
/// line break, whitespace collapsed outside `<pre>`, entities decoded.
pub(super) fn html_to_text(html: &str) -> String {
    enum Step<'a> {
        Enter(ElementRef<'a>),
        Text(&'a str),
        Leave(&'a str),
    }
    let document = Html::parse_document(html);
    let mut text = String::new();
    let mut preformatted_depth = 0usize;
    let mut steps = vec![Step::Enter(main_content(&document))];
    while let Some(step) = steps.pop() {
        match step {
            Step::Enter(element) => {
                let name = element.value().name();
                if is_page_chrome(element) {
                    continue;
                }
                if name == "br" {
                    text.push('\n');
                    continue;
                }
                text.push_str(html_separator(name));
                if name == "pre" {
                    preformatted_depth += 1;
                }
                steps.push(Step::Leave(name));
                for child in element.children().rev() {
                    match child.value() {
                        Node::Text(child_text) => steps.push(Step::Text(child_text)),
                        Node::Element(_) => steps.extend(ElementRef::wrap(child).map(Step::Enter)),
                        _ => {}
                    }
                }
            }
            Step::Text(fragment) if preformatted_depth > 0 => text.push_str(fragment),
            Step::Text(fragment) => text.extend(fragment.chars().map(|character| {
                if character.is_whitespace() {
                    ' '
                } else {
                    character
                }
            })),
            Step::Leave(name) => {
                text.push_str(html_separator(name));
                if name == "pre" {
                    preformatted_depth -= 1;
                }
            }
        }
    }
    text
}

/// The element holding the page's main content: the `<article>` with the most text (a news
/// page's story, not the teasers beside it) when it holds at least a third of the text
/// around it, else `<main>` (or `role="main"`), else the whole document. Elements inside
/// page chrome are never chosen.
fn main_content(document: &Html) -> ElementRef<'_> {
    let outside_chrome = |element: &ElementRef<'_>| {
        !element
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(is_page_chrome)
            && !is_page_chrome(*element)
    };
    let text_length =
        |element: &ElementRef<'_>| -> usize { element.text().map(|t| t.trim().len()).sum() };
    let select = |selector: &str| -> Vec<ElementRef<'_>> {
        let selector = Selector::parse(selector).expect("a valid selector");
        document.select(&selector).filter(outside_chrome).collect()
    };
    let around = select("main, [role=main]")
        .into_iter()
        .next()
        .unwrap_or_else(|| document.root_element());
    match select("article").into_iter().max_by_key(text_length) {
        Some(article) if 3 * text_length(&article) >= text_length(&around) => article,
        _ => around,
    }
}

fn is_page_chrome(element: ElementRef<'_>) -> bool {
    SKIPPED_ELEMENTS.contains(&element.value().name())
        || element.attr("hidden").is_some()
        || element.attr("aria-hidden") == Some("true")
        || element
            .attr("role")
            .is_some_and(|role| SKIPPED_ROLES.contains(&role))
}

/// What goes around an element's text: a paragraph break for blocks, a space
/// between table cells, nothing for inline elements.
fn html_separator(name: &str) -> &'static str {
    if BLOCK_ELEMENTS.contains(&name) {
        "\n\n"
    } else if matches!(name, "td" | "th") {
        " "
    } else {
        ""
    }
}
