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
    /// "No ...", "ruled out ...", "... ruled out", "suspected ...": the person does
    /// not have it, or is not known to.
    Negated,
    /// "Borderline X", "pre-X": the stage before X. The person does not have X; the
    /// text reads as the ICD-10-CM concept for that stage where there is one
    /// (prediabetes R73.03, elevated blood pressure R03.0).
    Borderline,
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
    /// 0 for the head phrase of a typed text; otherwise the number of the aside the
    /// word is in: a parenthesis, or a clause after a comma, a semicolon, "with" or
    /// "on" ("diabetic, type 2, on metformin"). An aside clarifies the head ("kidney disease (stage
    /// 3)"); the normalizer lets it refine the head's concepts but not add others.
    /// Words after "without" are in [`WITHOUT`]: what the text says is absent.
    /// ICD-10-CM titles are read with no asides (always 0 outside parentheses).
    pub(crate) aside: u16,
}

/// The aside of words after "without" in typed text ("fracture of vertebral column
/// without spinal cord injury"): they name what the person does not have, so they
/// take no part in the reading.
pub(crate) const WITHOUT: u16 = u16::MAX;

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

/// Relatives a patient names at the start of a phrase ("mom had breast cancer"):
/// with one of [`RELATIVE_VERBS`] after it, the text is a family history.
const RELATIVES: &[&str] = &[
    "mom",
    "mum",
    "mother",
    "dad",
    "father",
    "brother",
    "sister",
    "grandmother",
    "grandma",
    "grandfather",
    "grandpa",
    "aunt",
    "uncle",
    "parents",
    "parent",
    "sibling",
    "son",
    "daughter",
];

const RELATIVE_VERBS: &[&str] = &["had ", "has ", "have ", "died of ", "died from ", "with "];

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
    // Uncertain diagnoses are not coded as the condition (ICD-10-CM outpatient
    // guidelines): the person is not known to have it.
    "possible ",
    "possibly ",
    "suspected ",
    "suspect ",
    "probable ",
];

/// Trailing phrases that negate what comes before them ("asthma ruled out").
const NEGATION_SUFFIXES: &[&str] = &[" ruled out", " excluded"];

/// Words joining two statements in typed text: "and", "but", "with", "w/",
/// "since" (as words), and ",", ";", "&", "+". "Since" joins a condition and what
/// it began with, which may be one too ("heart failure since my heart attack").
const CONNECTOR_WORDS: &[&str] = &["and", "but", "with", "w/", "since"];

/// One part of a typed text between connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// The part, lowercased and trimmed.
    pub(crate) text: String,
    /// It follows "since": it says what the condition began with, which may be a
    /// condition but not a circumstance ("since my divorce").
    pub(crate) after_since: bool,
}

/// Splits typed text at its top-level connectors (outside parentheses, see
/// [`CONNECTOR_WORDS`]) into its parts. Text with no connector gives one part.
pub(crate) fn conjunct_parts(text: &str) -> Vec<Part> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let mut parts: Vec<Part> = Vec::new();
    let mut after_since = false;
    let mut current = String::new();
    let mut depth = 0i32;
    let mut i = 0;
    // A word connector needs a space (or the text's edge) on both sides.
    let word_at = |i: usize, w: &str| -> bool {
        let wc: Vec<char> = w.chars().collect();
        let end = i + wc.len();
        end <= chars.len()
            && chars[i..end] == wc[..]
            && (i == 0 || chars[i - 1] == ' ')
            && chars.get(end).is_none_or(|c| *c == ' ')
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            _ => {}
        }
        let connector = if depth > 0 {
            None
        } else if matches!(c, ',' | ';' | '&' | '+') {
            Some(",")
        } else {
            CONNECTOR_WORDS.iter().copied().find(|w| word_at(i, w))
        };
        match connector {
            Some(w) => {
                let part = std::mem::take(&mut current);
                if part.chars().any(char::is_alphanumeric) {
                    parts.push(Part {
                        text: part.trim().to_string(),
                        after_since,
                    });
                }
                after_since = w == "since";
                i += w.chars().count();
            }
            None => {
                current.push(c);
                i += 1;
            }
        }
    }
    if current.chars().any(char::is_alphanumeric) {
        parts.push(Part {
            text: current.trim().to_string(),
            after_since,
        });
    }
    parts
}

/// "Not diabetic yet", "no diabetes yet": the text says the condition is still to
/// come, which is the stage before it; returns the condition's words ("diabetic").
pub(crate) fn not_yet(text: &str) -> Option<String> {
    let folded = fold(text);
    let t = folded
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let rest = strip_any(&t, NEGATION_PREFIXES)?;
    let rest = rest.strip_suffix(" yet")?.trim();
    let rest = rest.strip_prefix("yet ").unwrap_or(rest);
    (!rest.is_empty()).then(|| rest.to_string())
}

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

/// Words of typed text that say when, how often or how it is treated, never which
/// condition: "had a heart attack in 2019", "asthma since I was a kid", "on a
/// statin". Compared after plural stripping; ICD-10-CM titles keep them.
const TYPED_FILLER: &[&str] = &[
    "since",
    "ago",
    "last",
    "year",
    "yr",
    "month",
    "week",
    "day",
    "winter",
    "summer",
    "autumn",
    "time",
    "lot",
    "about",
    "around",
    "approximately",
    "approx",
    "always",
    "often",
    "sometime",
    "twice",
    "once",
    "every",
    "told",
    "has",
    "said",
    "say",
    "doctor",
    "doc",
    "dr",
    "found",
    "got",
    "get",
    "getting",
    "take",
    "taking",
    "took",
    "use",
    "using",
    "used",
    "pill",
    "med",
    "medication",
    "tablet",
    "still",
    "now",
    "currently",
    "put",
    "seeing",
    "per",
    "mostly",
    "really",
    "very",
    "quite",
    "bit",
    "think",
    "maybe",
    "probably",
    "controlled",
    "ever",
    "kid",
    "teen",
    "bad",
    "childhood",
    "when",
    "am",
    "january",
    "jan",
    "february",
    "feb",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "aug",
    "september",
    "sept",
    "october",
    "oct",
    "november",
    "nov",
    "december",
    "dec",
];

/// Cleans `text` and splits it into words, returning also the qualifier found at
/// its start. `icd_style` marks parenthesised words as optional (ICD-10-CM
/// nonessential modifiers); for typed text parentheses are just punctuation.
pub(crate) fn analyze(text: &str, icd_style: bool) -> (Qualifier, Vec<Word>) {
    let singular;
    let text = if icd_style {
        text
    } else {
        singular = singular_abbreviations(text);
        &singular
    };
    let mut folded = fold(text);
    for tag in SEMANTIC_TAGS {
        while let Some(at) = folded.find(tag) {
            folded.replace_range(at..at + tag.len(), " ");
        }
    }
    // "?asthma", "asthma?": a question mark makes the diagnosis uncertain.
    let questioned = !icd_style && {
        let t = folded.trim();
        t.starts_with('?') || t.ends_with('?')
    };
    let mut lead = folded
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_string();
    let mut qualifier = Qualifier::Plain;
    if icd_style {
        // Titles such as "Personal history of sudden cardiac arrest" (Z86.74) must
        // keep every word: they are the concept, not a phrasing of another one.
    } else if let Some(rest) = relative_prefix(&lead) {
        // "Mom had breast cancer" says what "family history of breast cancer" says,
        // and ICD-10-CM has the concept for the latter (Z80.3).
        qualifier = Qualifier::Family;
        lead = format!("family history of {rest}");
    } else if let Some(rest) = strip_any(&lead, FAMILY_PREFIXES) {
        qualifier = Qualifier::Family;
        // Keep the words: "family history of diabetes" is itself an ICD-10-CM
        // concept (Z83.3), which is what the text should normalize to.
        let _ = rest;
    } else if questioned {
        qualifier = Qualifier::Negated;
    } else if let Some(rest) = strip_any(&lead, NEGATION_PREFIXES) {
        qualifier = Qualifier::Negated;
        lead = rest.to_string();
    } else if let Some(rest) = NEGATION_SUFFIXES.iter().find_map(|s| {
        lead.trim_end_matches(|c: char| !c.is_alphanumeric())
            .strip_suffix(s)
    }) {
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

/// "UTIs", "MIs", "TIAs": the plural of an abbreviation typed in capitals loses its
/// "s" (the stemmer leaves "-is" words alone for "arthritis", so it cannot).
fn singular_abbreviations(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i].is_ascii_uppercase() {
            i += 1;
        }
        let caps = i - start;
        out.extend(&chars[start..i]);
        let word_start = start == 0 || !chars[start - 1].is_alphanumeric();
        if caps >= 2
            && word_start
            && chars.get(i) == Some(&'s')
            && chars.get(i + 1).is_none_or(|c| !c.is_alphanumeric())
        {
            i += 1;
            continue;
        }
        if i == start {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The rest of a text that starts with a relative and a verb ("my mom had ...").
fn relative_prefix(text: &str) -> Option<&str> {
    let t = text.strip_prefix("my ").unwrap_or(text);
    let (who, rest) = t.split_once(' ')?;
    if !RELATIVES.contains(&who) {
        return None;
    }
    let rest = rest.strip_prefix("also ").unwrap_or(rest);
    RELATIVE_VERBS
        .iter()
        .find_map(|v| rest.strip_prefix(v))
        .filter(|r| !r.trim().is_empty())
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
    let cleaned;
    let folded = if icd_style {
        folded
    } else {
        cleaned = drop_dates(folded);
        &cleaned
    };
    let mut words = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    // Asides: `clauses` counts them, `base` is the aside of words outside
    // parentheses (0 until the first comma), `aside` the one being read.
    let (mut clauses, mut base, mut aside) = (0u16, 0u16, 0u16);
    let flush = |current: &mut String, depth: i32, aside: u16, words: &mut Vec<Word>| {
        if !current.is_empty() {
            let surface = std::mem::take(current);
            words.push(Word {
                stem: stem(&surface),
                surface,
                optional: icd_style && depth > 0,
                aside,
            });
        }
    };
    for c in folded.chars() {
        if c.is_alphanumeric() {
            current.push(c);
            continue;
        }
        let link = current.clone();
        flush(&mut current, depth, aside, &mut words);
        if depth == 0 && !icd_style {
            match link.as_str() {
                "without" => {
                    base = WITHOUT;
                    aside = WITHOUT;
                }
                // "Diabetes with nerve damage", "OSA on CPAP", "gout since my
                // operation": what follows describes the head (a manifestation, a
                // treatment, when it began) and may refine it, as a parenthesis may.
                "with" | "on" | "since" => {
                    clauses = clauses.saturating_add(1).min(WITHOUT - 1);
                    base = clauses;
                    aside = base;
                }
                _ => {}
            }
        }
        match c {
            '(' | '[' => {
                if depth == 0 && !icd_style {
                    clauses = clauses.saturating_add(1).min(WITHOUT - 1);
                    aside = clauses;
                }
                depth += 1;
            }
            ')' | ']' => {
                depth = (depth - 1).max(0);
                if depth == 0 {
                    aside = base;
                }
            }
            ',' | ';' if !icd_style => {
                clauses = clauses.saturating_add(1).min(WITHOUT - 1);
                aside = clauses;
                if depth == 0 {
                    base = clauses;
                }
            }
            _ => {}
        }
    }
    flush(&mut current, depth, aside, &mut words);
    if !icd_style {
        expand_type_abbreviations(&mut words);
    }
    rewrite_numbers(&mut words);
    join_pre(&mut words);
    if !icd_style {
        drop_typed_filler(&mut words);
    }
    words.retain(|w| !is_stopword(&w.stem));
    words
}

/// Blanks years and dates ("in 2019", "03/2019", "2019-05-12") in typed text: they
/// say when, and an unknown number would weigh as much as the condition's words.
fn drop_dates(text: &str) -> String {
    let mut out: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < out.len() {
        if !out[i].is_ascii_digit() || (i > 0 && out[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        while end < out.len() && (out[end].is_ascii_digit() || matches!(out[end], '/' | '-' | '.'))
        {
            end += 1;
        }
        // A run glued to letters ("E11.9", "2nd") is not a date.
        let glued = end < out.len() && out[end].is_alphabetic();
        let run: String = out[start..end].iter().collect();
        let run = run.trim_end_matches(['/', '-', '.']);
        let has_year = run
            .split(['/', '-', '.'])
            .any(|g| g.len() == 4 && (g.starts_with("19") || g.starts_with("20")));
        if has_year && !glued {
            for c in &mut out[start..start + run.len()] {
                *c = ' ';
            }
        }
        i = end.max(i + 1);
    }
    out.into_iter().collect()
}

/// "Pre-eclampsia", "pre diabetes": a lone "pre" belongs to the next word, on both
/// sides of the index, so the hyphenated and the solid spelling meet.
fn join_pre(words: &mut Vec<Word>) {
    let mut i = 0;
    while i + 1 < words.len() {
        if words[i].surface == "pre" {
            let next = words.remove(i + 1);
            let w = &mut words[i];
            w.surface = format!("pre{}", next.surface);
            w.stem = stem(&w.surface);
        }
        i += 1;
    }
}

/// Drops the when-and-how words of typed text: ordinals ("2nd baby"), a number
/// with a time unit ("for 10 years"), and [`TYPED_FILLER`].
fn drop_typed_filler(words: &mut Vec<Word>) {
    let is_number = |w: &Word| w.surface.bytes().all(|b| b.is_ascii_digit());
    let is_unit = |w: &Word| matches!(w.stem.as_str(), "year" | "yr" | "month" | "week" | "day");
    let mut keep = vec![true; words.len()];
    for (i, w) in words.iter().enumerate() {
        let ordinal = w.surface.len() > 2
            && w.surface[..w.surface.len() - 2]
                .bytes()
                .all(|b| b.is_ascii_digit())
            && ["st", "nd", "rd", "th"]
                .iter()
                .any(|s| w.surface.ends_with(s));
        let counted = is_number(w) && words.get(i + 1).is_some_and(is_unit);
        // "Since age 9", "aged 40": an age says when, as a year does.
        let is_age = |w: &Word| matches!(w.stem.as_str(), "age" | "aged");
        let age = (is_age(w) && words.get(i + 1).is_some_and(is_number))
            || (is_number(w) && i > 0 && is_age(&words[i - 1]));
        if ordinal || counted || age || TYPED_FILLER.contains(&w.stem.as_str()) {
            keep[i] = false;
        }
    }
    let mut it = keep.into_iter();
    words.retain(|_| it.next().unwrap_or(true));
}

/// "T1D", "T2DM" and "T2 diabetes": the diabetes type typed as a letter and a
/// digit becomes "type 1 diabetes" / "type 2", the words of the ICD-10-CM titles.
/// A bare "t1"/"t2" only before a diabetes word, since "T2" is also a vertebra.
fn expand_type_abbreviations(words: &mut Vec<Word>) {
    let mut out: Vec<Word> = Vec::with_capacity(words.len() + 2);
    for i in 0..words.len() {
        let w = &words[i];
        let typed = w
            .surface
            .strip_prefix('t')
            .and_then(|r| r.split_at_checked(1))
            .filter(|(d, _)| matches!(*d, "1" | "2"));
        let next_is_diabetes = words
            .get(i + 1)
            .is_some_and(|n| n.surface.starts_with("diabet") || n.surface == "dm");
        let word = |s: &str| Word {
            surface: s.to_string(),
            stem: stem(s),
            optional: w.optional,
            aside: w.aside,
        };
        match typed {
            Some((d, "d" | "dm")) => {
                out.extend([word("type"), word(d), word("diabetes")]);
            }
            Some((d, "")) if next_is_diabetes => out.extend([word("type"), word(d)]),
            _ => out.push(w.clone()),
        }
    }
    *words = out;
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
        assert_eq!(stems("Viral pneumonia (disorder)"), ["viral", "pneumonia"]);
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
    fn typed_text_dates_filler_asides_and_relatives() {
        assert_eq!(stems("had a stroke in 03/2019"), ["stroke"]);
        assert_eq!(stems("gout for 10 years, since 2001"), ["gout"]);
        assert_eq!(
            stems("psoriasis since my 2nd pregnancy"),
            ["psoriasis", "pregnancy"]
        );
        assert_eq!(stems("Pre-eclampsia"), ["preeclampsia"]);
        assert_eq!(stems("UTIs"), ["uti"]);
        let asides: Vec<u16> = analyze("asthma (mild), on inhaler", false)
            .1
            .iter()
            .map(|w| w.aside)
            .collect();
        assert_eq!(asides, [0, 1, 3]);
        let since: Vec<u16> = analyze("eczema since my move abroad", false)
            .1
            .iter()
            .map(|w| w.aside)
            .collect();
        assert_eq!(since, [0, 1, 1]);
        let without = analyze("concussion without loss of consciousness", false).1;
        assert!(
            without[1..].iter().all(|w| w.aside == WITHOUT),
            "{without:?}"
        );
        let (q, words) = analyze("my mom had breast cancer", false);
        assert_eq!(q, Qualifier::Family);
        let words: Vec<&str> = words.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(words, ["family", "history", "breast", "cancer"]);
        // ICD-10-CM titles keep every word and have no asides.
        let title = analyze(
            "Type 2 diabetes mellitus with hyperglycemia, in 2019 terms",
            true,
        )
        .1;
        assert!(title.iter().all(|w| w.aside == 0));
        assert!(title.iter().any(|w| w.stem == "2019"));
    }

    fn part_texts(text: &str) -> Vec<String> {
        conjunct_parts(text).into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn connectors_split_typed_text_outside_parentheses() {
        let since = conjunct_parts("acne since my move, and eczema");
        let after: Vec<bool> = since.iter().map(|p| p.after_since).collect();
        assert_eq!(after, [false, true, false]);
        assert_eq!(
            part_texts("Gout & eczema, migraines and acne"),
            ["gout", "eczema", "migraines", "acne"]
        );
        assert_eq!(
            part_texts("psoriasis w/ joint pain; no gout but acne"),
            ["psoriasis", "joint pain", "no gout", "acne"]
        );
        // Inside parentheses, and inside words ("sandwich", "without"), nothing.
        assert_eq!(
            part_texts("kidney disease (stage 2, and stable)"),
            ["kidney disease (stage 2, and stable)"]
        );
        assert_eq!(part_texts("handwithout"), ["handwithout"]);
        assert_eq!(
            part_texts("fracture without displacement"),
            ["fracture without displacement"]
        );
    }

    #[test]
    fn negation_and_uncertainty_before_and_after() {
        for text in [
            "denies gout",
            "gout ruled out",
            "suspected gout",
            "possible gout",
            "gout?",
            "? gout",
        ] {
            assert_eq!(analyze(text, false).0, Qualifier::Negated, "{text}");
        }
        assert_eq!(not_yet("Not anemic yet.").as_deref(), Some("anemic"));
        assert_eq!(not_yet("not anemic"), None);
    }

    #[test]
    fn diabetes_types_typed_as_letter_and_digit() {
        assert_eq!(stems("T1D"), ["type", "1", "diabete"]);
        assert_eq!(stems("t2 diabetic"), ["type", "2", "diabetic"]);
        assert_eq!(stems("T2 vertebra"), ["t2", "vertebra"]);
        assert_eq!(stems("asthma since age 7"), ["asthma"]);
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
