//! Bytes to text: a byte order mark (UTF-8, UTF-16) decides; else UTF-8 when the bytes are
//! valid UTF-8; else the charset an HTML or XML document declares in its head; else the
//! encoding `chardetng` (the detector Firefox uses) guesses for legacy text — Latin-1,
//! Windows-1252 and the like — decoded with `encoding_rs`. Only what is really binary is
//! refused (by the caller's check, which a BOM-marked UTF-16 text is exempt from).

use encoding_rs::{Encoding, UTF_8};
use std::borrow::Cow;

/// How many leading bytes are searched for a declared charset.
const DECLARATION_BYTES: usize = 1024;

/// The text of `bytes`; `html` says whether a declared charset is looked for. `None` when
/// the bytes do not decode in the encoding found for them.
pub(super) fn decode(bytes: &[u8], html: bool) -> Option<Cow<'_, str>> {
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return (!had_errors).then_some(text);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Some(Cow::Borrowed(text));
    }
    let encoding = html.then(|| declared(bytes)).flatten().unwrap_or_else(|| {
        let mut detector = chardetng::EncodingDetector::new();
        detector.feed(bytes, true);
        detector.guess(None, true)
    });
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    (!had_errors).then_some(text)
}

/// Whether `bytes` start with a UTF-16 byte order mark (whose text has NUL bytes that are
/// no sign of binary data).
pub(super) fn has_utf16_bom(bytes: &[u8]) -> bool {
    Encoding::for_bom(bytes).is_some_and(|(encoding, _)| encoding != UTF_8)
}

/// The encoding a document's head declares: `<meta charset="…">`, `<meta
/// http-equiv="Content-Type" content="…; charset=…">` or `<?xml … encoding="…"?>`.
fn declared(bytes: &[u8]) -> Option<&'static Encoding> {
    let head =
        String::from_utf8_lossy(&bytes[..bytes.len().min(DECLARATION_BYTES)]).to_ascii_lowercase();
    ["charset=", "encoding="].iter().find_map(|key| {
        let at = head.find(key)? + key.len();
        let value = head[at..].trim_start_matches(['"', '\'', ' ']);
        let end = value
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
            .unwrap_or(value.len());
        Encoding::for_label(&value.as_bytes()[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8], html: bool) -> String {
        decode(bytes, html).expect("decodes").into_owned()
    }

    #[test]
    fn boms_utf8_declarations_and_legacy_text_decode() {
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend("Café noir".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(text(&utf16, false), "Café noir");
        assert!(has_utf16_bom(&utf16));
        assert_eq!(text("naïve".as_bytes(), false), "naïve");
        assert_eq!(text(b"\xEF\xBB\xBFplain", false), "plain");
        // Latin-1 / Windows-1252, detected.
        assert_eq!(
            text(b"caf\xe9 au lait, cr\xe8me br\xfbl\xe9e", false),
            "café au lait, crème brûlée"
        );
        // Declared: the byte 0xE0 is à in ISO-8859-1 and would be read otherwise by some
        // detectors; the declaration decides.
        let page =
            b"<html><head><meta charset=\"iso-8859-1\"></head><body>d\xe9j\xe0 vu</body></html>";
        assert!(text(page, true).contains("déjà vu"));
        let page = b"<?xml version=\"1.0\" encoding='windows-1252'?><p>\x93quoted\x94</p>";
        assert!(text(page, true).contains("\u{201C}quoted\u{201D}"));
    }

    #[test]
    fn a_utf16_text_cut_mid_character_does_not_decode() {
        assert!(decode(&[0xFF, 0xFE, b'a', 0, b'b'], false).is_none());
    }
}
