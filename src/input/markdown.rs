//! The plain text of a Markdown document: front matter, markup, link targets and rules
//! removed, headings and list items kept as paragraphs, code kept verbatim.

use std::ops::Range;

/// Plain text of a Markdown document: front matter removed, headings, list items
/// and paragraphs as separate paragraphs (soft-wrapped lines rejoined), code block
/// lines kept verbatim, inline markup stripped.
pub(super) fn markdown_to_text(markdown: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    let mut fence: Option<&str> = None;
    let flush = |paragraph: &mut Vec<String>, paragraphs: &mut Vec<String>| {
        if !paragraph.is_empty() {
            paragraphs.push(paragraph.join(" "));
            paragraph.clear();
        }
    };
    for line in strip_front_matter(markdown).lines() {
        let trimmed = line.trim();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            } else {
                paragraphs.push(line.to_string());
            }
            continue;
        }
        let quoted = trimmed
            .trim_start_matches(|character: char| character == '>' || character.is_whitespace());
        if let Some(marker) = ["```", "~~~"]
            .into_iter()
            .find(|marker| quoted.starts_with(marker))
        {
            flush(&mut paragraph, &mut paragraphs);
            fence = Some(marker);
        } else if quoted.is_empty() || is_markdown_rule(quoted) {
            flush(&mut paragraph, &mut paragraphs);
        } else if let Some(heading) = markdown_heading(quoted) {
            flush(&mut paragraph, &mut paragraphs);
            paragraphs.push(markdown_inline(heading));
        } else if let Some(item) = markdown_list_item(quoted) {
            flush(&mut paragraph, &mut paragraphs);
            paragraph.push(markdown_inline(item));
        } else if !is_reference_definition(quoted) {
            paragraph.push(markdown_inline(quoted));
        }
    }
    flush(&mut paragraph, &mut paragraphs);
    paragraphs.join("\n\n")
}

/// `markdown` without a leading `---` … `---` (or `...`) front-matter block.
fn strip_front_matter(markdown: &str) -> &str {
    let Some(rest) = markdown
        .strip_prefix("---\n")
        .or_else(|| markdown.strip_prefix("---\r\n"))
    else {
        return markdown;
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if matches!(line.trim_end(), "---" | "...") {
            return &rest[offset..];
        }
    }
    markdown
}

/// A thematic break or setext underline: three or more of one of `-*_=`.
fn is_markdown_rule(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|character| *character != ' ').collect();
    marks.len() >= 3
        && matches!(marks[0], '-' | '*' | '_' | '=')
        && marks.iter().all(|mark| *mark == marks[0])
}

/// `[label]: url` lines.
fn is_reference_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]:")
}

/// Heading text of an ATX heading (`## Title ##`).
fn markdown_heading(line: &str) -> Option<&str> {
    let level = line
        .chars()
        .take_while(|character| *character == '#')
        .count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| rest.trim().trim_end_matches('#').trim_end())
}

/// Content of a bullet (`-`, `*`, `+`) or numbered (`1.`, `1)`) list item.
fn markdown_list_item(line: &str) -> Option<&str> {
    let marker_length = if line.starts_with(['-', '*', '+']) {
        1
    } else {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || !line[digits..].starts_with(['.', ')']) {
            return None;
        }
        digits + 1
    };
    let rest = &line[marker_length..];
    rest.starts_with(' ').then(|| rest.trim_start())
}

/// Inline Markdown to text: links become their text, images disappear, emphasis
/// and code markers are removed, backslash escapes are resolved.
fn markdown_inline(line: &str) -> String {
    let characters: Vec<char> = line.chars().collect();
    let mut text = String::with_capacity(line.len());
    let mut index = 0;
    while index < characters.len() {
        let character = characters[index];
        let next = characters.get(index + 1).copied();
        match character {
            '\\' if next.is_some_and(|next| next.is_ascii_punctuation()) => {
                text.extend(next);
                index += 2;
            }
            '`' => {
                let run = run_length(&characters, index);
                let code_start = index + run;
                match find_backtick_run(&characters, code_start, run) {
                    Some(code_end) => {
                        let code: String = characters[code_start..code_end].iter().collect();
                        text.push_str(code.trim());
                        index = code_end + run;
                    }
                    None => {
                        text.extend(&characters[index..code_start]);
                        index = code_start;
                    }
                }
            }
            '!' if next == Some('[') => match parse_link(&characters, index + 1) {
                Some((_, end)) => index = end,
                None => {
                    text.push('!');
                    index += 1;
                }
            },
            '[' => match parse_link(&characters, index) {
                Some((label, end)) => {
                    let label: String = characters[label].iter().collect();
                    text.push_str(&markdown_inline(&label));
                    index = end;
                }
                None => {
                    text.push('[');
                    index += 1;
                }
            },
            '<' => match parse_autolink(&characters, index) {
                Some((url, end)) => {
                    text.extend(&characters[url]);
                    index = end;
                }
                None => {
                    text.push('<');
                    index += 1;
                }
            },
            '*' | '_' | '~' => {
                let run = run_length(&characters, index);
                if !is_emphasis_marker(&characters, index, run) {
                    text.extend(&characters[index..index + run]);
                }
                index += run;
            }
            _ => {
                text.push(character);
                index += 1;
            }
        }
    }
    text
}

/// Length of the run of the character at `start`.
fn run_length(characters: &[char], start: usize) -> usize {
    characters[start..]
        .iter()
        .take_while(|character| **character == characters[start])
        .count()
}

/// Start of the next run of exactly `length` backticks at or after `from`.
fn find_backtick_run(characters: &[char], from: usize, length: usize) -> Option<usize> {
    let mut index = from;
    while index < characters.len() {
        if characters[index] == '`' {
            let run = run_length(characters, index);
            if run == length {
                return Some(index);
            }
            index += run;
        } else {
            index += 1;
        }
    }
    None
}

/// Index just past the bracket matching the opening one at `open`.
fn matching_bracket(characters: &[char], open: usize, close: char) -> Option<usize> {
    let opening = characters[open];
    let mut depth = 0usize;
    let mut index = open;
    while index < characters.len() {
        match characters[index] {
            '\\' => index += 1,
            character if character == opening => depth += 1,
            character if character == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// `[label](url)` or `[label][reference]` starting at `open`: the label's range
/// and the index just past the link.
fn parse_link(characters: &[char], open: usize) -> Option<(Range<usize>, usize)> {
    let label_end = matching_bracket(characters, open, ']')?;
    let end = match characters.get(label_end) {
        Some('(') => matching_bracket(characters, label_end, ')')?,
        Some('[') => matching_bracket(characters, label_end, ']')?,
        _ => return None,
    };
    Some((open + 1..label_end - 1, end))
}

/// `<https://…>` starting at `open`: the URL's range and the index past `>`.
fn parse_autolink(characters: &[char], open: usize) -> Option<(Range<usize>, usize)> {
    let length = characters[open + 1..]
        .iter()
        .take_while(|character| !matches!(character, '>' | ' '))
        .count();
    let close = open + 1 + length;
    let url: String = characters[open + 1..close].iter().collect();
    let is_url = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    (is_url && characters.get(close) == Some(&'>')).then_some((open + 1..close, close + 1))
}

/// A run of `*`, `_` (or `~~`) opens or closes emphasis when it touches a word on
/// exactly one side; runs inside words (`snake_case`) or between spaces (`2 * 3`)
/// are literal.
fn is_emphasis_marker(characters: &[char], start: usize, run: usize) -> bool {
    let is_boundary = |neighbour: Option<&char>| {
        neighbour
            .is_none_or(|character| character.is_whitespace() || character.is_ascii_punctuation())
    };
    let before = start.checked_sub(1).and_then(|index| characters.get(index));
    let after = characters.get(start + run);
    (characters[start] != '~' || run >= 2) && is_boundary(before) != is_boundary(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_is_stripped_and_escapes_kept_literal() {
        assert_eq!(
            markdown_inline(r"\*literal\* <https://example.com> [sic] ~~gone~~ ~5"),
            "*literal* https://example.com [sic] gone ~5"
        );
    }
}
