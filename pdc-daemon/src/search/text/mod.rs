//! Text cleaning shared by the index (ICD-10-CM titles, lay terms) and by queries,
//! so both sides reduce words to the same forms.
//!
//! # Layout
//! - this file: [`analyze`], which turns one text into its qualifier and words.
//! - `qualifier`: [`Qualifier`] and the leading and trailing phrases that set it
//!   ("history of", "mom had", "ruled out", "not ... yet").
//! - `connectors`: the words and signs joining the parts of a typed text ("and",
//!   ",", "with").
//! - `folding`: lowercasing, diacritics and possessives.
//! - `words`: [`Word`] and its asides ([`WITHOUT`]); splitting into words, the dates
//!   and filler of typed text, abbreviations and numerals, stop words, plural stripping.
//! - `typos`: edit distance and the filters around it, for spelling correction.

mod connectors;
mod folding;
mod qualifier;
mod typos;
mod words;

#[cfg(test)]
mod tests;

pub(crate) use connectors::conjunct_parts;
pub(crate) use folding::fold;
pub use qualifier::Qualifier;
pub(crate) use qualifier::not_yet;
use qualifier::{
    FAMILY_PREFIXES, HISTORY_PREFIXES, NEGATION_PREFIXES, NEGATION_SUFFIXES, relative_prefix,
    strip_any,
};
pub(crate) use typos::{bounded_distance, letter_mask, max_typos};
pub(crate) use words::{WITHOUT, Word, stem};
use words::{singular_abbreviations, split_words};

/// SNOMED CT semantic tags that Synthea leaves in display texts; they say what kind
/// of concept it is, not which one, so they must not take part in matching.
const SEMANTIC_TAGS: &[&str] = &[
    "(disorder)",
    "(finding)",
    "(situation)",
    "(morphologic abnormality)",
    "(procedure)",
    "(observable entity)",
    "(event)",
    "(person)",
    "(body structure)",
    "(qualifier value)",
    "(regime/therapy)",
    "(clinical finding)",
    "(disease)",
];

/// Cleans `text` and splits it into words, returning also the qualifier found at
/// its start. `icd_style` marks parenthesised words as optional (ICD-10-CM
/// nonessential modifiers); for typed text parentheses are just punctuation.
pub(crate) fn analyze(text: &str, icd_style: bool) -> (Qualifier, Vec<Word>) {
    let singular;
    let text = if icd_style {
        text
    } else {
        singular = singular_abbreviations(text);
        &singular
    };
    let mut folded = fold(text);
    for tag in SEMANTIC_TAGS {
        while let Some(at) = folded.find(tag) {
            folded.replace_range(at..at + tag.len(), " ");
        }
    }
    // "?asthma", "asthma?": a question mark makes the diagnosis uncertain.
    let questioned = !icd_style && {
        let t = folded.trim();
        t.starts_with('?') || t.ends_with('?')
    };
    let mut lead = folded
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let mut qualifier = Qualifier::Plain;
    if icd_style {
        // Titles such as "Personal history of sudden cardiac arrest" (Z86.74) must
        // keep every word: they are the concept, not a phrasing of another one.
    } else if let Some(rest) = relative_prefix(&lead) {
        // "Mom had breast cancer" says what "family history of breast cancer" says,
        // and ICD-10-CM has the concept for the latter (Z80.3).
        qualifier = Qualifier::Family;
        lead = format!("family history of {rest}");
    } else if let Some(rest) = strip_any(&lead, FAMILY_PREFIXES) {
        qualifier = Qualifier::Family;
        // Keep the words: "family history of diabetes" is itself an ICD-10-CM
        // concept (Z83.3), which is what the text should normalize to.
        let _ = rest;
    } else if questioned {
        qualifier = Qualifier::Negated;
    } else if let Some(rest) = strip_any(&lead, NEGATION_PREFIXES) {
        qualifier = Qualifier::Negated;
        lead = rest.to_string();
    } else if let Some(rest) = NEGATION_SUFFIXES.iter().find_map(|s| {
        lead.trim_end_matches(|c: char| !c.is_alphanumeric())
            .strip_suffix(s)
    }) {
        qualifier = Qualifier::Negated;
        lead = rest.to_string();
    } else {
        // "History of history of" does not occur, but a history prefix may follow
        // "personal": loop until no prefix is left.
        while let Some(rest) = strip_any(&lead, HISTORY_PREFIXES) {
            lead = rest.to_string();
        }
    }
    (qualifier, split_words(&lead, icd_style))
}
