//! What normalizing a text gives: the ICD-10-CM concepts it names, with scores
//! and evidence, and the text's words for when concepts alone do not decide.

use serde::{Deserialize, Serialize};

use crate::search::text::Qualifier;

/// Enough room for a lay term naming every sprain category.
pub(super) const MAX_CONCEPTS: usize = 24;

/// One ICD-10-CM concept a text was normalized to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// ICD-10-CM code ("E11.9"), block ("E08-E13") or chapter ("E00-E89").
    pub code: String,
    /// Official title of the code, block or chapter.
    pub title: String,
    /// How well the text names this concept, in (0, 1].
    pub score: f32,
    /// The block the concept lies in (the concept itself for a block; empty for a
    /// chapter), kept so that ranking needs no terminology look-up.
    pub block: String,
    /// Why the text names it, e.g. "lay term 'sugar diabetes'".
    pub via: String,
}

/// The ICD-10-CM reading of one text (a query or a record's condition), with
/// scores and evidence. Compute it once per condition when the record is written
/// and store it with the record: ranking then only compares stored values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Normalized {
    /// The text as given.
    pub text: String,
    /// What the text says about the condition (a relative's, or absent).
    pub qualifier: Qualifier,
    /// Concepts, best first.
    pub concepts: Vec<Concept>,
    /// The text's meaningful words, reduced; each inner list holds the alternative
    /// readings of one word (its spelling corrections and synonyms). Used as text
    /// evidence when concepts alone do not decide.
    pub terms: Vec<Vec<String>>,
}
