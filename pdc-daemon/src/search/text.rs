//! Text cleaning shared by the index (ICD-10-CM titles, lay terms) and by queries,
//! so both sides reduce words to the same forms.

use serde::{Deserialize, Serialize};

/// What a leading phrase says about the condition named in the rest of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qualifier {
    /// The text names a condition the person has (or had: "history of" is kept as
    /// having had it, because a search for "cardiac arrest" wants those patients).
    #[default]
    Plain,
    /// "Family history of ...": a relative had it, the person did not.
    Family,
    /// "No ...", "ruled out ...": the person does not have it.
    Negated,
}

/// One word of a text: the folded surface form and the reduced (stemmed) form used
/// for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub(crate) surface: String,
    pub(crate) stem: String,
    /// Inside parentheses or brackets: in ICD-10-CM these are nonessential
    /// modifiers, which may match but are not required.
    pub(crate) optional: bool,
}

/// SNOMED CT semantic tags that Synthea leaves in display texts; they say what kind
/// of concept it is, not which one, so they must not take part in matching.
const SEMANTIC_TAGS: &[&str] = &[
    "(disorder)",
    "(finding)",
    "(situation)",
    "(morphologic abnormality)",
    "(procedure)",
    "(observable entity)",
    "(event)",
    "(person)",
    "(body structure)",
    "(qualifier value)",
    "(regime/therapy)",
    "(clinical finding)",
    "(disease)",
];

/// Leading phrases meaning "has had": stripped, the rest is the condition.
const HISTORY_PREFIXES: &[&str] = &[
    "personal history of ",
    "past medical history of ",
    "past history of ",
    "medical history of ",
    "history of ",
    "hx of ",
    "h/o ",
    "h o ",
    "hx ",
    "status post ",
    "recovered from ",
];

const FAMILY_PREFIXES: &[&str] = &[
    "family history of ",
    "family hx of ",
    "fhx of ",
    "fhx ",
    "fh of ",
    "family history ",
];

const NEGATION_PREFIXES: &[&str] = &[
    "no evidence of ",
    "negative for ",
    "ruled out ",
    "rule out ",
    "r/o ",
    "denies ",
    "absence of ",
    "no ",
    "not ",
];

/// Words that carry no meaning for matching, in ICD titles ("other", "unspecified",
/// "NOS") or in typed text ("my", "have").
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "and",
    "or",
    "with",
    "without",
    "in",
    "on",
    "at",
    "to",
    "due",
    "by",
    "for",
    "from",
    "as",
    "is",
    "are",
    "be",
    "been",
    "was",
    "were",
    "than",
    "that",
    "which",
    "who",
    "this",
    "these",
    "nos",
    "unspecified",
    "other",
    "specified",
    "not",
    "elsewhere",
    "classified",
    "i",
    "my",
    "me",
    "have",
    "ha",
    "had",
    "having",
    "patient",
    "pt",
    "person",
    "people",
    "diagnosed",
    "diagnosis",
    "dx",
    "known",
    "any",
    "kind",
    "some",
    "like",
    "also",
    "etc",
    "its",
    "it",
    "into",
    "under",
    "over",
    "but",
    "after",
    "s",
    "no",
    "all",
    "each",
    "both",
    "specify",
    "we",
    "you",
    "he",
    "she",
    "his",
    "her",
];

/// Cleans `text` and splits it into words, returning also the qualifier found at
/// its start. `icd_style` marks parenthesised words as optional (ICD-10-CM
/// nonessential modifiers); for typed text parentheses are just punctuation.
pub(crate) fn analyze(text: &str, icd_style: bool) -> (Qualifier, Vec<Word>) {
    let mut folded = fold(text);
    for tag in SEMANTIC_TAGS {
        while let Some(at) = folded.find(tag) {
            folded.replace_range(at..at + tag.len(), " ");
        }
    }
    let mut lead = folded
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let mut qualifier = Qualifier::Plain;
    if icd_style {
        // Titles such as "Personal history of sudden cardiac arrest" (Z86.74) must
        // keep every word: they are the concept, not a phrasing of another one.
    } else if let Some(rest) = strip_any(&lead, FAMILY_PREFIXES) {
        qualifier = Qualifier::Family;
        // Keep the words: "family history of diabetes" is itself an ICD-10-CM
        // concept (Z83.3), which is what the text should normalize to.
        let _ = rest;
    } else if let Some(rest) = strip_any(&lead, NEGATION_PREFIXES) {
        qualifier = Qualifier::Negated;
        lead = rest.to_string();
    } else {
        // "History of history of" does not occur, but a history prefix may follow
        // "personal": loop until no prefix is left.
        while let Some(rest) = strip_any(&lead, HISTORY_PREFIXES) {
            lead = rest.to_string();
        }
    }
    (qualifier, split_words(&lead, icd_style))
}

fn strip_any<'a>(text: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| text.strip_prefix(p))
}

/// Lowercases and removes diacritics so "Ménière" and "meniere" are one word;
/// "'s" is dropped so "Alzheimer's" and "Alzheimers" meet after stemming.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' || c == '’' || c == '`' {
            // Possessive: drop "'s" when it ends the word.
            let mut look = chars.clone();
            if matches!(look.next(), Some('s') | Some('S'))
                && look.next().is_none_or(|n| !n.is_alphanumeric())
            {
                chars.next();
            }
            continue;
        }
        for l in c.to_lowercase() {
            match fold_char(l) {
                Some(s) => out.push_str(s),
                None => out.push(l),
            }
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ś' | 'š' | 'ş' => "s",
        'ź' | 'ż' | 'ž' => "z",
        'ł' => "l",
        'ř' => "r",
        'ť' => "t",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'α' => "alpha",
        'β' => "beta",
        _ => return None,
    })
}

fn split_words(folded: &str, icd_style: bool) -> Vec<Word> {
    let mut words = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let flush = |current: &mut String, depth: i32, words: &mut Vec<Word>| {
        if !current.is_empty() {
            let surface = std::mem::take(current);
            words.push(Word {
                stem: stem(&surface),
                surface,
                optional: icd_style && depth > 0,
            });
        }
    };
    for c in folded.chars() {
        if c.is_alphanumeric() {
            current.push(c);
            continue;
        }
        flush(&mut current, depth, &mut words);
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            _ => {}
        }
    }
    flush(&mut current, depth, &mut words);
    rewrite_numbers(&mut words);
    words.retain(|w| !is_stopword(&w.stem));
    words
}

/// "Type II", "type two" and "stage iii" mean the same as the arabic numeral the
/// ICD-10-CM titles use; only after such a word, since "i" alone is a pronoun.
fn rewrite_numbers(words: &mut [Word]) {
    for i in 1..words.len() {
        let after_ordinal_word = matches!(
            words[i - 1].stem.as_str(),
            "type" | "stage" | "grade" | "class" | "degree" | "phase" | "level"
        );
        if !after_ordinal_word {
            continue;
        }
        let arabic = match words[i].surface.as_str() {
            "i" | "one" => "1",
            "ii" | "two" => "2",
            "iii" | "three" => "3",
            "iv" | "four" => "4",
            "v" | "five" => "5",
            _ => continue,
        };
        words[i].surface = arabic.to_string();
        words[i].stem = arabic.to_string();
    }
}

pub(crate) fn is_stopword(stem: &str) -> bool {
    STOPWORDS.contains(&stem)
}

/// A light plural stripper: enough for "seizures", "stones", "allergies" without
/// the surprises of a full stemmer on Latin and Greek medical words ("arthritis",
/// "mellitus", "abscess" are left alone).
pub(crate) fn stem(word: &str) -> String {
    let n = word.len();
    if n > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..n - 3]);
    }
    if n > 4 && word.ends_with("sses") {
        return word[..n - 2].to_string();
    }
    if n > 3
        && word.ends_with('s')
        && !["ss", "us", "is", "ys", "as", "os"]
            .iter()
            .any(|s| word.ends_with(s))
        && word.is_ascii()
    {
        return word[..n - 1].to_string();
    }
    word.to_string()
}

/// Optimal string alignment distance (Levenshtein plus adjacent transposition), or
/// `None` as soon as it must exceed `max`. Works on bytes: words are folded first.
pub(crate) fn bounded_distance(a: &[u8], b: &[u8], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    // Three rolling rows: the transposition needs the row before the previous one.
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// Bit set of the letters in a word: two words within edit distance `d` differ in at
/// most `2d` letters of this set, a cheap filter before the real distance.
pub(crate) fn letter_mask(word: &[u8]) -> u64 {
    word.iter().fold(0u64, |m, &c| m | (1u64 << (c % 64)))
}

/// Largest edit distance tolerated for a word of `len` bytes: short words are
/// often abbreviations (HTN, COPD), where one letter changes the meaning.
pub(crate) fn max_typos(len: usize) -> usize {
    match len {
        0..=4 => 0,
        5 => 1,
        6..=12 => 2,
        _ => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(text: &str) -> Vec<String> {
        analyze(text, false).1.into_iter().map(|w| w.stem).collect()
    }

    #[test]
    fn strips_tags_history_and_plurals() {
        assert_eq!(
            stems("History of single seizure (situation)"),
            ["single", "seizure"]
        );
        assert_eq!(stems("Viral sinusitis (disorder)"), ["viral", "sinusitis"]);
        assert_eq!(stems("Kidney Stones"), ["kidney", "stone"]);
        assert_eq!(stems("Alzheimer's disease"), stems("alzheimers diseases"));
        assert_eq!(stems("Type II diabetes"), ["type", "2", "diabete"]);
        assert_eq!(stems("Maladie de Ménière"), ["maladie", "de", "meniere"]);
    }

    #[test]
    fn qualifiers() {
        assert_eq!(
            analyze("Family history of diabetes", false).0,
            Qualifier::Family
        );
        assert_eq!(analyze("no diabetes", false).0, Qualifier::Negated);
        assert_eq!(
            analyze("History of cardiac arrest", false).0,
            Qualifier::Plain
        );
    }

    #[test]
    fn distance() {
        assert_eq!(bounded_distance(b"pharingitis", b"pharyngitis", 2), Some(1));
        assert_eq!(
            bounded_distance(b"hypertenshun", b"hypertension", 3),
            Some(2)
        );
        assert_eq!(bounded_distance(b"astmha", b"asthma", 1), Some(1));
        assert_eq!(bounded_distance(b"zebra", b"fever", 1), None);
    }
}
