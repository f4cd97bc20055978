//! One text read as the statements it makes: a single statement (with its
//! qualifier, a borderline reading, a spaced dash joining two phrases), or, for
//! a text whose parts are joined by "and", "," or "with", each part that names a
//! condition, unless ICD-10-CM has one combination term for the whole phrase.

use crate::search::index::Index;
use crate::search::text::{Qualifier, WITHOUT, analyze, conjunct_parts, fold, not_yet};

use super::asides::clarified_concepts;
use super::borderline::borderline;
use super::concept::{Concept, MAX_CONCEPTS, Normalized};
use super::lookup::read_words;
use super::relation::relation;
use super::score::concepts;

/// A part of a text joined by "and", a comma or "with" adds its own concepts only
/// when it names them at least this well read alone (a treatment or a symptom
/// word names nothing that well).
const PART_MIN_SCORE: f32 = 0.6;
/// A reading of the whole text at least this good, through an ICD-10-CM term that
/// itself holds the joining word ("... with ...", "... and ..."), is a combination
/// term: the text is that one concept, not its parts.
const COMBINATION_SCORE: f32 = 0.9;

pub(super) fn normalize_with(ix: &Index, text: &str) -> Normalized {
    if let Some(rest) = not_yet(text) {
        // "Not diabetic yet" is the stage before ("borderline diabetic") where
        // ICD-10-CM has one; otherwise the text names nothing the person has.
        let mut n = normalize_single(ix, &format!("borderline {rest}"));
        n.text = text.to_string();
        if n.qualifier != Qualifier::Borderline {
            n.qualifier = Qualifier::Negated;
            n.concepts.clear();
        }
        return n;
    }
    let single = normalize_single(ix, text);
    if matches!(single.qualifier, Qualifier::Plain | Qualifier::Negated)
        && let Some(concepts) = conjoined(ix, text, &single)
    {
        return Normalized {
            qualifier: Qualifier::Plain,
            concepts,
            ..single
        };
    }
    single
}

/// "Depression and anxiety", "asthma, eczema", "diabetes with high blood
/// pressure", "no asthma but hay fever": a text whose parts each name a condition
/// names all of them. The text without its negated parts is read as before (the
/// clauses after a comma or "with" refining the head's concepts); a part naming
/// concepts well on its own adds those unrelated to that reading. `None` when the
/// text has one part, when ICD-10-CM has a combination term for the whole phrase
/// ("... with ..."), or when no part names anything.
fn conjoined(ix: &Index, text: &str, single: &Normalized) -> Option<Vec<Concept>> {
    let parts = conjunct_parts(text);
    if parts.len() < 2 {
        return None;
    }
    if single.qualifier == Qualifier::Plain
        && let Some(whole) = combination_term(ix, text)
    {
        return Some(whole);
    }
    let mut kept = String::new();
    let mut readings: Vec<(bool, Normalized)> = Vec::new();
    let mut pre: Vec<Concept> = Vec::new();
    let mut kept_all = true;
    for part in &parts {
        let n = normalize_with(ix, &part.text);
        if n.qualifier != Qualifier::Plain {
            kept_all = false;
        }
        match n.qualifier {
            Qualifier::Negated => continue,
            // A relative's condition or the stage before is its own reading, not
            // to be mixed into the person's head phrase.
            Qualifier::Family | Qualifier::Borderline => {
                pre.extend(n.concepts);
                continue;
            }
            Qualifier::Plain => {}
        }
        if !kept.is_empty() {
            // "And" parts are read as a comma clause: they may refine the head
            // but are not one phrase with it ("depression and anxiety" is not the
            // mixed disorder).
            kept.push_str(", ");
        }
        kept.push_str(&part.text);
        readings.push((part.after_since, n));
    }
    // What a condition began with adds conditions, not circumstances (chapter
    // Z00-Z99: "since my divorce", "since my 2nd child").
    let adds = |after_since: bool, c: &Concept| {
        c.score >= PART_MIN_SCORE && !(after_since && c.code.starts_with('Z'))
    };
    let naming = readings
        .iter()
        .filter(|(since, n)| n.concepts.iter().any(|c| adds(*since, c)))
        .count();
    if naming < 2 && kept_all {
        // One condition and clauses about it ("diagnosed with gout", "asthma, on
        // an inhaler"): the single reading already is the text's.
        return None;
    }
    let mut out: Vec<Concept> = if kept.is_empty() {
        Vec::new()
    } else {
        normalize_single(ix, &kept).concepts
    };
    for c in pre {
        add_concept(&mut out, c);
    }
    for (since, n) in readings {
        let strong = n.concepts.iter().filter(|c| adds(since, c));
        let fresh: Vec<Concept> = strong
            .filter(|c| {
                out.iter()
                    .all(|o| relation(o, c).is_none() && relation(c, o).is_none())
            })
            .cloned()
            .collect();
        for c in fresh {
            add_concept(&mut out, c);
        }
    }
    if out.is_empty() {
        return None;
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.code.cmp(&b.code)));
    out.truncate(MAX_CONCEPTS);
    Some(out)
}

/// Adds a concept, keeping the better score of a code already there.
fn add_concept(out: &mut Vec<Concept>, c: Concept) {
    match out.iter_mut().find(|o| o.code == c.code) {
        Some(o) if c.score > o.score => *o = c,
        Some(_) => {}
        None => out.push(c),
    }
}

/// The concepts of an ICD-10-CM (or lay) term for the whole phrase, joining word
/// included: the text read as one phrase scores at least [`COMBINATION_SCORE`]
/// through entries whose own text holds the "and" or "with" the text joins its
/// parts with. Entries saying "without" what the text names are not that term
/// (stop words make "X without Y" read like "X with Y"). `None` when there is none.
fn combination_term(ix: &Index, text: &str) -> Option<Vec<Concept>> {
    let lower = fold(text);
    let words_of = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .map(str::to_string)
            .collect()
    };
    let typed = words_of(&lower);
    let joins: Vec<&str> = ["and", "with"]
        .into_iter()
        .filter(|w| typed.iter().any(|t| t == w))
        .collect();
    if joins.is_empty() {
        return None;
    }
    let (_, mut words) = analyze(text, false);
    words.retain(|w| w.aside != WITHOUT);
    for w in &mut words {
        w.aside = 0;
    }
    let (terms, _) = read_words(ix, &words);
    let says_without = typed.iter().any(|t| t == "without");
    let whole: Vec<Concept> = concepts(ix, &terms)
        .into_iter()
        .filter(|c| c.score >= COMBINATION_SCORE)
        .filter(|c| {
            let entry = words_of(&fold(entry_text(&c.via)));
            entry.iter().any(|t| joins.contains(&t.as_str()))
                && (says_without || !entry.iter().any(|t| t == "without"))
        })
        .collect();
    (!whole.is_empty()).then_some(whole)
}

/// The entry text inside a concept's `via` ("title 'X'", "lay term 'X' (read
/// 'a' as 'b')").
fn entry_text(via: &str) -> &str {
    let Some((_, rest)) = via.split_once('\'') else {
        return "";
    };
    match rest.find("' (read") {
        Some(end) => &rest[..end],
        None => rest.strip_suffix('\'').unwrap_or(rest),
    }
}

/// One text read as a single statement: qualifier, borderline, asides.
fn normalize_single(ix: &Index, text: &str) -> Normalized {
    let (qualifier, mut words) = analyze(text, false);
    // What the text says is absent is neither a concept nor word evidence.
    words.retain(|w| w.aside != WITHOUT);
    let mut out = Normalized {
        text: text.to_string(),
        qualifier,
        ..Normalized::default()
    };
    let (terms, forms) = read_words(ix, &words);
    out.terms = forms;
    if qualifier == Qualifier::Negated || terms.is_empty() {
        return out;
    }
    if qualifier == Qualifier::Plain
        && let Some(both) = both_phrases(ix, text)
    {
        out.concepts = both;
        return out;
    }
    if qualifier == Qualifier::Plain
        && let Some(pre) = borderline(ix, &words, &terms)
    {
        out.qualifier = Qualifier::Borderline;
        out.concepts = pre;
        return out;
    }
    out.concepts = clarified_concepts(ix, &words, &terms);
    out
}

/// "Body mass index 30+ - obesity": a spaced dash joins two phrases that both hold,
/// so the text names the concepts of each (read alone, neither dilutes the other).
/// `None` when there is no such dash or a part is not a plain statement.
fn both_phrases(ix: &Index, text: &str) -> Option<Vec<Concept>> {
    let parts: Vec<&str> = text
        .split(" - ")
        .filter(|p| p.chars().any(char::is_alphanumeric))
        .collect();
    if parts.len() < 2 {
        return None;
    }
    let mut out: Vec<Concept> = Vec::new();
    for part in parts {
        let n = normalize_with(ix, part);
        if n.qualifier != Qualifier::Plain {
            return None;
        }
        for c in n.concepts {
            match out.iter_mut().find(|o| o.code == c.code) {
                Some(o) if c.score > o.score => *o = c,
                Some(_) => {}
                None => out.push(c),
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.code.cmp(&b.code)));
    out.truncate(MAX_CONCEPTS);
    Some(out)
}
