//! Unit tests of the parent module.
use super::*;

#[test]
fn create_then_load_and_refuse_overwrite() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = NodeIdentity::create(dir.path()).expect("create");
    for f in [
        NODE_KEY_FILE,
        RECORDS_KEY_FILE,
        ENCRYPTION_KEY_FILE,
        TOKEN_FILE,
    ] {
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

#[test]
fn init_makes_a_private_encryption_key_that_loads_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = NodeIdentity::create(dir.path()).expect("create");
    let path = dir.path().join(ENCRYPTION_KEY_FILE);
    let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Its own key, not the signing key reused.
    assert_ne!(id.encryption_public().0, id.account());
    let again = NodeIdentity::load(dir.path()).expect("load");
    assert_eq!(again.encryption_public(), id.encryption_public());
    // What is sealed to the published key opens with the loaded secret.
    let sealed = crate::seal::seal(&id.encryption_public(), b"t", b"", b"hello").expect("seal");
    assert_eq!(
        crate::seal::open(&again.encryption_secret, b"t", b"", &sealed).expect("open"),
        b"hello"
    );
}

#[test]
fn a_node_made_before_encryption_keys_gets_one_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let id = NodeIdentity::create(dir.path()).expect("create");
    let path = dir.path().join(ENCRYPTION_KEY_FILE);
    fs::remove_file(&path).expect("rm");
    let first = NodeIdentity::load(dir.path()).expect("load creates it");
    assert_eq!(first.account(), id.account(), "the account is untouched");
    assert_ne!(first.encryption_public(), id.encryption_public());
    let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).expect("read");
    assert_eq!(text.trim().len(), 64, "hex like the other keys");
    let second = NodeIdentity::load(dir.path()).expect("load keeps it");
    assert_eq!(second.encryption_public(), first.encryption_public());
}

#[test]
fn readable_or_corrupt_encryption_key_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    NodeIdentity::create(dir.path()).expect("create");
    let path = dir.path().join(ENCRYPTION_KEY_FILE);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
    let msg = NodeIdentity::load(dir.path())
        .expect_err("refused")
        .to_string();
    assert!(
        msg.contains(&format!("chmod 600 {}", path.display())),
        "{msg}"
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::write(&path, "zz").expect("write");
    let msg = NodeIdentity::load(dir.path())
        .expect_err("refused")
        .to_string();
    assert!(msg.contains("enc.key") && msg.contains("corrupt"), "{msg}");
}
