//! Precision/recall evaluation of the search against the substring baseline, on
//! the whole of a set or on one half of a committed tuning/held-out split.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::SearchError;
use super::normalize::{Normalized, normalize};
use super::rank::{baseline_match, match_condition};

/// The code system of an evaluation set, which also says how a query's listed codes
/// decide relevance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSystem {
    /// SNOMED CT (the FHIR bundles): a condition is relevant when its code is listed.
    Snomed,
    /// ICD-10-CM (the patient-typed set): a listed code is a prefix, so "E11" makes
    /// every E11.x condition relevant.
    Icd10,
}

impl CodeSystem {
    /// True when the condition code is relevant for the listed code.
    pub fn relevant(self, listed: &str, code: &str) -> bool {
        match self {
            CodeSystem::Snomed => listed == code,
            CodeSystem::Icd10 => code.starts_with(listed),
        }
    }

    /// Why `code` is not a code of this system, if it is not.
    fn check(self, code: &str) -> Option<String> {
        match self {
            CodeSystem::Snomed if !code.bytes().all(|b| b.is_ascii_digit()) => {
                Some(format!("'{code}' is not a SNOMED CT code (digits only)"))
            }
            CodeSystem::Icd10
                if !code.starts_with(|c: char| c.is_ascii_uppercase())
                    || !code
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.') =>
            {
                Some(format!(
                    "'{code}' is not an ICD-10-CM code or prefix (e.g. E11, E11.9)"
                ))
            }
            _ => None,
        }
    }
}

/// One evaluation query: the text a hospital would type and the codes a correct
/// answer must match (and no others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalQuery {
    /// The query text.
    pub query: String,
    /// Codes that make a patient relevant (see [`CodeSystem::relevant`]); empty
    /// means no patient should match.
    pub relevant: Vec<String>,
    /// Free comment.
    pub note: String,
}

/// One coded condition of an evaluation patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalCondition {
    /// The condition's codes: its SNOMED CT code (`code.coding[0].code`) for a FHIR
    /// bundle, its ICD-10-CM codes for a patient-typed condition.
    pub codes: Vec<String>,
    /// The condition's text (`code.text`, else the coding's display).
    pub text: String,
}

/// One evaluation patient: a name for the report and its conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPatient {
    /// Label shown in the report.
    pub name: String,
    /// The patient's conditions.
    pub conditions: Vec<EvalCondition>,
}

/// Counts for one query and one method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Patients returned.
    pub returned: usize,
    /// Relevant patients.
    pub relevant: usize,
    /// Relevant patients returned.
    pub hits: usize,
}

impl Counts {
    /// hits / returned; when nothing is returned, 1 (nothing wrong was returned).
    pub fn precision(&self) -> f64 {
        if self.returned == 0 {
            1.0
        } else {
            self.hits as f64 / self.returned as f64
        }
    }

    /// hits / relevant; when nothing is relevant, 1 if nothing was returned, else 0
    /// (so a query that should match nothing is judged on what it returned).
    pub fn recall(&self) -> f64 {
        if self.relevant == 0 {
            if self.returned == 0 { 1.0 } else { 0.0 }
        } else {
            self.hits as f64 / self.relevant as f64
        }
    }

    /// Precision as the evaluation README defines it: a query with an empty
    /// relevant set scores 1 only when nothing is returned.
    fn query_precision(&self) -> f64 {
        if self.relevant == 0 && self.returned > 0 {
            0.0
        } else {
            self.precision()
        }
    }
}

/// Per-query result of [`run_eval`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// The query text.
    pub query: String,
    /// The project's search.
    pub search: Counts,
    /// Case-insensitive substring baseline.
    pub baseline: Counts,
    /// Names of patients returned by the search that are not relevant.
    pub false_positives: Vec<String>,
    /// Names of relevant patients the search missed.
    pub misses: Vec<String>,
}

/// The outcome of [`run_eval`]; `Display` prints one table row per query and ends
/// with the line `total precision=P recall=R baseline_precision=BP baseline_recall=BR`.
///
/// Totals are macro averages: the mean over queries of each query's precision and
/// recall, with the README's rule for empty relevant sets (precision 1 only when
/// nothing is returned; recall likewise 1 only when nothing is returned).
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// One result per query, in input order.
    pub queries: Vec<QueryResult>,
    /// Mean precision of the search.
    pub precision: f64,
    /// Mean recall of the search.
    pub recall: f64,
    /// Mean precision of the baseline.
    pub baseline_precision: f64,
    /// Mean recall of the baseline.
    pub baseline_recall: f64,
}

/// One condition of the patient-typed set: the text as a patient would type it
/// into the portal and its ICD-10-CM codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedCondition {
    /// The typed text.
    pub text: String,
    /// Its ICD-10-CM codes.
    pub codes: Vec<String>,
    /// Free comment.
    pub note: String,
}

/// Parses an evaluation query TSV (`query<TAB>relevant<TAB>note`, a header line
/// first, relevant codes comma-separated, in `system`). Errors name the offending
/// line.
pub fn parse_eval_queries(tsv: &str, system: CodeSystem) -> Result<Vec<EvalQuery>, SearchError> {
    Ok(parse_rows(tsv, "query", system)?
        .into_iter()
        .map(|(query, relevant, note)| EvalQuery {
            query,
            relevant,
            note,
        })
        .collect())
}

/// Parses the patient-typed condition TSV (`text<TAB>ICD-10-CM codes<TAB>note`, a
/// header line first). Every row needs at least one code.
pub fn parse_typed_conditions(tsv: &str) -> Result<Vec<TypedCondition>, SearchError> {
    let rows = parse_rows(tsv, "text", CodeSystem::Icd10)?;
    let mut out = Vec::with_capacity(rows.len());
    for (text, codes, note) in rows {
        if codes.is_empty() {
            return Err(SearchError::EvalFormat {
                line: line_of(tsv, &text),
                reason: format!("'{text}' has no ICD-10-CM code"),
            });
        }
        out.push(TypedCondition { text, codes, note });
    }
    Ok(out)
}

/// 1-based line of the row starting with `first`, for error messages.
fn line_of(tsv: &str, first: &str) -> usize {
    tsv.lines()
        .position(|l| l.split('\t').next().map(str::trim) == Some(first))
        .map_or(0, |i| i + 1)
}

/// Rows of `first<TAB>codes<TAB>note` with a header whose first column is `header`;
/// the first column must be non-empty and unique.
fn parse_rows(
    tsv: &str,
    header: &str,
    system: CodeSystem,
) -> Result<Vec<(String, Vec<String>, String)>, SearchError> {
    let mut lines = tsv.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim_end().split('\t').next() == Some(header) => {}
        _ => {
            return Err(SearchError::EvalFormat {
                line: 1,
                reason: format!("expected the header '{header}<TAB>relevant<TAB>note'"),
            });
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, line) in lines {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 2 || fields.len() > 3 {
            return Err(SearchError::EvalFormat {
                line: line_no,
                reason: format!(
                    "expected 2 or 3 tab-separated fields, found {}",
                    fields.len()
                ),
            });
        }
        let first = fields[0].trim();
        if first.is_empty() {
            return Err(SearchError::EvalFormat {
                line: line_no,
                reason: format!("empty {header}"),
            });
        }
        if !seen.insert(first.to_string()) {
            return Err(SearchError::EvalFormat {
                line: line_no,
                reason: format!("'{first}' appears twice (the split names rows by it)"),
            });
        }
        let mut relevant = Vec::new();
        for code in fields[1]
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if let Some(reason) = system.check(code) {
                return Err(SearchError::EvalFormat {
                    line: line_no,
                    reason,
                });
            }
            relevant.push(code.to_string());
        }
        out.push((
            first.to_string(),
            relevant,
            fields
                .get(2)
                .map(|n| n.trim().to_string())
                .unwrap_or_default(),
        ));
    }
    Ok(out)
}

/// One half of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    /// The half the search may be tuned on.
    Tuning,
    /// The half it is judged on.
    HeldOut,
}

impl FromStr for Half {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tuning" => Ok(Half::Tuning),
            "held-out" => Ok(Half::HeldOut),
            other => Err(format!("'{other}' is not a half: use tuning or held-out")),
        }
    }
}

impl fmt::Display for Half {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Half::Tuning => "tuning",
            Half::HeldOut => "held-out",
        })
    }
}

/// Names of a set's items in each half.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Halves {
    /// The tuning half.
    pub tuning: Vec<String>,
    /// The held-out half.
    pub held_out: Vec<String>,
}

impl Halves {
    /// Splits names by the committed rule: sorted by the hex SHA-256 of the name's
    /// UTF-8 bytes, the first half (rounded up) is tuning, the rest held out. The
    /// rule looks at nothing but the names, so it was fixed before any result.
    pub fn by_rule<S: AsRef<str>>(names: &[S]) -> Halves {
        let mut sorted: Vec<(String, &str)> = names
            .iter()
            .map(|n| (hex_sha256(n.as_ref()), n.as_ref()))
            .collect();
        sorted.sort();
        let k = sorted.len().div_ceil(2);
        let (a, b) = sorted.split_at(k);
        let names = |part: &[(String, &str)]| part.iter().map(|(_, n)| n.to_string()).collect();
        Halves {
            tuning: names(a),
            held_out: names(b),
        }
    }

    /// The names of one half.
    pub fn of(&self, half: Half) -> &[String] {
        match half {
            Half::Tuning => &self.tuning,
            Half::HeldOut => &self.held_out,
        }
    }

    /// Checks that every name of the data is in exactly one half and that the
    /// halves name nothing else; `what` says which list, for the message.
    pub fn check<S: AsRef<str>>(&self, names: &[S], what: &str) -> Result<(), SearchError> {
        let data: HashSet<&str> = names.iter().map(AsRef::as_ref).collect();
        let mut listed = HashSet::new();
        for n in self.tuning.iter().chain(&self.held_out) {
            if !listed.insert(n.as_str()) {
                return Err(SearchError::Split(format!("{what}: '{n}' is listed twice")));
            }
            if !data.contains(n.as_str()) {
                return Err(SearchError::Split(format!(
                    "{what}: '{n}' is in the split but not in the data"
                )));
            }
        }
        if let Some(missing) = names
            .iter()
            .map(AsRef::as_ref)
            .find(|n| !listed.contains(n))
        {
            return Err(SearchError::Split(format!(
                "{what}: '{missing}' is in neither half"
            )));
        }
        Ok(())
    }
}

fn hex_sha256(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The development set's split: queries by their text, bundles by file name
/// without `.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevSplit {
    /// Query texts.
    pub queries: Halves,
    /// Bundle file stems ("patient-01").
    pub bundles: Halves,
}

/// The patient-typed set's split: queries and conditions by their text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedSplit {
    /// Query texts.
    pub queries: Halves,
    /// Typed condition texts.
    pub conditions: Halves,
}

/// The committed split file (`tests/eval/split.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// The shared development set.
    pub dev: DevSplit,
    /// The patient-typed set.
    pub typed: TypedSplit,
}

/// Parses the split file.
pub fn parse_split(toml_text: &str) -> Result<Split, SearchError> {
    toml::from_str(toml_text).map_err(|e| SearchError::Split(e.to_string()))
}

/// Runs every query through [`normalize`] + [`match_condition`] and through the
/// substring baseline over the patients; a patient is returned when any of its
/// conditions matches, and relevant when any condition has a code the query lists
/// (as `system` compares them).
pub fn run_eval(queries: &[EvalQuery], patients: &[EvalPatient], system: CodeSystem) -> EvalReport {
    // Record-side normalization happens once, as it would when records are written.
    let normalized: Vec<Vec<Normalized>> = patients
        .iter()
        .map(|p| p.conditions.iter().map(|c| normalize(&c.text)).collect())
        .collect();
    let mut results = Vec::with_capacity(queries.len());
    for q in queries {
        let nq = normalize(&q.query);
        let mut search = Counts::default();
        let mut baseline = Counts::default();
        let mut false_positives = Vec::new();
        let mut misses = Vec::new();
        for (p, conditions) in patients.iter().zip(&normalized) {
            let relevant = p.conditions.iter().any(|c| {
                c.codes
                    .iter()
                    .any(|code| q.relevant.iter().any(|l| system.relevant(l, code)))
            });
            let found = conditions.iter().any(|c| match_condition(&nq, c).is_some());
            let base = p
                .conditions
                .iter()
                .any(|c| baseline_match(&q.query, &c.text));
            for (counts, returned) in [(&mut search, found), (&mut baseline, base)] {
                counts.relevant += usize::from(relevant);
                counts.returned += usize::from(returned);
                counts.hits += usize::from(relevant && returned);
            }
            if found && !relevant {
                false_positives.push(p.name.clone());
            }
            if relevant && !found {
                misses.push(p.name.clone());
            }
        }
        results.push(QueryResult {
            query: q.query.clone(),
            search,
            baseline,
            false_positives,
            misses,
        });
    }
    let mean = |f: &dyn Fn(&QueryResult) -> f64| {
        if results.is_empty() {
            1.0
        } else {
            results.iter().map(f).sum::<f64>() / results.len() as f64
        }
    };
    EvalReport {
        precision: mean(&|r| r.search.query_precision()),
        recall: mean(&|r| r.search.recall()),
        baseline_precision: mean(&|r| r.baseline.query_precision()),
        baseline_recall: mean(&|r| r.baseline.recall()),
        queries: results,
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} | {:>4} {:>4} {:>4} {:>6} {:>6} | {:>4} {:>4} {:>6} {:>6}",
            "query", "ret", "rel", "hits", "prec", "recall", "bret", "bhit", "bprec", "brec"
        )?;
        writeln!(f, "{}", "-".repeat(90))?;
        for r in &self.queries {
            let (s, b) = (&r.search, &r.baseline);
            writeln!(
                f,
                "{:<28} | {:>4} {:>4} {:>4} {:>6.3} {:>6.3} | {:>4} {:>4} {:>6.3} {:>6.3}",
                truncate(&r.query, 28),
                s.returned,
                s.relevant,
                s.hits,
                s.query_precision(),
                s.recall(),
                b.returned,
                b.hits,
                b.query_precision(),
                b.recall()
            )?;
            if !r.false_positives.is_empty() {
                writeln!(f, "    false positives: {}", r.false_positives.join(", "))?;
            }
            if !r.misses.is_empty() {
                writeln!(f, "    missed: {}", r.misses.join(", "))?;
            }
        }
        writeln!(f, "(totals: mean over {} queries)", self.queries.len())?;
        write!(
            f,
            "total precision={:.4} recall={:.4} baseline_precision={:.4} baseline_recall={:.4}",
            self.precision, self.recall, self.baseline_precision, self.baseline_recall
        )
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(['…']).collect()
    }
}
