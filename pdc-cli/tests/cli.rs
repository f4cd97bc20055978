//! The `pdc` binary on its own: help, and clear errors when there is no node.
//! (Having an integration test here also makes `cargo test --workspace` build the
//! binary that the end-to-end tests in `pdc-tests` drive.)

use std::process::Command;

fn pdc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pdc"));
    c.env_remove("PDC_TOKEN")
        .env_remove("PDC_API")
        .env_remove("PDC_DATA_DIR");
    c
}

#[test]
fn help_lists_every_command() {
    let out = pdc().arg("--help").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "status", "record", "import", "export", "consent", "ledger", "balances", "forks", "search",
        "peers", "rewards", "audit",
    ] {
        assert!(text.contains(cmd), "help lacks {cmd}: {text}");
    }
}

#[test]
fn no_node_in_the_data_dir_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = pdc()
        .arg("--data-dir")
        .arg(dir.path())
        .arg("status")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pdc-daemon init") || err.contains("PDC_TOKEN"),
        "{err}"
    );
}

#[test]
fn bad_price_is_refused_before_any_call() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = pdc()
        .args(["--api", "http://127.0.0.1:9", "--token", "x"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["consent", "grant", &"ab".repeat(32), "--price=-1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--price"));
}
