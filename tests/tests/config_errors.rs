//! Guard settings from the environment, through the real daemon binary: what the config
//! documentation promises is what `pdc-daemon run` accepts, and a refusal says so once.

use pdc_tests::{NodeProc, bin};

/// Runs `pdc-daemon run` on `n`'s data dir with one extra variable; returns its stderr.
fn run_with(n: &NodeProc, var: &str, value: &str) -> (bool, String) {
    let out = std::process::Command::new(bin("pdc-daemon"))
        .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
        .arg(n.path())
        .env(var, value)
        .output()
        .expect("run daemon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_deny_threshold_above_one_is_accepted_as_documented() {
    // config.rs: "Above 1.0 the score never denies (the hard limits still do)".
    let mut n = NodeProc::init("patient", "Ida");
    n.env
        .push(("PDC_GUARD_DENY_THRESHOLD".into(), "1.5".into()));
    n.start();
    let (code, _) = n.http("GET", "/api/v1/status", None);
    assert_eq!(code, 200, "the node runs with deny_threshold 1.5");
}

#[test]
fn an_invalid_guard_threshold_is_refused_with_one_clear_message() {
    let n = NodeProc::init("patient", "Ivo");
    // Below the default flag threshold (0.7): flagging would start above denying.
    let (ok, err) = run_with(&n, "PDC_GUARD_DENY_THRESHOLD", "0.5");
    assert!(!ok, "refused: {err}");
    assert!(err.contains("flag_threshold <= deny_threshold"), "{err}");
    assert_eq!(
        err.matches("invalid guard config").count(),
        1,
        "said once: {err}"
    );
}
