//! Splitting a folded text into [`Word`]s: asides and "without" clauses, the
//! dates and filler of typed text, abbreviations and numerals rewritten to the
//! words of the ICD-10-CM titles, stop words, and plural stripping.

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

/// "UTIs", "MIs", "TIAs": the plural of an abbreviation typed in capitals loses its
/// "s" (the stemmer leaves "-is" words alone for "arthritis", so it cannot).
pub(super) fn singular_abbreviations(text: &str) -> String {
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

pub(super) fn split_words(folded: &str, icd_style: bool) -> Vec<Word> {
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

fn is_stopword(stem: &str) -> bool {
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
