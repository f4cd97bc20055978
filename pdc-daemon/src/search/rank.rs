//! Matching a normalized query against normalized record conditions.
//!
//! Works only on the stored [`Normalized`] values (codes, blocks, words), never on
//! the terminology, so ranking many records costs string comparisons only.

use serde::{Deserialize, Serialize};

use super::normalize::{Normalized, Relation, relation, span};
use super::text::Qualifier;

/// Score below which a condition does not match a query.
pub const MATCH_THRESHOLD: f32 = 0.5;

/// Score of a match on words alone: every query word appears in the condition
/// text. Just above the threshold, so any solid concept match ranks higher.
const TEXT_SCORE: f32 = 0.55;

/// Why and how well one condition matches a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionMatch {
    /// Match score in [MATCH_THRESHOLD, 1].
    pub score: f32,
    /// ICD-10-CM code of the condition that matched (empty for a words-only match
    /// on a condition with no concept).
    pub code: String,
    /// Title of that code.
    pub title: String,
    /// One line saying why, e.g. "matched E11.9 'Type 2 diabetes mellitus without
    /// complications' within E08-E13 'Diabetes mellitus' via lay term 'sugar diabetes'".
    pub explanation: String,
}

/// A record matching a query, from [`rank`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The record id given to [`rank`].
    pub id: String,
    /// The condition text that matched best.
    pub condition: String,
    /// Match score of that condition.
    pub score: f32,
    /// ICD-10-CM code of that condition.
    pub code: String,
    /// Title of that code.
    pub title: String,
    /// Why it matched.
    pub explanation: String,
}

/// The best way one condition matches, before any string is built.
#[derive(Debug, Clone, Copy)]
struct Best {
    score: f32,
    /// Indices into the query's and the condition's concepts, or `None` for a
    /// words-only match.
    pair: Option<(usize, usize, Relation)>,
}

/// Matches one normalized query against one normalized condition; `None` when the
/// score is below [`MATCH_THRESHOLD`].
pub fn match_condition(query: &Normalized, condition: &Normalized) -> Option<ConditionMatch> {
    let best = score(query, letters(query), condition)?;
    Some(describe(query, condition, best))
}

/// Ranks records against a query: items are `(record id, condition)`, one per
/// condition (an id may repeat; a record scores as its best condition). Returns
/// the records scoring at least [`MATCH_THRESHOLD`], best first.
pub fn rank<'a, I>(query: &Normalized, records: I) -> Vec<Hit>
where
    I: IntoIterator<Item = (&'a str, &'a Normalized)>,
{
    if query.concepts.is_empty() && query.terms.is_empty() {
        return Vec::new();
    }
    // Only matching conditions are kept, so the common case (most records do not
    // match) costs one scoring and no allocation. A record's conditions usually
    // come together: merge neighbours here, other repeats after sorting by id.
    let query_letters = letters(query);
    let mut found: Vec<(&'a str, Best, &'a Normalized)> = Vec::new();
    for (id, condition) in records {
        let Some(b) = score(query, query_letters, condition) else {
            continue;
        };
        match found.last_mut() {
            Some(last) if last.0 == id => {
                if b.score > last.1.score {
                    *last = (id, b, condition);
                }
            }
            _ => found.push((id, b, condition)),
        }
    }
    found.sort_by(|a, b| a.0.cmp(b.0).then(b.1.score.total_cmp(&a.1.score)));
    found.dedup_by(|later, earlier| later.0 == earlier.0);
    let mut hits: Vec<Hit> = found
        .into_iter()
        .map(|(id, b, condition)| {
            let m = describe(query, condition, b);
            Hit {
                id: id.to_string(),
                condition: condition.text.clone(),
                score: m.score,
                code: m.code,
                title: m.title,
                explanation: m.explanation,
            }
        })
        .collect();
    // Stable: equal scores stay in id order.
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits
}

/// Bit set of the code letters (ICD-10-CM chapters, roughly) a query's concepts
/// span: a condition concept outside it cannot be related, which rejects most
/// conditions without comparing codes.
fn letters(query: &Normalized) -> u32 {
    query.concepts.iter().fold(0u32, |mask, q| {
        let (lo, hi) = span(&q.code);
        let first = |s: &str| s.bytes().next().map_or(0, |b| b.wrapping_sub(b'A').min(25));
        (first(lo)..=first(hi)).fold(mask, |m, l| m | (1u32 << l))
    })
}

fn letter_bit(code: &str) -> u32 {
    code.bytes()
        .next()
        .map_or(0, |b| 1u32 << b.wrapping_sub(b'A').min(25))
}

fn score(query: &Normalized, query_letters: u32, condition: &Normalized) -> Option<Best> {
    if condition.qualifier == Qualifier::Negated || query.qualifier == Qualifier::Negated {
        return None;
    }
    let mut best = Best {
        score: 0.0,
        pair: None,
    };
    for (ci, c) in condition.concepts.iter().enumerate() {
        if query_letters & letter_bit(&c.code) == 0 {
            continue;
        }
        for (qi, q) in query.concepts.iter().enumerate() {
            // The product cannot beat the current best: skip the relation test.
            let ceiling = q.score * c.score;
            if ceiling <= best.score {
                continue;
            }
            if let Some(r) = relation(q, c) {
                let s = ceiling * r.factor();
                if s > best.score {
                    best = Best {
                        score: s,
                        pair: Some((qi, ci, r)),
                    };
                }
            }
        }
    }
    // Words are evidence only between texts of the same kind: "diabetes" must not
    // match "family history of diabetes" because the word is there. Nor do they
    // overrule concepts that are not related at all: "gestational diabetes" (O24.4)
    // shares a word with "diabetes" (E08-E13), not a condition.
    let concepts_undecided =
        query.concepts.is_empty() || condition.concepts.is_empty() || best.score > 0.0;
    if best.score < TEXT_SCORE
        && concepts_undecided
        && query.qualifier == condition.qualifier
        && contains_all_terms(condition, query)
    {
        best = Best {
            score: TEXT_SCORE,
            pair: None,
        };
    }
    (best.score >= MATCH_THRESHOLD).then_some(best)
}

/// True when every query word (in one of its readings) occurs in the condition.
fn contains_all_terms(condition: &Normalized, query: &Normalized) -> bool {
    !query.terms.is_empty()
        && query.terms.iter().all(|alts| {
            alts.iter().any(|a| {
                condition
                    .terms
                    .iter()
                    .any(|forms| forms.iter().any(|f| f == a))
            })
        })
}

fn describe(query: &Normalized, condition: &Normalized, best: Best) -> ConditionMatch {
    let score = (best.score * 1000.0).round() / 1000.0;
    match best.pair {
        Some((qi, ci, rel)) => {
            let q = &query.concepts[qi];
            let c = &condition.concepts[ci];
            // Built by appending: ranking may describe tens of thousands of hits.
            let mut e = String::with_capacity(
                64 + c.code.len()
                    + c.title.len()
                    + q.code.len()
                    + q.title.len()
                    + q.via.len()
                    + condition.text.len()
                    + c.via.len(),
            );
            for part in ["matched ", &c.code, " '", &c.title, "'"] {
                e.push_str(part);
            }
            let link = match rel {
                Relation::SameCode => None,
                Relation::Within => Some(" within "),
                Relation::Broader => Some(" (broader than) "),
                Relation::SameCategory => Some(" (same category as) "),
                Relation::SameBlock => Some(" (same block as) "),
            };
            if let Some(link) = link {
                for part in [link, &q.code, " '", &q.title, "'"] {
                    e.push_str(part);
                }
            }
            for part in [
                " via ",
                &q.via,
                "; condition '",
                &condition.text,
                "' read via ",
                &c.via,
            ] {
                e.push_str(part);
            }
            ConditionMatch {
                score,
                code: c.code.clone(),
                title: c.title.clone(),
                explanation: e,
            }
        }
        None => {
            let (code, title) = condition
                .concepts
                .first()
                .map(|c| (c.code.clone(), c.title.clone()))
                .unwrap_or_default();
            ConditionMatch {
                score,
                code,
                title,
                explanation: format!(
                    "matched the words of '{}' in condition '{}'",
                    query.text.trim(),
                    condition.text
                ),
            }
        }
    }
}

/// The baseline the evaluation compares against: case-insensitive substring match
/// of the query in the condition text.
pub fn baseline_match(query: &str, condition_text: &str) -> bool {
    let q = query.trim().to_lowercase();
    !q.is_empty() && condition_text.to_lowercase().contains(&q)
}
