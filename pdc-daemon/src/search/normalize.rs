//! Free text -> ranked ICD-10-CM concepts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::index::{Index, SYNONYM_WEIGHT, Source, index};
use super::text::{
    Qualifier, WITHOUT, Word, analyze, bounded_distance, conjunct_parts, fold, letter_mask,
    max_typos, not_yet, stem,
};

/// Lowest score for a concept to be kept at all.
const MIN_CONCEPT_SCORE: f32 = 0.4;
/// Concepts scoring below this share of the best one are dropped: they are what
/// the text is not about ("heat stroke" for "stroke").
const RELATIVE_CUTOFF: f32 = 0.8;
/// A part of a text joined by "and", a comma or "with" adds its own concepts only
/// when it names them at least this well read alone (a treatment or a symptom
/// word names nothing that well).
const PART_MIN_SCORE: f32 = 0.6;
/// A reading of the whole text at least this good, through an ICD-10-CM term that
/// itself holds the joining word ("... with ...", "... and ..."), is a combination
/// term: the text is that one concept, not its parts.
const COMBINATION_SCORE: f32 = 0.9;
/// Enough room for a lay term naming every sprain category.
const MAX_CONCEPTS: usize = 24;
/// Factor for an entry whose numbers all differ from the query's.
const NUMBER_MISMATCH: f32 = 0.5;
/// Bound on entries scored per query word, so one very common word cannot make a
/// normalization slow.
const MAX_POSTINGS_PER_WORD: usize = 6_000;
/// Candidate corrections kept for one misspelled word.
const MAX_CORRECTIONS: usize = 4;

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
#[derive(Clone)]
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

/// Reads every word; a word the vocabulary has never seen (a drug name, a place)
/// weighs no more than the most telling known word of the text, so that one such
/// word cannot hide a condition the rest of the text names. A text of unknown words
/// only keeps its full weight and names nothing.
fn read_words(ix: &Index, words: &[Word]) -> (Vec<Term>, Vec<Vec<String>>) {
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

/// Concepts of a typed text with parentheses: the phrase outside them decides which
/// conditions it names; the parentheses may only refine those ("kidney disease
/// (stage 3)" -> N18.30), never add another ("... (they check my blood pressure)"
/// must not read as hypertensive kidney disease). ICD-10-CM titles are not read
/// here: their parentheses are nonessential modifiers (see `text::Word`).
fn clarified_concepts(ix: &Index, words: &[Word], terms: &[Term]) -> Vec<Concept> {
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

/// "Borderline X" and "pre-X" ("prehypertension", "pre-diabetic"): the concepts for
/// the stage before X (see [`PRE_CONCEPTS`]), or `None` when the text is not of that
/// form. "Borderline personality disorder" is a concept of its own and stays so.
fn borderline(ix: &Index, words: &[Word], terms: &[Term]) -> Option<Vec<Concept>> {
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
