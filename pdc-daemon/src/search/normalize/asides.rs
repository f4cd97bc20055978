//! The asides of a typed text (parentheses, clauses after a comma, "with" or
//! "on") refine the concepts its head phrase names and never add others.

use crate::search::index::Index;
use crate::search::text::Word;

use super::concept::{Concept, MAX_CONCEPTS};
use super::lookup::Term;
use super::relation::{Relation, relation};
use super::score::concepts;

/// Concepts of a typed text with parentheses: the phrase outside them decides which
/// conditions it names; the parentheses may only refine those ("kidney disease
/// (stage 3)" -> N18.30), never add another ("... (they check my blood pressure)"
/// must not read as hypertensive kidney disease). ICD-10-CM titles are not read
/// here: their parentheses are nonessential modifiers (see `text::Word`).
pub(super) fn clarified_concepts(ix: &Index, words: &[Word], terms: &[Term]) -> Vec<Concept> {
    let of_asides = |keep: &dyn Fn(u16) -> bool| -> Vec<Term> {
        words
            .iter()
            .zip(terms)
            .filter(|(w, _)| keep(w.aside))
            .map(|(_, t)| t.clone())
            .collect()
    };
    let head_terms = of_asides(&|a| a == 0);
    if head_terms.is_empty() || head_terms.len() == terms.len() {
        return concepts(ix, terms);
    }
    let head = concepts(ix, &head_terms);
    if head.is_empty() {
        return concepts(ix, terms);
    }
    // Each aside is read with the head ("kidney disease" + "stage 3"), so one
    // aside's noise does not dilute another's refinement.
    let mut asides: Vec<u16> = words.iter().map(|w| w.aside).filter(|&a| a > 0).collect();
    asides.dedup();
    let mut refined: Vec<Concept> = Vec::new();
    for aside in asides {
        for mut f in concepts(ix, &of_asides(&|a| a == 0 || a == aside)) {
            let mut refines = false;
            for h in &head {
                match relation(h, &f) {
                    // The aside's words dilute the head's own concepts: they keep
                    // the head's score.
                    Some(Relation::SameCode) => {
                        refines = true;
                        f.score = f.score.max(h.score);
                    }
                    Some(Relation::Within | Relation::SameCategory) => refines = true,
                    _ => {}
                }
            }
            if !refines {
                continue;
            }
            match refined.iter_mut().find(|r| r.code == f.code) {
                Some(r) if f.score > r.score => *r = f,
                Some(_) => {}
                None => refined.push(f),
            }
        }
    }
    if refined.is_empty() {
        return head;
    }
    refined.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.code.cmp(&b.code)));
    refined.truncate(MAX_CONCEPTS);
    refined
}
