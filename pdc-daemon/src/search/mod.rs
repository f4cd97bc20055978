//! Disease similarity search ("AI search" in DESIGN.md).
//!
//! Free text (a hospital's query, a condition typed by a patient, a SNOMED CT
//! display from an imported FHIR bundle) is normalized to ranked ICD-10-CM
//! concepts. A query matches a condition through the code hierarchy (same code,
//! then a code within the query's category or block; broader codes and siblings
//! rank lower and never match alone) or, failing that, through the words
//! themselves. Every match says why.
//!
//! # Layout
//! - `generate`: CMS tabular XML -> `icd10cm.tsv` (committed, embedded).
//! - `lay_terms.tsv`: the project's lay vocabulary (abbreviations, lay phrases,
//!   spelling variants, clinical terms worded unlike ICD-10-CM) -> ICD-10-CM codes.
//!   It holds general vocabulary only: a test checks that no row is a whole text of
//!   the patient-typed evaluation set.
//! - `text`: folding, tagging ("history of", "(disorder)", "mom had", "ruled out"),
//!   connectors ("and", ",", "with") between the parts of a typed text, plural
//!   stripping, dates and filler of typed text, asides, edit distance.
//! - `index`: token index over both files, built once (`OnceLock`).
//! - `normalize`: text -> [`Normalized`].
//! - `rank`: [`match_condition`], [`rank`] over stored [`Normalized`] values only.
//! - `eval`: precision/recall against the substring baseline, on a whole set or on
//!   one half of the committed split (`tests/eval/split.toml`).
//!
//! Record-side normalization is meant to be done once, when a condition is written,
//! and stored with it: ranking compares stored values and never touches the index.

mod eval;
mod generate;
mod index;
mod normalize;
mod rank;
mod text;

#[cfg(test)]
mod tests;

pub use eval::{
    CodeSystem, Counts, DevSplit, EvalCondition, EvalPatient, EvalQuery, EvalReport, Half, Halves,
    QueryResult, Split, TypedCondition, TypedSplit, parse_eval_queries, parse_split,
    parse_typed_conditions, run_eval,
};
pub use normalize::{Concept, Normalized, normalize};
pub use rank::{ConditionMatch, Hit, MATCH_THRESHOLD, baseline_match, match_condition, rank};
pub use text::Qualifier;

/// Errors of the search module.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The ICD-10-CM tabular XML could not be turned into the terminology file.
    #[error("ICD-10-CM tabular list: {0} (use the CMS 'icd10cm-tabular' XML file)")]
    Terminology(String),
    /// A line of an evaluation query file is malformed.
    #[error(
        "evaluation file, line {line}: {reason} (format: a header, then text<TAB>codes, comma-separated<TAB>note)"
    )]
    EvalFormat {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The split file is malformed or does not fit the data.
    #[error("split file: {0}")]
    Split(String),
}

/// Generates the terminology file embedded as `icd10cm.tsv` from the CMS ICD-10-CM
/// tabular XML (`icd10cm-tabular-*.xml`). The output is deterministic: regenerating
/// from the same XML gives the committed bytes.
pub fn generate_terminology(xml: &str) -> Result<String, SearchError> {
    generate::generate(xml)
}

/// Builds the search index now rather than on the first query (it takes a fraction
/// of a second); call it at daemon start-up so no request pays for it.
pub fn preload() {
    let _ = index::index();
}
