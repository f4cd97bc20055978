//! What a typed text says about its condition, read from the phrases around it:
//! a history ("history of", "status post"), a relative's ("family history of",
//! "mom had"), absent or uncertain ("no", "ruled out", "suspected"), or still to
//! come ("not diabetic yet").

use serde::{Deserialize, Serialize};

use super::folding::fold;

/// What a leading phrase says about the condition named in the rest of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// The text names a condition the person has (or had: "history of" is kept as
    /// having had it, because a search for "cardiac arrest" wants those patients).
    #[default]
    Plain,
    /// "Family history of ...": a relative had it, the person did not.
    Family,
    /// "No ...", "ruled out ...", "... ruled out", "suspected ...": the person does
    /// not have it, or is not known to.
    Negated,
    /// "Borderline X", "pre-X": the stage before X. The person does not have X; the
    /// text reads as the ICD-10-CM concept for that stage where there is one
    /// (prediabetes R73.03, elevated blood pressure R03.0).
    Borderline,
}

/// Leading phrases meaning "has had": stripped, the rest is the condition.
pub(super) const HISTORY_PREFIXES: &[&str] = &[
    "personal history of ",
    "past medical history of ",
    "past history of ",
    "medical history of ",
    "history of ",
    "hx of ",
    "h/o ",
    "h o ",
    "hx ",
    "status post ",
    "recovered from ",
];

pub(super) const FAMILY_PREFIXES: &[&str] = &[
    "family history of ",
    "family hx of ",
    "fhx of ",
    "fhx ",
    "fh of ",
    "family history ",
];

/// Relatives a patient names at the start of a phrase ("mom had breast cancer"):
/// with one of [`RELATIVE_VERBS`] after it, the text is a family history.
const RELATIVES: &[&str] = &[
    "mom",
    "mum",
    "mother",
    "dad",
    "father",
    "brother",
    "sister",
    "grandmother",
    "grandma",
    "grandfather",
    "grandpa",
    "aunt",
    "uncle",
    "parents",
    "parent",
    "sibling",
    "son",
    "daughter",
];

const RELATIVE_VERBS: &[&str] = &["had ", "has ", "have ", "died of ", "died from ", "with "];

pub(super) const NEGATION_PREFIXES: &[&str] = &[
    "no evidence of ",
    "negative for ",
    "ruled out ",
    "rule out ",
    "r/o ",
    "denies ",
    "absence of ",
    "no ",
    "not ",
    // Uncertain diagnoses are not coded as the condition (ICD-10-CM outpatient
    // guidelines): the person is not known to have it.
    "possible ",
    "possibly ",
    "suspected ",
    "suspect ",
    "probable ",
];

/// Trailing phrases that negate what comes before them ("asthma ruled out").
pub(super) const NEGATION_SUFFIXES: &[&str] = &[" ruled out", " excluded"];

/// "Not diabetic yet", "no diabetes yet": the text says the condition is still to
/// come, which is the stage before it; returns the condition's words ("diabetic").
pub(crate) fn not_yet(text: &str) -> Option<String> {
    let folded = fold(text);
    let t = folded
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let rest = strip_any(&t, NEGATION_PREFIXES)?;
    let rest = rest.strip_suffix(" yet")?.trim();
    let rest = rest.strip_prefix("yet ").unwrap_or(rest);
    (!rest.is_empty()).then(|| rest.to_string())
}

/// The rest of a text that starts with a relative and a verb ("my mom had ...").
pub(super) fn relative_prefix(text: &str) -> Option<&str> {
    let t = text.strip_prefix("my ").unwrap_or(text);
    let (who, rest) = t.split_once(' ')?;
    if !RELATIVES.contains(&who) {
        return None;
    }
    let rest = rest.strip_prefix("also ").unwrap_or(rest);
    RELATIVE_VERBS
        .iter()
        .find_map(|v| rest.strip_prefix(v))
        .filter(|r| !r.trim().is_empty())
}

pub(super) fn strip_any<'a>(text: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| text.strip_prefix(p))
}
