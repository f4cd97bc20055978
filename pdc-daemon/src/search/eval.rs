//! Precision/recall evaluation of the search against the substring baseline.

use std::fmt;

use super::SearchError;
use super::normalize::{Normalized, normalize};
use super::rank::{baseline_match, match_condition};

/// One evaluation query: the text a hospital would type and the SNOMED CT codes a
/// correct answer must match (and no others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalQuery {
    /// The query text.
    pub query: String,
    /// SNOMED CT condition codes that make a patient relevant; empty means no
    /// patient should match.
    pub relevant: Vec<String>,
    /// Free comment.
    pub note: String,
}

/// One coded condition of an evaluation patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalCondition {
    /// SNOMED CT code of the condition (`code.coding[0].code`).
    pub snomed_code: String,
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

/// Parses the evaluation TSV (`query<TAB>relevant<TAB>note`, a header line first,
/// relevant codes comma-separated). Errors name the offending line.
pub fn parse_eval_queries(tsv: &str) -> Result<Vec<EvalQuery>, SearchError> {
    let mut lines = tsv.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end().split('\t').next() == Some("query") => {}
        _ => {
            return Err(SearchError::EvalFormat {
                line: 1,
                reason: "expected the header 'query<TAB>relevant<TAB>note'".into(),
            });
        }
    }
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
        let query = fields[0].trim();
        if query.is_empty() {
            return Err(SearchError::EvalFormat {
                line: line_no,
                reason: "empty query".into(),
            });
        }
        let mut relevant = Vec::new();
        for code in fields[1]
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            if !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SearchError::EvalFormat {
                    line: line_no,
                    reason: format!("'{code}' is not a SNOMED CT code (digits only)"),
                });
            }
            relevant.push(code.to_string());
        }
        out.push(EvalQuery {
            query: query.to_string(),
            relevant,
            note: fields
                .get(2)
                .map(|n| n.trim().to_string())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Runs every query through [`normalize`] + [`match_condition`] and through the
/// substring baseline over the patients; a patient is returned when any of its
/// conditions matches, and relevant when any condition has a listed code.
pub fn run_eval(queries: &[EvalQuery], patients: &[EvalPatient]) -> EvalReport {
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
            let relevant = p
                .conditions
                .iter()
                .any(|c| q.relevant.contains(&c.snomed_code));
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
