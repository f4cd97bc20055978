//! `pdc-daemon guard-eval` through the real binary: a generated trace written to a
//! file and replayed from it scores exactly as the in-memory run of the same seed,
//! and a malformed trace is refused with its line number and a non-zero exit.

use std::process::{Command, Output};

use pdc_tests::bin;

fn guard_eval(args: &[&str]) -> Output {
    Command::new(bin("pdc-daemon"))
        .arg("guard-eval")
        .args(args)
        .output()
        .expect("run pdc-daemon guard-eval")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "guard-eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The machine-read last line: six named rates with 4 decimals, the original four first.
fn assert_summary(last: &str) {
    let names = [
        "detection",
        "fpr",
        "baseline_detection",
        "baseline_fpr",
        "zscore_detection",
        "zscore_fpr",
    ];
    let rest = last
        .strip_prefix("total ")
        .unwrap_or_else(|| panic!("{last}"));
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(fields.len(), names.len(), "{last}");
    for (field, name) in fields.iter().zip(names) {
        let value = field
            .strip_prefix(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} in {last}"));
        let (int, dec) = value.split_once('.').unwrap_or_else(|| panic!("{last}"));
        assert_eq!(dec.len(), 4, "{last}");
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("{last}"));
        assert!((0.0..=1.0).contains(&v) && int.len() == 1, "{last}");
    }
}

#[test]
fn a_written_trace_replays_like_the_in_memory_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("shifted-3.jsonl");
    let path = file.to_str().expect("utf-8 path");
    let wrote = stdout(&guard_eval(&[
        "--write-traffic",
        path,
        "--seed",
        "3",
        "--generator",
        "shifted",
    ]));
    assert!(wrote.starts_with("wrote "), "{wrote}");
    let text = std::fs::read_to_string(&file).expect("trace written");
    let first: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a line")).expect("JSON line");
    for field in [
        "time_ms",
        "requester",
        "query",
        "purpose",
        "records",
        "label",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert!(text.contains(r#""label":{"kind":"drift","episode":"#));

    let replayed = stdout(&guard_eval(&["--traffic", path]));
    let in_memory = stdout(&guard_eval(&["--seed", "3", "--generator", "shifted"]));
    let last = replayed.lines().last().unwrap_or_default();
    assert_summary(last);
    assert_eq!(
        Some(last),
        in_memory.lines().last(),
        "file replay and in-memory run differ"
    );
    assert!(replayed.contains("slow drift"), "{replayed}");
    assert!(replayed.contains("(via newcomer)"), "{replayed}");
}

#[test]
fn a_malformed_trace_is_refused_with_its_line_number() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bad.jsonl");
    let good = r#"{"time_ms":1000,"requester":"h1","staff_user":"s1","query":"asthma","purpose":"treatment","records":1,"label":{"kind":"normal"}}"#;
    let bad = r#"{"time_ms":2000,"requester":"h1","query":"asthma","purpose":"treatment","label":{"kind":"scrape"}}"#;
    std::fs::write(&file, format!("{good}\n{bad}\n")).expect("write trace");
    let out = guard_eval(&["--traffic", file.to_str().expect("utf-8 path")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(
        err.contains("trace line 2: an attack label (scrape) needs an episode id"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no report for a bad trace");

    let missing = guard_eval(&["--traffic", "/nonexistent/trace.jsonl"]);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        err.contains("cannot read trace /nonexistent/trace.jsonl"),
        "{err}"
    );
}
