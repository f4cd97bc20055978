//! One word read against the vocabulary: its known stem, lay synonyms, the
//! condition of an "-ism" adjective, a verb form's base, or else the closest
//! spelling corrections, each with how sure the reading is.

use crate::search::index::{Index, SYNONYM_WEIGHT};
use crate::search::text::{Word, bounded_distance, letter_mask, max_typos};

/// Candidate corrections kept for one misspelled word.
const MAX_CORRECTIONS: usize = 4;

/// One query word with the vocabulary tokens it may stand for.
#[derive(Clone)]
pub(super) struct Term {
    pub(super) alts: Vec<(u32, f32)>,
    pub(super) idf: f32,
    /// The word as typed when it was read through a spelling correction.
    pub(super) corrected: Option<String>,
}

/// Reads every word; a word the vocabulary has never seen (a drug name, a place)
/// weighs no more than the most telling known word of the text, so that one such
/// word cannot hide a condition the rest of the text names. A text of unknown words
/// only keeps its full weight and names nothing.
pub(super) fn read_words(ix: &Index, words: &[Word]) -> (Vec<Term>, Vec<Vec<String>>) {
    let mut terms: Vec<Term> = Vec::with_capacity(words.len());
    let mut forms: Vec<Vec<String>> = Vec::with_capacity(words.len());
    for w in words {
        let (term, f) = read_word(ix, &w.surface, &w.stem);
        forms.push(f);
        terms.push(term);
    }
    let known_max = terms
        .iter()
        .filter(|t| !t.alts.is_empty())
        .map(|t| t.idf)
        .reduce(f32::max);
    if let Some(cap) = known_max {
        for t in terms.iter_mut().filter(|t| t.alts.is_empty()) {
            t.idf = t.idf.min(cap);
        }
    }
    (terms, forms)
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
    // "Hypothyroid" -> "hypothyroidism": the adjective of an "-ism" condition, even
    // when the adjective occurs in a few titles of its own.
    if surface.len() >= 6 {
        let ism = format!("{surface}ism");
        if let Some(&t) = ix.vocab.get(&ism)
            && !alts.iter().any(|&(a, _)| a == t)
        {
            alts.push((t, SYNONYM_WEIGHT));
            forms.push(ism);
        }
    }
    if alts.is_empty() {
        // "thinning" -> "thin", "wheezing" -> "wheeze": a verb form read as its base.
        if let Some((base, t)) = base_forms(surface).into_iter().find_map(|b| {
            let t = ix.vocab.get(&b).or_else(|| ix.surfaces.get(&b)).copied()?;
            Some((b, t))
        }) {
            alts.push((t, SYNONYM_WEIGHT));
            forms.push(base);
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

/// Candidate base forms of an "-ing" or "-ed" word, most likely first.
fn base_forms(surface: &str) -> Vec<String> {
    let mut out = Vec::new();
    for suffix in ["ing", "ed"] {
        let Some(root) = surface.strip_suffix(suffix) else {
            continue;
        };
        if root.len() < 3 || !root.is_ascii() {
            continue;
        }
        let b = root.as_bytes();
        if b[b.len() - 1] == b[b.len() - 2] {
            out.push(root[..root.len() - 1].to_string());
        }
        out.push(root.to_string());
        out.push(format!("{root}e"));
    }
    out
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
