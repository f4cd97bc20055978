//! Scoring: the index entries that share words with a text, how much of the
//! text and of each entry the shared words cover, and the concepts the best
//! entries name, with the entry (and any spelling correction) as evidence.

use std::collections::HashMap;

use crate::search::index::{Entry, Index, Source};

use super::concept::{Concept, MAX_CONCEPTS};
use super::lookup::Term;

/// Lowest score for a concept to be kept at all.
const MIN_CONCEPT_SCORE: f32 = 0.4;
/// Concepts scoring below this share of the best one are dropped: they are what
/// the text is not about ("heat stroke" for "stroke").
const RELATIVE_CUTOFF: f32 = 0.8;
/// Factor for an entry whose numbers all differ from the query's.
const NUMBER_MISMATCH: f32 = 0.5;
/// Bound on entries scored per query word, so one very common word cannot make a
/// normalization slow.
const MAX_POSTINGS_PER_WORD: usize = 6_000;

/// Scores the index entries sharing words with the query and keeps the concepts
/// they name, best first.
pub(super) fn concepts(ix: &Index, terms: &[Term]) -> Vec<Concept> {
    let total: f32 = terms.iter().map(|t| t.idf).sum();
    // The most entry weight the query's words can cover: bounds the entries worth
    // scoring (longer ones cannot reach MIN_CONCEPT_SCORE).
    let reachable: f32 = terms
        .iter()
        .map(|t| {
            t.alts
                .iter()
                .map(|&(a, _)| ix.idf[a as usize])
                .fold(0.0, f32::max)
        })
        .sum();
    if total <= 0.0 || reachable <= 0.0 {
        return Vec::new();
    }
    let max_weight = reachable / MIN_CONCEPT_SCORE;
    let query_numbers: Vec<u32> = terms
        .iter()
        .flat_map(|t| t.alts.iter().map(|&(a, _)| a))
        .filter(|&a| ix.numeric[a as usize])
        .collect();
    let candidates = candidates(ix, terms, max_weight);
    let best = best_entries(ix, terms, &candidates, total, &query_numbers);
    kept(best)
        .into_iter()
        .map(|(n, score, eid)| concept_of(ix, terms, n, score, eid))
        .collect()
}

/// The entries that hold one of the query's readings and are short enough
/// (`max_weight`) to reach [`MIN_CONCEPT_SCORE`], sorted and without repeats.
fn candidates(ix: &Index, terms: &[Term], max_weight: f32) -> Vec<u32> {
    let mut candidates: Vec<u32> = Vec::new();
    for term in terms {
        for &(tok, _) in &term.alts {
            let posting = &ix.postings[tok as usize];
            let stop = posting
                .partition_point(|&e| ix.entries[e as usize].weight <= max_weight)
                .min(MAX_POSTINGS_PER_WORD);
            candidates.extend_from_slice(&posting[..stop]);
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

/// The best-scoring entry for each concept node the candidates name:
/// node -> (score, entry).
fn best_entries(
    ix: &Index,
    terms: &[Term],
    candidates: &[u32],
    total: f32,
    query_numbers: &[u32],
) -> HashMap<u32, (f32, u32)> {
    let mut best: HashMap<u32, (f32, u32)> = HashMap::new();
    for &eid in candidates {
        let e = &ix.entries[eid as usize];
        let Some(score) = entry_score(ix, terms, e, total, query_numbers) else {
            continue;
        };
        for &node in &e.targets {
            let slot = best.entry(node).or_insert((0.0, eid));
            // Prefer the higher score; on a tie the lay term, which is the reading
            // a person meant, then the lower entry id for determinism.
            let better = score > slot.0
                || (score == slot.0
                    && e.source == Source::Lay
                    && ix.entries[slot.1 as usize].source != Source::Lay);
            if better {
                *slot = (score, eid);
            }
        }
    }
    best
}

/// How well the query names entry `e`: the share of the query's weight it
/// covers times the share of the entry's required weight the query covers;
/// `None` when no required word is matched or the score is below
/// [`MIN_CONCEPT_SCORE`].
fn entry_score(
    ix: &Index,
    terms: &[Term],
    e: &Entry,
    total: f32,
    query_numbers: &[u32],
) -> Option<f32> {
    let mut matched = 0.0f32;
    let mut matched_required = 0.0f32;
    for term in terms {
        // The query side counts the word at its own weight times how sure the
        // reading is; the entry side counts the entry's word it landed on.
        let mut best_w = 0.0f32;
        let mut req = 0.0f32;
        for &(tok, w) in &term.alts {
            if w <= best_w {
                continue;
            }
            if e.required.contains(&tok) {
                best_w = w;
                req = ix.idf[tok as usize];
            } else if e.optional.contains(&tok) {
                best_w = w;
                req = 0.0;
            }
        }
        matched += best_w * term.idf;
        matched_required += req;
    }
    if matched_required <= 0.0 {
        return None;
    }
    let query_coverage = (matched / total).min(1.0);
    let entry_coverage = (matched_required / e.weight).min(1.0);
    let mut score = query_coverage * entry_coverage;
    // "Type 1" is not "type 2", "stage 3" not "stage 4": numbers carry little
    // idf but a mismatch contradicts the text.
    if !query_numbers.is_empty()
        && e.required.iter().any(|t| ix.numeric[*t as usize])
        && !e.required.iter().any(|t| query_numbers.contains(t))
    {
        score *= NUMBER_MISMATCH;
    }
    if score < MIN_CONCEPT_SCORE {
        return None;
    }
    Some(score)
}

/// The nodes within [`RELATIVE_CUTOFF`] of the best one, best first, at most
/// [`MAX_CONCEPTS`]: (node, score, entry).
fn kept(best: HashMap<u32, (f32, u32)>) -> Vec<(u32, f32, u32)> {
    let top = best.values().map(|v| v.0).fold(0.0, f32::max);
    let floor = MIN_CONCEPT_SCORE.max(top * RELATIVE_CUTOFF);
    let mut kept: Vec<(u32, f32, u32)> = best
        .into_iter()
        .filter(|(_, (s, _))| *s >= floor)
        .map(|(n, (s, e))| (n, s, e))
        .collect();
    kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(MAX_CONCEPTS);
    kept
}

/// The concept of node `n` as read through entry `eid`, its `via` naming the
/// entry and the spelling corrections that entry used.
fn concept_of(ix: &Index, terms: &[Term], n: u32, score: f32, eid: u32) -> Concept {
    let node = ix.node(n);
    let e = &ix.entries[eid as usize];
    let mut via = format!("{} '{}'", e.source.label(), e.text);
    // Name the correction that this entry actually used.
    let notes: Vec<String> = terms
        .iter()
        .filter_map(|t| {
            let typed = t.corrected.as_deref()?;
            let &(tok, _) = t
                .alts
                .iter()
                .find(|(a, _)| e.required.contains(a) || e.optional.contains(a))?;
            Some(format!("read '{typed}' as '{}'", ix.stems[tok as usize]))
        })
        .collect();
    if !notes.is_empty() {
        via.push_str(&format!(" ({})", notes.join(", ")));
    }
    Concept {
        code: node.code.clone(),
        title: node.title.clone(),
        score: (score * 1000.0).round() / 1000.0,
        block: node.block.clone(),
        via,
    }
}
