//! Free text -> ranked ICD-10-CM concepts.
//!
//! # Layout
//! - this file: [`normalize`], the entry point over the built index.
//! - `concept`: what a reading gives, [`Concept`] and [`Normalized`].
//! - `reading`: one text read whole or part by part: qualifiers, "not ... yet",
//!   texts naming several conditions ("and", ",", "with", a spaced dash) and the
//!   combination terms that name them as one.
//! - `lookup`: one word read against the vocabulary (known stem, lay synonym,
//!   verb form, spelling correction).
//! - `score`: the index entries a text's words reach, scored, and the concepts
//!   they name.
//! - `asides`: the head phrase of a typed text decides, its asides only refine.
//! - `borderline`: "borderline X" and "pre-X" read as the stage before X.
//! - `relation`: how two concepts relate in the ICD-10-CM hierarchy.

mod asides;
mod borderline;
mod concept;
mod lookup;
mod reading;
mod relation;
mod score;

use super::index::index;
pub use concept::{Concept, Normalized};
use reading::normalize_with;
pub(crate) use relation::{Relation, relation, span};

/// Normalizes free text (a query, a condition typed by a patient, a SNOMED CT
/// display) to ranked ICD-10-CM concepts. Never fails: text naming nothing known
/// gives no concepts.
pub fn normalize(text: &str) -> Normalized {
    normalize_with(index(), text)
}
