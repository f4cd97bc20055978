//! How a condition's concept relates to a query's concept in the ICD-10-CM
//! hierarchy (same code, within, broader, siblings), which ranking weighs.

use super::concept::Concept;

/// How a condition's concept relates to a query's concept in the ICD-10-CM
/// hierarchy, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Relation {
    SameCode,
    /// The condition's code lies under the query's code, block or chapter.
    Within,
    /// The condition is less specific than the query: the patient may or may not
    /// have what was asked for, so this alone stays below the threshold.
    Broader,
    SameCategory,
    SameBlock,
}

impl Relation {
    /// Factor applied to the product of the two concept scores. Sibling codes (same
    /// category or block) stay below the threshold on their own: "type 1 diabetes"
    /// is not "type 2 diabetes", asthma is not COPD, though both share a block.
    pub(crate) fn factor(self) -> f32 {
        match self {
            Relation::SameCode => 1.0,
            Relation::Within => 0.95,
            Relation::Broader => 0.45,
            Relation::SameCategory => 0.4,
            Relation::SameBlock => 0.3,
        }
    }
}

/// Splits a code or range into its first and last 3-character category.
pub(crate) fn span(code: &str) -> (&str, &str) {
    match code.split_once('-') {
        Some((lo, hi)) => (lo, hi),
        None => {
            let cat = code.get(..3).unwrap_or(code);
            (cat, cat)
        }
    }
}

pub(crate) fn relation(q: &Concept, c: &Concept) -> Option<Relation> {
    if q.code == c.code {
        return Some(Relation::SameCode);
    }
    let q_range = q.code.contains('-');
    let c_range = c.code.contains('-');
    let (ql, qh) = span(&q.code);
    let (cl, ch) = span(&c.code);
    let rel = if q_range || c_range {
        if q_range && ql <= cl && ch <= qh {
            Some(Relation::Within)
        } else if c_range && cl <= ql && qh <= ch {
            Some(Relation::Broader)
        } else {
            None
        }
    } else if c.code.starts_with(q.code.as_str()) {
        Some(Relation::Within)
    } else if q.code.starts_with(c.code.as_str()) {
        Some(Relation::Broader)
    } else if ql == cl {
        Some(Relation::SameCategory)
    } else {
        None
    };
    rel.or_else(|| (!q.block.is_empty() && q.block == c.block).then_some(Relation::SameBlock))
}
