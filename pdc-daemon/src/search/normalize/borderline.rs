//! "Borderline X" and "pre-X": the text names the stage before X, which
//! ICD-10-CM has as a concept of its own for a few conditions, and not X.

use crate::search::index::Index;
use crate::search::text::{Word, stem};

use super::asides::clarified_concepts;
use super::concept::Concept;
use super::lookup::{Term, read_words};

/// "Borderline X" / "pre-X": the ICD-10-CM concept for the stage before X, keyed by
/// X's code prefix or block. X without an entry has no such concept: "borderline
/// X" then names no concept at all, since it is not X either.
const PRE_CONCEPTS: &[(&str, &str)] = &[
    // Diabetes mellitus -> prediabetes.
    ("E08-E13", "R73.03"),
    // Hypertensive diseases -> elevated blood pressure without hypertension
    // (the code for prehypertension).
    ("I10-I1A", "R03.0"),
    // Glaucoma -> glaucoma suspect (its inclusion terms say "borderline").
    ("H40", "H40.0"),
];

/// "Borderline X" and "pre-X" ("prehypertension", "pre-diabetic"): the concepts for
/// the stage before X (see [`PRE_CONCEPTS`]), or `None` when the text is not of that
/// form. "Borderline personality disorder" is a concept of its own and stays so.
pub(super) fn borderline(ix: &Index, words: &[Word], terms: &[Term]) -> Option<Vec<Concept>> {
    let first = words.first()?;
    let (rest, from_word) = if first.stem == "borderline" && words.len() > 1 {
        let whole = clarified_concepts(ix, words, terms);
        if let Some(c) = whole.first()
            && c.via.to_lowercase().contains("borderline")
        {
            // A lay term already names the stage before ("borderline diabetes"):
            // that is the reading, still not X. Otherwise "borderline" is part of
            // a concept's own name.
            let is_pre = PRE_CONCEPTS.iter().any(|(_, pre)| c.code == *pre);
            return is_pre.then_some(whole);
        }
        (words[1..].to_vec(), false)
    } else if let Some(x) = first.surface.strip_prefix("pre")
        && x.len() >= 4
        && !ix.vocab.contains_key(&first.stem)
        && !ix.surfaces.contains_key(&first.surface)
    {
        let mut rest = words.to_vec();
        rest[0] = Word {
            surface: x.to_string(),
            stem: stem(x),
            optional: false,
            aside: first.aside,
        };
        (rest, true)
    } else {
        return None;
    };
    let (rest_terms, _) = read_words(ix, &rest);
    let named = clarified_concepts(ix, &rest, &rest_terms);
    if named.is_empty() && from_word {
        // "pre" + a word naming nothing ("prescribed") is an ordinary word.
        return None;
    }
    let mut out: Vec<Concept> = Vec::new();
    for x in &named {
        let Some(&(_, pre)) = PRE_CONCEPTS.iter().find(|(of, _)| {
            x.code == *of || x.block == *of || (!of.contains('-') && x.code.starts_with(of))
        }) else {
            continue;
        };
        if out.iter().any(|c| c.code == pre) {
            continue;
        }
        let Some(&id) = ix.by_code.get(pre) else {
            continue;
        };
        let node = ix.node(id);
        out.push(Concept {
            code: node.code.clone(),
            title: node.title.clone(),
            score: x.score,
            block: node.block.clone(),
            via: format!("borderline reading of {} via {}", x.code, x.via),
        });
    }
    Some(out)
}
