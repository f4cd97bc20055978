//! Tests of the search module as a whole: embedded data, normalizer, ranking,
//! evaluation parsing.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use super::index::index;
use super::rank::{Relation, relation};
use super::*;

/// The CMS file the committed terminology is generated from. The shared data folder
/// sits beside the repository.
const TABULAR_XML: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/icd10cm/icd10c-tabular-April-1-2026.xml"
);

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
        ("pharingitis", "J02"),
        ("diabetis", "E08-E13"),
        ("hypertenshun", "I10-I1A"),
        ("athsma", "J45"),
        ("depresion", "F32"),
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
    assert_eq!(
        codes(&normalize("Kidney Stones")),
        codes(&normalize("kidney stone"))
    );
    assert_eq!(
        codes(&normalize("stones kidney")),
        codes(&normalize("KIDNEY STONE"))
    );
    assert_eq!(
        codes(&normalize("Ménière's disease")),
        codes(&normalize("menieres disease"))
    );
}

#[test]
fn snomed_displays_and_history() {
    assert!(
        codes(&normalize("Viral sinusitis (disorder)"))
            .iter()
            .any(|c| c.starts_with("J01"))
    );
    assert!(codes(&normalize("History of cardiac arrest (situation)")).contains(&"I46"));
    assert!(codes(&normalize("Body mass index 30+ - obesity (finding)")).contains(&"E66"));
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
    let q = normalize("zebra stripes disease");
    for condition in [
        "Hypertension",
        "Viral sinusitis (disorder)",
        "Epilepsy",
        "Sprain of ankle",
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
        assert!(matches("diabetes", yes), "diabetes should match {yes}");
    }
    for no in [
        "Prediabetes",
        "Hyperglycemia (disorder)",
        "Family history of diabetes",
        "no diabetes",
    ] {
        assert!(!matches("diabetes", no), "diabetes must not match {no}");
    }
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
    let q = normalize("type 2 diabetes");
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
    let a = normalize("Hypertension");
    let b = normalize("Viral sinusitis (disorder)");
    let hits = rank(
        &normalize("sinus infection"),
        [("p1", &a), ("p1", &b), ("p2", &a)],
    );
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].condition, "Viral sinusitis (disorder)");
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
    let ok = parse_eval_queries("query\trelevant\tnote\nasthma\t233678006\tx\nzebra\t\tnothing\n")
        .expect("parses");
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0].relevant, ["233678006"]);
    assert!(ok[1].relevant.is_empty());
    let err = |tsv: &str| parse_eval_queries(tsv).expect_err("must fail").to_string();
    assert!(err("").contains("line 1"));
    assert!(err("asthma\t1\n").contains("line 1"));
    let e = err("query\trelevant\tnote\nasthma\t1\tok\nbad line\n");
    assert!(e.contains("line 3") && e.contains("fields"), "{e}");
    let e = err("query\trelevant\tnote\nasthma\tJ45\tok\n");
    assert!(e.contains("line 2") && e.contains("J45"), "{e}");
    let e = err("query\trelevant\tnote\n\t123\tempty\n");
    assert!(e.contains("line 2") && e.contains("empty query"), "{e}");
}

#[test]
fn eval_report_scores_and_last_line() {
    let patients = vec![
        EvalPatient {
            name: "a".into(),
            conditions: vec![EvalCondition {
                snomed_code: "38341003".into(),
                text: "Hypertension".into(),
            }],
        },
        EvalPatient {
            name: "b".into(),
            conditions: vec![EvalCondition {
                snomed_code: "15777000".into(),
                text: "Prediabetes".into(),
            }],
        },
    ];
    let queries = parse_eval_queries(
        "query\trelevant\tnote\nhigh blood pressure\t38341003\t\nzebra stripes disease\t\t\n",
    )
    .expect("parses");
    let report = run_eval(&queries, &patients);
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
        "hypertenshun",
        "Acute viral pharyngitis (disorder)",
        "broken arm",
    ] {
        let _ = normalize(q);
    }
    assert!(start.elapsed().as_millis() < 2_000);
}
