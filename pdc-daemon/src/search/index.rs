//! The in-memory index over the embedded ICD-10-CM terminology and lay table, built
//! once per process on first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::generate::HEADER;
use super::text::{Word, analyze, letter_mask};

/// The generated terminology (see `generate.rs` for the format).
const TERMINOLOGY: &str = include_str!("icd10cm.tsv");
/// The project's lay vocabulary (format described at the top of the file).
const LAY_TERMS: &str = include_str!("lay_terms.tsv");

/// Weight of a word reached through a lay word synonym ("broken" -> "fracture"):
/// almost as good as the word itself.
pub(crate) const SYNONYM_WEIGHT: f32 = 0.95;

/// Where an index entry's text comes from; shown in explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Title,
    Inclusion,
    Lay,
}

impl Source {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Source::Title => "title",
            Source::Inclusion => "inclusion term",
            Source::Lay => "lay term",
        }
    }
}

/// A chapter, block or code of the terminology.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) code: String,
    pub(crate) title: String,
    /// The block the node lies in (itself for a block); empty for chapters.
    pub(crate) block: String,
}

/// A text naming one or more nodes: a title, an inclusion term or a lay term.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) targets: Vec<u32>,
    pub(crate) source: Source,
    pub(crate) text: String,
    /// Words the text needs to be fully matched.
    pub(crate) required: Vec<u32>,
    /// Nonessential modifiers: they may match a query word but need not.
    pub(crate) optional: Vec<u32>,
    /// Sum of the idf of the required words.
    pub(crate) weight: f32,
}

/// A vocabulary word for spelling correction, bucketed by length.
#[derive(Debug)]
pub(crate) struct FuzzyWord {
    pub(crate) surface: Box<[u8]>,
    pub(crate) mask: u64,
    pub(crate) token: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) nodes: Vec<Node>,
    pub(crate) by_code: HashMap<String, u32>,
    pub(crate) entries: Vec<Entry>,
    /// Stem -> token id.
    pub(crate) vocab: HashMap<String, u32>,
    pub(crate) stems: Vec<String>,
    /// Surface form -> token id, so an unstemmed vocabulary word is found too.
    pub(crate) surfaces: HashMap<String, u32>,
    pub(crate) idf: Vec<f32>,
    pub(crate) df: Vec<u32>,
    /// Token is a number ("2" of "type 2").
    pub(crate) numeric: Vec<bool>,
    /// Token id -> entries containing it, by ascending entry weight so a scan can
    /// stop where entries become too long to match.
    pub(crate) postings: Vec<Vec<u32>>,
    pub(crate) by_len: Vec<Vec<FuzzyWord>>,
    /// Lay word stem -> clinical word stems ("broken" -> "fracture").
    pub(crate) synonyms: HashMap<String, Vec<String>>,
    /// idf given to a word the index has never seen: the rarest possible.
    pub(crate) unknown_idf: f32,
    /// Lines of the embedded files that could not be used; a test asserts none.
    pub(crate) problems: Vec<String>,
}

static INDEX: OnceLock<Index> = OnceLock::new();

pub(crate) fn index() -> &'static Index {
    INDEX.get_or_init(|| build(TERMINOLOGY, LAY_TERMS))
}

/// Words of an entry before token ids are assigned.
struct RawEntry {
    targets: Vec<u32>,
    source: Source,
    text: String,
    words: Vec<Word>,
}

pub(crate) fn build(terminology: &str, lay: &str) -> Index {
    let mut ix = Index::default();
    let mut raw: Vec<RawEntry> = Vec::with_capacity(64_000);
    load_terminology(&mut ix, terminology, &mut raw);
    load_lay(&mut ix, lay, &mut raw);

    // Token ids and document frequencies.
    let mut entry_tokens: Vec<(Vec<u32>, Vec<u32>)> = Vec::with_capacity(raw.len());
    for e in &raw {
        let mut required: Vec<u32> = Vec::new();
        let mut optional: Vec<u32> = Vec::new();
        for w in &e.words {
            let id = ix.token_id(&w.stem);
            ix.surfaces.entry(w.surface.clone()).or_insert(id);
            let list = if w.optional {
                &mut optional
            } else {
                &mut required
            };
            if !list.contains(&id) {
                list.push(id);
            }
        }
        optional.retain(|t| !required.contains(t));
        for &t in required.iter().chain(&optional) {
            ix.df[t as usize] += 1;
        }
        entry_tokens.push((required, optional));
    }
    let n = raw.len().max(1) as f32;
    ix.idf = ix
        .df
        .iter()
        .map(|&df| (1.0 + n / df.max(1) as f32).ln())
        .collect();
    ix.unknown_idf = (1.0 + n).ln();

    for (e, (required, optional)) in raw.into_iter().zip(entry_tokens) {
        if required.is_empty() || e.targets.is_empty() {
            continue;
        }
        let weight = required.iter().map(|&t| ix.idf[t as usize]).sum();
        ix.entries.push(Entry {
            targets: e.targets,
            source: e.source,
            text: e.text,
            required,
            optional,
            weight,
        });
    }
    ix.postings = vec![Vec::new(); ix.stems.len()];
    let mut order: Vec<u32> = (0..ix.entries.len() as u32).collect();
    order.sort_by(|&a, &b| {
        ix.entries[a as usize]
            .weight
            .total_cmp(&ix.entries[b as usize].weight)
    });
    for id in order {
        let e = &ix.entries[id as usize];
        for &t in e.required.iter().chain(&e.optional) {
            ix.postings[t as usize].push(id);
        }
    }
    for (surface, &token) in &ix.surfaces {
        let bytes = surface.as_bytes();
        // Numbers and very short words are never corrected (see `max_typos`).
        if bytes.len() < 4 || !bytes.iter().all(u8::is_ascii_lowercase) {
            continue;
        }
        if ix.by_len.len() <= bytes.len() {
            ix.by_len.resize_with(bytes.len() + 1, Vec::new);
        }
        ix.by_len[bytes.len()].push(FuzzyWord {
            surface: bytes.into(),
            mask: letter_mask(bytes),
            token,
        });
    }
    // Deterministic order (HashMap iteration is not) so ties resolve the same way.
    for bucket in &mut ix.by_len {
        bucket.sort_by(|a, b| a.surface.cmp(&b.surface));
    }
    ix
}

impl Index {
    fn token_id(&mut self, stem: &str) -> u32 {
        if let Some(&id) = self.vocab.get(stem) {
            return id;
        }
        let id = self.stems.len() as u32;
        self.vocab.insert(stem.to_string(), id);
        self.stems.push(stem.to_string());
        self.df.push(0);
        self.numeric.push(stem.bytes().all(|b| b.is_ascii_digit()));
        id
    }

    pub(crate) fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }
}

fn load_terminology(ix: &mut Index, tsv: &str, raw: &mut Vec<RawEntry>) {
    let mut lines = tsv.lines().enumerate();
    if lines.next().map(|(_, l)| l) != Some(HEADER) {
        ix.problems
            .push("icd10cm.tsv: missing header; regenerate it with `pdc-daemon icd10-gen`".into());
        return;
    }
    let mut block = String::new();
    for (i, line) in lines {
        let mut fields = line.split('\t');
        let (Some(kind), Some(code), Some(title)) = (fields.next(), fields.next(), fields.next())
        else {
            ix.problems
                .push(format!("icd10cm.tsv line {}: fewer than 3 fields", i + 1));
            continue;
        };
        let terms = fields.next().unwrap_or_default();
        match kind {
            "C" => block.clear(),
            "B" => block = code.to_string(),
            _ => {}
        }
        let id = ix.nodes.len() as u32;
        ix.nodes.push(Node {
            code: code.to_string(),
            title: title.to_string(),
            block: block.clone(),
        });
        ix.by_code.entry(code.to_string()).or_insert(id);
        raw.push(RawEntry {
            targets: vec![id],
            source: Source::Title,
            text: title.to_string(),
            words: analyze(title, true).1,
        });
        for term in terms.split('|').filter(|t| !t.is_empty()) {
            raw.push(RawEntry {
                targets: vec![id],
                source: Source::Inclusion,
                text: term.to_string(),
                words: analyze(term, true).1,
            });
        }
    }
}

fn load_lay(ix: &mut Index, tsv: &str, raw: &mut Vec<RawEntry>) {
    for (i, line) in tsv.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(term), Some(targets)) = (fields.next(), fields.next()) else {
            ix.problems.push(format!(
                "lay_terms.tsv line {}: expected term<TAB>codes<TAB>note",
                i + 1
            ));
            continue;
        };
        let words = analyze(term, false).1;
        if words.is_empty() {
            ix.problems.push(format!(
                "lay_terms.tsv line {}: term '{term}' has no words",
                i + 1
            ));
            continue;
        }
        if let Some(clinical) = targets.strip_prefix('=') {
            let [word] = words.as_slice() else {
                ix.problems.push(format!(
                    "lay_terms.tsv line {}: a word synonym must be one word",
                    i + 1
                ));
                continue;
            };
            let to = ix.synonyms.entry(word.stem.clone()).or_default();
            for c in clinical.split(',') {
                to.extend(analyze(c, false).1.into_iter().map(|w| w.stem));
            }
            continue;
        }
        let mut ids = Vec::new();
        for code in targets.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            match ix.by_code.get(code) {
                Some(&id) => ids.push(id),
                None => ix.problems.push(format!(
                    "lay_terms.tsv line {}: '{code}' is not an ICD-10-CM code, block or chapter",
                    i + 1
                )),
            }
        }
        raw.push(RawEntry {
            targets: ids,
            source: Source::Lay,
            text: term.to_string(),
            words,
        });
    }
}
