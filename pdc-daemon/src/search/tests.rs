//! Tests of the search module as a whole: embedded data, normalizer, ranking,
//! evaluation parsing and the committed split.
//!
//! The examples are the module's own: none is a query of the shared development set
//! (`search-dev.tsv`) or a text of the patient-typed set (`tests/eval/`), so that
//! the evaluations stay measurements of data the search was not written against.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use super::index::index;
use super::normalize::{Relation, relation};
use super::*;

/// The CMS file the committed terminology is generated from. The shared data folder
/// sits beside the repository.
const TABULAR_XML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/icd10cm/icd10c-tabular-April-1-2026.xml"
);
/// The shared development set, read at run time like the XML above.
const DEV_QUERIES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/eval/search-dev.tsv"
);
const DEV_BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/fhir");
/// The project's own evaluation files.
const SPLIT: &str = include_str!("../../../tests/eval/split.toml");
const TYPED_CONDITIONS: &str = include_str!("../../../tests/eval/typed-conditions.tsv");
const TYPED_QUERIES: &str = include_str!("../../../tests/eval/typed-queries.tsv");

fn codes(n: &Normalized) -> Vec<&str> {
    n.concepts.iter().map(|c| c.code.as_str()).collect()
}

fn matches(query: &str, condition: &str) -> bool {
    match_condition(&normalize(query), &normalize(condition)).is_some()
}

#[test]
fn regenerating_the_terminology_gives_the_committed_file() {
    let xml = std::fs::read_to_string(TABULAR_XML).unwrap_or_else(|e| {
        panic!(
            "cannot read the ICD-10-CM tabular XML at {TABULAR_XML}: {e}. The test needs the \
             shared data folder beside the repository (../shared/data/icd10cm)."
        )
    });
    let generated = generate_terminology(&xml).expect("the CMS XML generates");
    let committed = include_str!("icd10cm.tsv");
    assert!(
        generated == committed,
        "src/search/icd10cm.tsv is stale: regenerate it with `pdc-daemon icd10-gen`"
    );
}

#[test]
fn generator_refuses_other_xml() {
    assert!(matches!(
        generate_terminology("<html/>"),
        Err(SearchError::Terminology(_))
    ));
    assert!(matches!(
        generate_terminology("not xml"),
        Err(SearchError::Terminology(_))
    ));
}

#[test]
fn embedded_files_load_without_problems() {
    let ix = index();
    assert!(ix.problems.is_empty(), "problems: {:#?}", ix.problems);
    assert!(
        ix.nodes.len() > 45_000,
        "terminology has {} nodes",
        ix.nodes.len()
    );
    let lay = include_str!("lay_terms.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty());
    assert!(lay.count() >= 500);
}

#[test]
fn hierarchy_is_recovered() {
    let ix = index();
    let e11_9 = &ix.nodes[ix.by_code["E11.9"] as usize];
    assert_eq!(e11_9.block, "E08-E13");
    assert_eq!(
        e11_9.title,
        "Type 2 diabetes mellitus without complications"
    );
    assert_eq!(
        ix.nodes[ix.by_code["I10-I1A"] as usize].title,
        "Hypertensive diseases"
    );
}

#[test]
fn lay_terms_and_abbreviations() {
    assert!(codes(&normalize("heart attack")).contains(&"I21"));
    assert!(codes(&normalize("MI")).contains(&"I21"));
    assert_eq!(codes(&normalize("HTN")), ["I10-I1A"]);
    assert_eq!(codes(&normalize("high blood pressure"))[0], "I10-I1A");
    assert_eq!(codes(&normalize("T2DM")), ["E11"]);
    assert!(codes(&normalize("COPD")).contains(&"J44"));
    assert!(codes(&normalize("UTI")).contains(&"N39.0"));
    assert!(codes(&normalize("sugar diabetes")).contains(&"E08-E13"));
    assert_eq!(codes(&normalize("prediabetes")), ["R73.03"]);
    let n = normalize("sugar diabetes");
    assert!(
        n.concepts[0].via.contains("lay term 'sugar diabetes'"),
        "{:?}",
        n.concepts[0]
    );
}

#[test]
fn misspellings_plurals_order_case_accents() {
    for (typo, code) in [
        ("gastritus", "K29"),
        ("diabettes", "E08-E13"),
        ("emphysima", "J43"),
        ("arthritus", "M15-M19"),
        ("anxeity", "F41"),
        ("alzhiemers", "G30"),
        ("pnuemonia", "J18"),
    ] {
        let n = normalize(typo);
        assert!(
            n.concepts
                .iter()
                .any(|c| c.code == code || c.code.starts_with(code)),
            "{typo}: {:?}",
            codes(&n)
        );
    }
    // Each spelling reads as the concept itself, not merely as its neighbour's
    // reading (two empty readings would be equal too).
    for gallstones in ["Gall Stones", "gall stone", "stones gall", "GALL STONE"] {
        assert_eq!(codes(&normalize(gallstones)), ["K80"], "{gallstones}");
    }
    for meniere in ["Ménière's disease", "menieres disease", "MENIERE DISEASE"] {
        assert_eq!(codes(&normalize(meniere)), ["H81.0"], "{meniere}");
    }
}

#[test]
fn snomed_displays_and_history() {
    assert_eq!(
        codes(&normalize("Acute cholecystitis (disorder)")),
        ["K81.0"]
    );
    assert!(codes(&normalize("History of myocardial infarction (situation)")).contains(&"I25.2"));
    // A spaced dash joins two phrases that both hold: the BMI and the obesity.
    let bmi = normalize("Body mass index 40+ - severely obese (finding)");
    let bmi = codes(&bmi);
    assert!(bmi.contains(&"E66.01") && bmi.contains(&"Z68.4"), "{bmi:?}");
    let family = normalize("Family history of diabetes mellitus");
    assert_eq!(family.qualifier, Qualifier::Family);
    assert!(
        codes(&family).iter().all(|c| c.starts_with("Z8")),
        "{:?}",
        codes(&family)
    );
}

#[test]
fn nonsense_matches_nothing() {
    let q = normalize("xylophone quasar disorder");
    assert!(q.concepts.is_empty(), "{:?}", codes(&q));
    for condition in [
        "Essential hypertension",
        "Acute cholecystitis (disorder)",
        "Gout",
        "Fracture of clavicle",
    ] {
        assert!(
            match_condition(&q, &normalize(condition)).is_none(),
            "{condition}"
        );
    }
    assert!(normalize("").concepts.is_empty());
    assert!(normalize("   !!! ").concepts.is_empty());
}

#[test]
fn diabetes_threshold() {
    for yes in [
        "Diabetes",
        "Type 2 diabetes mellitus",
        "Neuropathy due to type 2 diabetes mellitus (disorder)",
        "Diabetic retinopathy associated with type II diabetes mellitus (disorder)",
    ] {
        assert!(matches("diabetes mellitus", yes), "should match {yes}");
    }
    for no in [
        "Prediabetes",
        "Hyperglycemia (disorder)",
        "Family history of diabetes",
        "no diabetes",
        "borderline diabetes, diet only",
    ] {
        assert!(!matches("diabetes mellitus", no), "must not match {no}");
    }
}

#[test]
fn typed_years_dates_verbs_and_ordinals_are_read_past() {
    let heart_attack = normalize("heart attack");
    let heart_attack = codes(&heart_attack);
    assert!(heart_attack.contains(&"I25.2"), "{heart_attack:?}");
    for typed in [
        "had a heart attack in 2019",
        "Heart attack, March 2011",
        "MI 2015",
        "got diagnosed with an MI 12/2009",
    ] {
        assert_eq!(codes(&normalize(typed)), heart_attack, "{typed}");
    }
    let gout = normalize("gout");
    let gout = codes(&gout);
    assert!(gout.contains(&"M10"), "{gout:?}");
    assert_eq!(codes(&normalize("diagnosed with gout 03/2018")), gout);
    assert_eq!(codes(&normalize("gout for 10 years")), gout);
    let psoriasis = normalize("psoriasis");
    let psoriasis = codes(&psoriasis);
    assert!(psoriasis.contains(&"L40"), "{psoriasis:?}");
    assert_eq!(codes(&normalize("psoriasis since my 3rd child")), psoriasis);
    // A text of nothing but a date names nothing.
    assert!(normalize("since 2019").concepts.is_empty());
}

#[test]
fn borderline_reads_as_the_stage_before() {
    let pre_htn = normalize("borderline hypertension");
    assert_eq!(pre_htn.qualifier, Qualifier::Borderline);
    assert_eq!(codes(&pre_htn), ["R03.0"]);
    assert_eq!(codes(&normalize("prehypertension")), ["R03.0"]);
    assert!(!matches(
        "essential hypertension",
        "borderline hypertension"
    ));
    assert!(matches("prehypertension", "borderline hypertension"));
    assert_eq!(codes(&normalize("pre-diabetes")), ["R73.03"]);
    assert_eq!(
        codes(&normalize("borderline diabetes, diet only")),
        ["R73.03"]
    );
    assert!(matches("prediabetes", "borderline diabetes, diet only"));
    assert_eq!(codes(&normalize("borderline glaucoma")), ["H40.0"]);
    // "Borderline" that names a concept of its own stays that concept.
    let personality = normalize("borderline personality disorder");
    assert_eq!(personality.qualifier, Qualifier::Plain);
    assert_eq!(codes(&personality), ["F60.3"]);
    // No ICD-10-CM concept for "pre-anemia": the text is not anemia either.
    let anemia = normalize("borderline anemia");
    assert_eq!(anemia.qualifier, Qualifier::Borderline);
    assert!(anemia.concepts.is_empty(), "{:?}", codes(&anemia));
    assert!(!matches("anemia", "borderline anemia"));
}

#[test]
fn asides_refine_and_never_add_combination_codes() {
    let ckd = "chronic kidney disease (stage 4, my GP monitors blood pressure)";
    let n = normalize(ckd);
    assert_eq!(codes(&n), ["N18.4"]);
    assert!(matches("chronic kidney disease", ckd));
    for other in [
        "essential hypertension",
        "hypertensive kidney disease",
        "anemia",
    ] {
        assert!(!matches(other, ckd), "{other} must not match {ckd}");
    }
    // The aside's words dilute nothing: the head keeps its reading.
    assert_eq!(
        codes(&normalize("seizure disorder (on lamotrigine)")),
        codes(&normalize("seizure disorder"))
    );
    assert!(codes(&normalize("seizure disorder")).contains(&"G40"));
    // A comma starts an aside too, which may refine the head.
    let dm = normalize("diabetic, type 1, on an insulin pump");
    let dm = codes(&dm);
    assert!(
        dm.contains(&"E10") || dm.iter().any(|c| c.starts_with("E10.")),
        "{dm:?}"
    );
    // What "without" names is absent.
    let n = normalize("diabetes without complications");
    assert_eq!(codes(&n), codes(&normalize("diabetes")));
    assert!(
        !n.terms
            .iter()
            .flatten()
            .any(|t| t.starts_with("complication"))
    );
}

#[test]
fn relatives_plurals_of_abbreviations_and_lay_words() {
    let dad = normalize("my dad had prostate cancer");
    assert_eq!(dad.qualifier, Qualifier::Family);
    assert_eq!(codes(&dad), ["Z80.42"]);
    assert!(!matches("prostate cancer", "my dad had prostate cancer"));
    assert_eq!(
        normalize("father died of stroke").qualifier,
        Qualifier::Family
    );
    assert_eq!(codes(&normalize("TIAs")), codes(&normalize("TIA")));
    assert!(codes(&normalize("TIAs")).contains(&"G45"));
    assert_eq!(codes(&normalize("thin bones")), ["M81"]);
    assert_eq!(codes(&normalize("anxiety attack")), ["F41.0"]);
    assert_eq!(codes(&normalize("nerves")), ["F41"]);
    assert!(codes(&normalize("hyperthyroid")).contains(&"E05"));
    assert_eq!(codes(&normalize("wheezing")), ["R06.2"]);
}

#[test]
fn hierarchy_ranking_order() {
    let concept = |code: &str, block: &str| Concept {
        code: code.into(),
        title: String::new(),
        score: 1.0,
        block: block.into(),
        via: String::new(),
    };
    let q = concept("E11.40", "E08-E13");
    assert_eq!(
        relation(&q, &concept("E11.40", "E08-E13")),
        Some(Relation::SameCode)
    );
    assert_eq!(
        relation(&q, &concept("E11.9", "E08-E13")),
        Some(Relation::SameCategory)
    );
    assert_eq!(
        relation(&q, &concept("E10.40", "E08-E13")),
        Some(Relation::SameBlock)
    );
    assert_eq!(relation(&q, &concept("I10", "I10-I1A")), None);
    assert_eq!(
        relation(&concept("E08-E13", "E08-E13"), &concept("E11.9", "E08-E13")),
        Some(Relation::Within)
    );
    assert_eq!(
        relation(&concept("E11", "E08-E13"), &concept("E11.9", "E08-E13")),
        Some(Relation::Within)
    );
    assert_eq!(
        relation(&q, &concept("E11", "E08-E13")),
        Some(Relation::Broader)
    );
    let factors: Vec<f32> = [
        Relation::SameCode,
        Relation::Within,
        Relation::Broader,
        Relation::SameCategory,
        Relation::SameBlock,
    ]
    .iter()
    .map(|r| r.factor())
    .collect();
    assert!(factors.windows(2).all(|w| w[0] > w[1]), "{factors:?}");
    // Siblings alone never reach the threshold, even with perfect concept scores.
    assert!(Relation::SameCategory.factor() < MATCH_THRESHOLD);
}

#[test]
fn rank_orders_by_hierarchy_and_explains() {
    let conditions = [
        ("exact", normalize("Type 2 diabetes mellitus")),
        (
            "complication",
            normalize("Type 2 diabetes mellitus with diabetic neuropathy"),
        ),
        ("sibling-type", normalize("Type 1 diabetes mellitus")),
        ("other", normalize("Essential hypertension")),
        ("pre", normalize("Prediabetes")),
    ];
    let q = normalize("type 2 diabetes mellitus");
    let hits = rank(&q, conditions.iter().map(|(id, n)| (*id, n)));
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["exact", "complication"]);
    assert!(hits[0].score >= hits[1].score);
    assert!(
        hits[0].explanation.starts_with("matched E11"),
        "{}",
        hits[0].explanation
    );
    // A record with several conditions scores once, with its best condition.
    let a = normalize("Essential hypertension");
    let b = normalize("Calculus of gallbladder (disorder)");
    let hits = rank(
        &normalize("gall stones"),
        [("p1", &a), ("p1", &b), ("p2", &a)],
    );
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].condition, "Calculus of gallbladder (disorder)");
}

#[test]
fn explanation_names_lay_term() {
    let m = match_condition(
        &normalize("sugar diabetes"),
        &normalize("Type 2 diabetes mellitus"),
    )
    .expect("matches");
    assert!(
        m.explanation.contains("via lay term 'sugar diabetes'"),
        "{}",
        m.explanation
    );
    assert!(m.code.starts_with("E11"), "{m:?}");
}

#[test]
fn normalized_round_trips_through_json() {
    let n = normalize("History of myocardial infarction (situation)");
    let json = serde_json::to_string(&n).expect("serializes");
    let back: Normalized = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(n, back);
}

#[test]
fn baseline_is_case_insensitive_substring() {
    assert!(baseline_match("Sinusitis", "Viral sinusitis (disorder)"));
    assert!(!baseline_match(
        "sinus infection",
        "Viral sinusitis (disorder)"
    ));
    assert!(!baseline_match("  ", "anything"));
}

#[test]
fn eval_queries_parse_and_report_errors_by_line() {
    let ok = parse_eval_queries(
        "query\trelevant\tnote\ngout\t90560007\tx\nquasar\t\tnothing\n",
        CodeSystem::Snomed,
    )
    .expect("parses");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].relevant, ["90560007"]);
    assert!(ok[1].relevant.is_empty());
    let err = |tsv: &str| {
        parse_eval_queries(tsv, CodeSystem::Snomed)
            .expect_err("must fail")
            .to_string()
    };
    assert!(err("").contains("line 1"));
    assert!(err("gout\t1\n").contains("line 1"));
    let e = err("query\trelevant\tnote\ngout\t1\tok\nbad line\n");
    assert!(e.contains("line 3") && e.contains("fields"), "{e}");
    let e = err("query\trelevant\tnote\ngout\tM10\tok\n");
    assert!(e.contains("line 2") && e.contains("M10"), "{e}");
    let e = err("query\trelevant\tnote\n\t123\tempty\n");
    assert!(e.contains("line 2") && e.contains("empty query"), "{e}");
    let e = err("query\trelevant\tnote\ngout\t1\t\ngout\t2\t\n");
    assert!(e.contains("line 3") && e.contains("twice"), "{e}");
    // ICD-10-CM sets take code prefixes and refuse SNOMED-looking codes.
    let icd = parse_eval_queries(
        "query\trelevant\tnote\ngout\tM10,M1A\t\n",
        CodeSystem::Icd10,
    )
    .expect("parses");
    assert_eq!(icd[0].relevant, ["M10", "M1A"]);
    let e = parse_eval_queries(
        "query\trelevant\tnote\ngout\t90560007\t\n",
        CodeSystem::Icd10,
    )
    .expect_err("must fail")
    .to_string();
    assert!(e.contains("line 2") && e.contains("ICD-10-CM"), "{e}");
    let e = parse_typed_conditions("text\ticd10\tnote\nsore big toe\t\t\n")
        .expect_err("a typed condition needs a code")
        .to_string();
    assert!(e.contains("line 2") && e.contains("sore big toe"), "{e}");
}

#[test]
fn icd10_relevance_is_by_prefix() {
    assert!(CodeSystem::Icd10.relevant("E11", "E11.9"));
    assert!(CodeSystem::Icd10.relevant("E11.9", "E11.9"));
    assert!(!CodeSystem::Icd10.relevant("E11", "E10.9"));
    assert!(CodeSystem::Snomed.relevant("90560007", "90560007"));
    assert!(!CodeSystem::Snomed.relevant("9056", "90560007"));
}

/// The first column of an evaluation TSV (header and comments skipped).
fn first_column(tsv: &str) -> Vec<String> {
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').next().unwrap_or_default().trim().to_string())
        .collect()
}

#[test]
fn the_committed_split_is_the_stated_rule_over_all_the_data() {
    let split = parse_split(SPLIT).expect("split.toml parses");
    let dev_queries = first_column(&std::fs::read_to_string(DEV_QUERIES).unwrap_or_else(|e| {
        panic!("cannot read {DEV_QUERIES}: {e} (the shared folder sits beside the repository)")
    }));
    let mut bundles: Vec<String> = std::fs::read_dir(DEV_BUNDLES)
        .unwrap_or_else(|e| panic!("cannot read {DEV_BUNDLES}: {e}"))
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    bundles.sort();
    let typed_queries = first_column(TYPED_QUERIES);
    let typed_conditions = first_column(TYPED_CONDITIONS);
    for (halves, names, what) in [
        (&split.dev.queries, &dev_queries, "dev queries"),
        (&split.dev.bundles, &bundles, "dev bundles"),
        (&split.typed.queries, &typed_queries, "typed queries"),
        (
            &split.typed.conditions,
            &typed_conditions,
            "typed conditions",
        ),
    ] {
        halves.check(names, what).expect("every item in one half");
        assert_eq!(
            *halves,
            Halves::by_rule(names),
            "{what}: not the SHA-256 rule"
        );
        let (t, h) = (halves.tuning.len(), halves.held_out.len());
        assert!(
            t.abs_diff(h) <= 1 && h > 0,
            "{what}: {t} tuning, {h} held out"
        );
    }
    assert!(
        typed_conditions.len() >= 100,
        "{} typed conditions",
        typed_conditions.len()
    );
    let e = Halves {
        tuning: vec!["a".into()],
        held_out: vec![],
    }
    .check(&["a", "b"], "x")
    .expect_err("b is in no half")
    .to_string();
    assert!(e.contains("'b'") && e.contains("neither half"), "{e}");
    assert!("middle".parse::<Half>().is_err());
    assert_eq!("held-out".parse::<Half>(), Ok(Half::HeldOut));
}

#[test]
fn no_lay_row_is_a_whole_text_of_the_typed_set() {
    // The typed set measures the vocabulary and the rules, so the vocabulary must
    // not simply list its texts: no row may have exactly a text's words (in any
    // order, case and punctuation aside). Rows naming part of a text ("type 2
    // diabetes" in "type 2 diabetes since 2012") are the vocabulary at work.
    let words = |t: &str| {
        let mut w: Vec<String> = super::text::fold(t)
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        w.sort();
        w
    };
    let lay: Vec<(String, Vec<String>)> = include_str!("lay_terms.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .map(|t| (t.to_string(), words(t)))
        .collect();
    let rows = parse_typed_conditions(TYPED_CONDITIONS).expect("typed set parses");
    for row in &rows {
        let typed = words(&row.text);
        if let Some((term, _)) = lay.iter().find(|(_, w)| *w == typed) {
            panic!("lay row '{term}' maps the whole typed text '{}'", row.text);
        }
    }
}

#[test]
fn eval_report_scores_and_last_line() {
    let patients = vec![
        EvalPatient {
            name: "a".into(),
            conditions: vec![EvalCondition {
                codes: vec!["59621000".into()],
                text: "Essential hypertension".into(),
            }],
        },
        EvalPatient {
            name: "b".into(),
            conditions: vec![EvalCondition {
                codes: vec!["15777000".into()],
                text: "Prediabetes".into(),
            }],
        },
    ];
    let queries = parse_eval_queries(
        "query\trelevant\tnote\nHTN\t59621000\t\nxylophone quasar disorder\t\t\n",
        CodeSystem::Snomed,
    )
    .expect("parses");
    let report = run_eval(&queries, &patients, CodeSystem::Snomed);
    assert_eq!(report.precision, 1.0);
    assert_eq!(report.recall, 1.0);
    // The baseline finds nothing for the lay phrase, and correctly nothing for zebra.
    assert_eq!(report.baseline_recall, 0.5);
    let text = report.to_string();
    assert_eq!(
        text.lines().last(),
        Some(
            "total precision=1.0000 recall=1.0000 baseline_precision=1.0000 baseline_recall=0.5000"
        )
    );
}

#[test]
fn normalize_is_fast_enough() {
    // A coarse guard against an accidental quadratic path; the real p99 figures come
    // from the release bench (benches/search.rs).
    let _ = index();
    let start = std::time::Instant::now();
    for q in [
        "heart attack",
        "emphysima",
        "chronic kidney disease (stage 4, my GP monitors blood pressure)",
        "broken arm",
    ] {
        let _ = normalize(q);
    }
    assert!(start.elapsed().as_millis() < 2_000);
}

fn has_prefix(n: &Normalized, prefix: &str) -> bool {
    n.concepts
        .iter()
        .any(|c| c.code.starts_with(prefix) || c.block.starts_with(prefix))
}

#[test]
fn conjoined_conditions_name_each_one() {
    for text in ["gout & psoriasis", "gout and psoriasis", "gout, psoriasis"] {
        let n = normalize(text);
        assert!(has_prefix(&n, "M10"), "{text}: {:?}", codes(&n));
        assert!(has_prefix(&n, "L40"), "{text}: {:?}", codes(&n));
        assert!(
            matches("gout", text) && matches("psoriasis", text),
            "{text}"
        );
    }
    // "With" joining two conditions no ICD-10-CM term combines: both.
    for text in [
        "diabetes with high blood pressure",
        "gout with high blood pressure",
    ] {
        assert!(matches("hypertension", text), "{text}");
    }
    assert!(matches("diabetes", "diabetes with high blood pressure"));
    assert!(matches("gout", "gout with high blood pressure"));
    // What a condition began with may be one too; a time names nothing.
    let text = "kidney stones since my gout";
    assert!(matches("gout", text) && matches("kidney stones", text));
    assert_eq!(
        codes(&normalize("kidney stones since 2012")),
        codes(&normalize("kidney stones"))
    );
    // A treatment after a comma names nothing and adds nothing.
    assert_eq!(
        codes(&normalize("psoriasis, on methotrexate")),
        codes(&normalize("psoriasis"))
    );
}

#[test]
fn a_combination_term_for_the_whole_phrase_stays_one_concept() {
    let n = normalize("hypertensive heart disease with heart failure");
    assert!(
        n.concepts.iter().all(|c| c.code.starts_with("I11.0")),
        "{:?}",
        codes(&n)
    );
}

#[test]
fn negated_and_not_yet_parts_name_nothing_of_theirs() {
    let n = normalize("eczema but no asthma");
    assert!(!has_prefix(&n, "J45"), "{:?}", codes(&n));
    assert!(matches("eczema", "eczema but no asthma"));
    assert!(!matches("asthma", "eczema but no asthma"));
    for text in ["asthma ruled out", "denies migraine"] {
        let n = normalize(text);
        assert_eq!(n.qualifier, Qualifier::Negated, "{text}");
        assert!(n.concepts.is_empty(), "{text}: {:?}", codes(&n));
    }
    let n = normalize("denies migraine, has gout");
    assert!(
        has_prefix(&n, "M10") && !has_prefix(&n, "G43"),
        "{:?}",
        codes(&n)
    );
    // "Not X yet" is the stage before X where ICD-10-CM has one, else nothing.
    let n = normalize("not hypertensive yet");
    assert_eq!(codes(&n), ["R03.0"]);
    assert!(!matches("hypertension", "not hypertensive yet"));
    let n = normalize("no glaucoma yet");
    assert!(
        n.concepts.iter().all(|c| c.code.starts_with("H40.0")),
        "{:?}",
        codes(&n)
    );
    let n = normalize("not anemic yet");
    assert!(n.concepts.is_empty(), "{:?}", codes(&n));
}

#[test]
fn diabetes_types_with_digits() {
    for text in ["T1 diabetic", "t1d, on a pump", "Type I diabetic"] {
        assert!(matches("type 1 diabetes", text), "{text}");
        assert!(!matches("type 2 diabetes", text), "{text}");
    }
    for text in ["t2 diabetes", "T2DM", "type II diabetic"] {
        assert!(matches("type 2 diabetes", text), "{text}");
        assert!(!matches("type 1 diabetes", text), "{text}");
    }
    // "T2" elsewhere is not a diabetes type.
    assert!(!matches("diabetes", "fracture of T2 vertebra"));
}

#[test]
fn obesity_is_not_overweight() {
    // E66 "Overweight and obesity" holds E66.3 Overweight; a search for obesity
    // wants obese patients only (typed-queries.tsv says so too).
    assert!(!matches("obesity", "overweight"));
    assert!(!matches("obese", "overweight"));
    assert!(matches("obesity", "obesity due to excess calories"));
    assert!(matches("obesity", "morbid obesity"));
    assert!(matches("overweight", "overweight"));
}
