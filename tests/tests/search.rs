//! The disease search through the real binaries: the evaluation command on the shared
//! development set, and a node searching its own records.

use pdc_tests::{NodeProc, bin, shared_dir};
use serde_json::{Value, json};

#[test]
fn search_eval_meets_targets_on_the_dev_set() {
    let shared = shared_dir();
    let out = std::process::Command::new(bin("pdc-daemon"))
        .arg("search-eval")
        .arg("--queries")
        .arg(shared.join("eval/search-dev.tsv"))
        .arg("--bundles")
        .arg(shared.join("data/fhir"))
        .output()
        .expect("run search-eval");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().expect("output");
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
    assert!(fields[0].1 >= 0.95 && fields[1].1 >= 0.95, "{last}");
    assert!(
        fields[1].1 > fields[3].1,
        "beats the substring baseline on recall: {last}"
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
