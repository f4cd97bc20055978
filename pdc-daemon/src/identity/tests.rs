//! Unit tests of the parent module.
use super::*;

#[test]
fn create_then_load_and_refuse_overwrite() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = NodeIdentity::create(dir.path()).expect("create");
    for f in [NODE_KEY_FILE, RECORDS_KEY_FILE, TOKEN_FILE] {
        let mode = fs::metadata(dir.path().join(f))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let again = NodeIdentity::load(dir.path()).expect("load");
    assert_eq!(id.account(), again.account());
    assert!(!id.peer_id().is_empty());
    assert!(matches!(
        NodeIdentity::create(dir.path()),
        Err(IdentityError::AlreadyExists { .. })
    ));
}

#[test]
fn readable_key_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().expect("tmp");
    NodeIdentity::create(dir.path()).expect("create");
    let key = dir.path().join(NODE_KEY_FILE);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let msg = NodeIdentity::load(dir.path())
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains(&format!("chmod 600 {}", key.display())),
        "{msg}"
    );
}

#[test]
fn corrupt_key_is_named() {
    let dir = tempfile::tempdir().expect("tmp");
    NodeIdentity::create(dir.path()).expect("create");
    let key = dir.path().join(RECORDS_KEY_FILE);
    fs::write(&key, "zz").expect("write");
    let msg = NodeIdentity::load(dir.path())
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains("records.key") && msg.contains("corrupt"),
        "{msg}"
    );
}

#[test]
fn ct_eq() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}
