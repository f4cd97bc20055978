//! The disease search through the real binaries: the evaluation command on the
//! held-out halves of the shared development set and of the patient-typed set
//! (tests/eval, split by tests/eval/split.toml), and a node searching its own
//! records.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use pdc_tests::{NodeProc, bin, shared_dir};
use serde_json::{Value, json};

/// The project's own evaluation files (tests/eval): the split and the
/// patient-typed set.
fn eval_dir() -> PathBuf {
    // Like `shared_dir`: where cargo runs the test, not where it was compiled.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("eval")
}

/// Runs `pdc-daemon search-eval ARGS`, checks the last line's shape and returns
/// the output and its four totals (precision, recall, baseline precision, baseline
/// recall).
fn search_eval(args: &[&OsStr]) -> (String, [f64; 4]) {
    let out = Command::new(bin("pdc-daemon"))
        .arg("search-eval")
        .args(args)
        .output()
        .expect("run search-eval");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("output").to_string();
    let fields: Vec<(&str, f64)> = last
        .strip_prefix("total ")
        .expect("last line starts with 'total '")
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("k=v");
            assert_eq!(
                v.split('.').nth(1).map(str::len),
                Some(4),
                "four decimals: {kv}"
            );
            (k, v.parse().expect("number"))
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|f| f.0).collect();
    assert_eq!(
        keys,
        [
            "precision",
            "recall",
            "baseline_precision",
            "baseline_recall"
        ]
    );
    (stdout, [fields[0].1, fields[1].1, fields[2].1, fields[3].1])
}

fn dev_args<'a>(queries: &'a Path, bundles: &'a Path) -> Vec<&'a OsStr> {
    vec![
        OsStr::new("--queries"),
        queries.as_os_str(),
        OsStr::new("--bundles"),
        bundles.as_os_str(),
    ]
}

#[test]
fn search_eval_meets_targets_on_the_held_out_half_of_the_dev_set() {
    let shared = shared_dir();
    let (queries, bundles) = (shared.join("eval/search-dev.tsv"), shared.join("data/fhir"));
    let split = eval_dir().join("split.toml");
    let mut args = dev_args(&queries, &bundles);
    args.extend([
        OsStr::new("--split"),
        split.as_os_str(),
        OsStr::new("--half"),
        OsStr::new("held-out"),
    ]);
    let (out, [p, r, _, br]) = search_eval(&args);
    // Only the held-out half is scored: 9 of the 18 queries.
    assert!(out.contains("(totals: mean over 9 queries)"), "{out}");
    assert!(p >= 0.95 && r >= 0.95, "held-out half: {out}");
    // Every held-out dev query is a substring of its bundles' texts, so the
    // baseline is perfect here; the search must not fall below it.
    assert!(r >= br, "not below the substring baseline on recall: {out}");
    // The whole set stays where it was before the split existed.
    let (out, [p, r, _, br]) = search_eval(&dev_args(&queries, &bundles));
    assert!(out.contains("(totals: mean over 18 queries)"), "{out}");
    assert!(p >= 0.95 && r >= 0.95, "whole set: {out}");
    assert!(r > br, "beats the substring baseline on recall: {out}");
}

#[test]
fn search_eval_meets_targets_on_the_held_out_half_of_the_typed_set() {
    let dir = eval_dir();
    let (typed, queries, split) = (
        dir.join("typed-conditions.tsv"),
        dir.join("typed-queries.tsv"),
        dir.join("split.toml"),
    );
    let (out, [p, r, _, br]) = search_eval(&[
        OsStr::new("--typed"),
        typed.as_os_str(),
        OsStr::new("--typed-queries"),
        queries.as_os_str(),
        OsStr::new("--split"),
        split.as_os_str(),
        OsStr::new("--half"),
        OsStr::new("held-out"),
    ]);
    assert!(out.contains("(totals: mean over 19 queries)"), "{out}");
    assert!(p >= 0.95 && r >= 0.95, "typed set, held-out half: {out}");
    assert!(r > br, "beats the substring baseline on recall: {out}");
}

#[test]
fn search_eval_names_what_is_wrong_with_its_arguments() {
    let shared = shared_dir();
    let (queries, bundles) = (shared.join("eval/search-dev.tsv"), shared.join("data/fhir"));
    let fails = |args: &[&OsStr]| -> String {
        let out = Command::new(bin("pdc-daemon"))
            .arg("search-eval")
            .args(args)
            .output()
            .expect("run search-eval");
        assert!(!out.status.success(), "must fail: {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let mut args = dev_args(&queries, &bundles);
    args.extend([OsStr::new("--half"), OsStr::new("held-out")]);
    let e = fails(&args);
    assert!(e.contains("--split"), "{e}");
    // A split that leaves a query out is refused with the query's name.
    let dir = std::env::temp_dir().join(format!("pdc-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("split.toml");
    let committed =
        std::fs::read_to_string(eval_dir().join("split.toml")).expect("read split.toml");
    std::fs::write(
        &bad,
        committed.replacen("\"zebra stripes disease\",\n", "", 1),
    )
    .expect("write split");
    let mut args = dev_args(&queries, &bundles);
    args.extend([
        OsStr::new("--split"),
        bad.as_os_str(),
        OsStr::new("--half"),
        OsStr::new("tuning"),
    ]);
    let e = fails(&args);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        e.contains("zebra stripes disease") && e.contains("neither half"),
        "{e}"
    );
}

#[test]
fn a_node_finds_its_conditions_by_lay_terms_and_explains_why() {
    let mut n = NodeProc::init("patient", "Hana");
    n.start();
    for text in [
        "Type 2 diabetes mellitus",
        "Prediabetes",
        "Acute viral pharyngitis (disorder)",
        "sprained ankle",
    ] {
        let (code, r) = n.http(
            "POST",
            "/api/v1/records",
            Some(
                json!({"kind": "condition", "text": text})
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(code, 201, "{r}");
        if text.starts_with("Type 2") {
            assert!(
                r["body"]["icd10_codes"].as_array().is_some_and(|c| c
                    .iter()
                    .any(|x| x.as_str().is_some_and(|s| s.starts_with("E11")))),
                "conditions are normalized to ICD-10-CM on write: {r}"
            );
        }
    }
    let found = |q: &str| -> Vec<Value> {
        let (code, v) = n.http(
            "GET",
            &format!("/api/v1/search/local?q={}", q.replace(' ', "%20")),
            None,
        );
        assert_eq!(code, 200, "{v}");
        v["hits"].as_array().cloned().unwrap_or_default()
    };
    let diabetes = found("diabetes");
    assert_eq!(
        diabetes.len(),
        1,
        "prediabetes is not diabetes: {diabetes:?}"
    );
    assert_eq!(diabetes[0]["condition"], "Type 2 diabetes mellitus");
    assert!(
        diabetes[0]["explanation"]
            .as_str()
            .is_some_and(|e| e.contains("E11"))
    );
    assert_eq!(diabetes[0]["hash"].as_str().map(str::len), Some(64));
    assert_eq!(found("sore throat").len(), 1);
    assert_eq!(found("pharingitis").len(), 1, "misspelling tolerated");
    assert!(found("zebra stripes disease").is_empty());
    let (code, _) = n.http("GET", "/api/v1/search/local?q=", None);
    assert_eq!(code, 400);
}
