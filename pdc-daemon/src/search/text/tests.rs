//! Tests of text cleaning: qualifiers, asides, connectors, dates, typos.

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
