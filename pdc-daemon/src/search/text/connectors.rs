//! The connectors of typed text ("and", ",", "with", "since"): where one
//! statement ends and the next begins, so a text naming several conditions can be
//! read part by part.

/// Words joining two statements in typed text: "and", "but", "with", "w/",
/// "since" (as words), and ",", ";", "&", "+". "Since" joins a condition and what
/// it began with, which may be one too ("heart failure since my heart attack").
const CONNECTOR_WORDS: &[&str] = &["and", "but", "with", "w/", "since"];

/// One part of a typed text between connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The part, lowercased and trimmed.
    pub(crate) text: String,
    /// It follows "since": it says what the condition began with, which may be a
    /// condition but not a circumstance ("since my divorce").
    pub(crate) after_since: bool,
}

/// Splits typed text at its top-level connectors (outside parentheses, see
/// [`CONNECTOR_WORDS`]) into its parts. Text with no connector gives one part.
pub(crate) fn conjunct_parts(text: &str) -> Vec<Part> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut parts: Vec<Part> = Vec::new();
    let mut after_since = false;
    let mut current = String::new();
    let mut depth = 0i32;
    let mut i = 0;
    // A word connector needs a space (or the text's edge) on both sides.
    let word_at = |i: usize, w: &str| -> bool {
        let wc: Vec<char> = w.chars().collect();
        let end = i + wc.len();
        end <= chars.len()
            && chars[i..end] == wc[..]
            && (i == 0 || chars[i - 1] == ' ')
            && chars.get(end).is_none_or(|c| *c == ' ')
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            _ => {}
        }
        let connector = if depth > 0 {
            None
        } else if matches!(c, ',' | ';' | '&' | '+') {
            Some(",")
        } else {
            CONNECTOR_WORDS.iter().copied().find(|w| word_at(i, w))
        };
        match connector {
            Some(w) => {
                let part = std::mem::take(&mut current);
                if part.chars().any(char::is_alphanumeric) {
                    parts.push(Part {
                        text: part.trim().to_string(),
                        after_since,
                    });
                }
                after_since = w == "since";
                i += w.chars().count();
            }
            None => {
                current.push(c);
                i += 1;
            }
        }
    }
    if current.chars().any(char::is_alphanumeric) {
        parts.push(Part {
            text: current.trim().to_string(),
            after_since,
        });
    }
    parts
}
