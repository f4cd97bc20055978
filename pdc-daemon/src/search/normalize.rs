//! Free text -> ranked ICD-10-CM concepts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::index::{Index, SYNONYM_WEIGHT, Source, index};
use super::text::{Qualifier, analyze, bounded_distance, letter_mask, max_typos};

/// Lowest score for a concept to be kept at all.
const MIN_CONCEPT_SCORE: f32 = 0.4;
/// Concepts scoring below this share of the best one are dropped: they are what
/// the text is not about ("heat stroke" for "stroke").
const RELATIVE_CUTOFF: f32 = 0.8;
/// Enough room for a lay term naming every sprain category.
const MAX_CONCEPTS: usize = 24;
/// Factor for an entry whose numbers all differ from the query's.
const NUMBER_MISMATCH: f32 = 0.5;
/// Bound on entries scored per query word, so one very common word cannot make a
/// normalization slow.
const MAX_POSTINGS_PER_WORD: usize = 6_000;
/// Candidate corrections kept for one misspelled word.
const MAX_CORRECTIONS: usize = 4;

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

/// One query word with the vocabulary tokens it may stand for.
struct Term {
    alts: Vec<(u32, f32)>,
    idf: f32,
    /// The word as typed when it was read through a spelling correction.
    corrected: Option<String>,
}

/// Normalizes free text (a query, a condition typed by a patient, a SNOMED CT
/// display) to ranked ICD-10-CM concepts. Never fails: text naming nothing known
/// gives no concepts.
pub fn normalize(text: &str) -> Normalized {
    normalize_with(index(), text)
}

pub(crate) fn normalize_with(ix: &Index, text: &str) -> Normalized {
    let (qualifier, words) = analyze(text, false);
    let mut out = Normalized {
        text: text.to_string(),
        qualifier,
        ..Normalized::default()
    };
    let mut terms: Vec<Term> = Vec::with_capacity(words.len());
    for w in &words {
        let (term, forms) = read_word(ix, &w.surface, &w.stem);
        out.terms.push(forms);
        terms.push(term);
    }
    if qualifier == Qualifier::Negated || terms.is_empty() {
        return out;
    }
    out.concepts = concepts(ix, &terms);
    out
}

/// Looks a word up: known stem, lay synonym, or spelling correction.
fn read_word(ix: &Index, surface: &str, stem: &str) -> (Term, Vec<String>) {
    let mut forms = vec![stem.to_string()];
    let mut alts: Vec<(u32, f32)> = Vec::new();
    let known = ix
        .vocab
        .get(stem)
        .or_else(|| ix.surfaces.get(surface))
        .copied();
    if let Some(t) = known {
        alts.push((t, 1.0));
        let s = &ix.stems[t as usize];
        if s != stem {
            forms.push(s.clone());
        }
    }
    if let Some(syns) = ix.synonyms.get(stem) {
        for s in syns {
            if let Some(&t) = ix.vocab.get(s) {
                alts.push((t, SYNONYM_WEIGHT));
            }
            forms.push(s.clone());
        }
    }
    let mut corrected = None;
    if alts.is_empty() {
        let fixes = corrections(ix, surface);
        if !fixes.is_empty() {
            corrected = Some(surface.to_string());
        }
        for (t, w) in fixes {
            alts.push((t, w));
            forms.push(ix.stems[t as usize].clone());
        }
    }
    let idf = alts
        .iter()
        .map(|&(t, _)| ix.idf[t as usize])
        .reduce(f32::max)
        .unwrap_or(ix.unknown_idf);
    (
        Term {
            alts,
            idf,
            corrected,
        },
        forms,
    )
}

/// Vocabulary words within the tolerated edit distance of an unknown word, closest
/// (then most frequent) first, weighted down by distance.
fn corrections(ix: &Index, surface: &str) -> Vec<(u32, f32)> {
    let bytes = surface.as_bytes();
    let max = max_typos(bytes.len());
    if max == 0 || !bytes.iter().all(u8::is_ascii_lowercase) {
        return Vec::new();
    }
    let mask = letter_mask(bytes);
    let mut found: Vec<(usize, u32, u32)> = Vec::new();
    let lo = bytes.len().saturating_sub(max);
    let hi = (bytes.len() + max).min(ix.by_len.len().saturating_sub(1));
    for len in lo..=hi {
        for w in ix.by_len.get(len).map(Vec::as_slice).unwrap_or_default() {
            if (w.mask ^ mask).count_ones() as usize > 2 * max {
                continue;
            }
            if let Some(d) = bounded_distance(bytes, &w.surface, max) {
                found.push((d, u32::MAX - ix.df[w.token as usize], w.token));
            }
        }
    }
    found.sort_unstable();
    let Some(&(best, _, _)) = found.first() else {
        return Vec::new();
    };
    let mut out: Vec<(u32, f32)> = Vec::new();
    for (d, _, t) in found {
        // Only the closest readings, since one edit further is usually another word
        // ("depresion" is one edit from "depression", two from "depletion"); long
        // words keep one more ("artheritis": arteritis 1, arthritis 2).
        let slack = usize::from(bytes.len() >= 10);
        if d > best + slack || out.len() >= MAX_CORRECTIONS {
            break;
        }
        if !out.iter().any(|&(o, _)| o == t) {
            out.push((t, 1.0 - 0.1 * d as f32));
        }
    }
    out
}

/// Scores the index entries sharing words with the query and keeps the concepts
/// they name, best first.
fn concepts(ix: &Index, terms: &[Term]) -> Vec<Concept> {
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

    // node -> (score, entry)
    let mut best: HashMap<u32, (f32, u32)> = HashMap::new();
    for &eid in &candidates {
        let e = &ix.entries[eid as usize];
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
            continue;
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
            continue;
        }
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
    let top = best.values().map(|v| v.0).fold(0.0, f32::max);
    let floor = MIN_CONCEPT_SCORE.max(top * RELATIVE_CUTOFF);
    let mut kept: Vec<(u32, f32, u32)> = best
        .into_iter()
        .filter(|(_, (s, _))| *s >= floor)
        .map(|(n, (s, e))| (n, s, e))
        .collect();
    kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    kept.truncate(MAX_CONCEPTS);
    kept.into_iter()
        .map(|(n, score, eid)| {
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
        })
        .collect()
}
