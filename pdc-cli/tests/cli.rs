//! The `pdc` binary on its own: clear errors before it reaches any node. Every command
//! of its help is run against real nodes in `tests/tests/cli.rs`. (Having an
//! integration test here also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in `pdc-tests` drive.)

use std::process::Command;

fn pdc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pdc"));
    c.env_remove("PDC_TOKEN")
        .env_remove("PDC_API")
        .env_remove("PDC_DATA_DIR");
    c
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
    // Then the OS's reason (no such file).
    let want = format!(
        "error: no node at {} (no config.toml); pass --data-dir DIR or create one with `pdc-daemon init`",
        dir.path().display()
    );
    assert!(err.starts_with(&want), "{err}");
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
    // Refused by pdc itself: nothing listens on port 9, so a call would fail differently.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: --price must be a non-negative number of credits"
    );
}
