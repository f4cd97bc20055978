//! Unit tests of the parent module.
use super::*;

#[test]
fn example_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("node") && name.ends_with(".toml") {
            let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            cfg.validate().expect("valid");
            n += 1;
        }
    }
    assert!(
        n >= 2,
        "expected example node configs in config/, found {n}"
    );
}

#[test]
fn env_overrides_and_errors() {
    let mut cfg = Config {
        name: "x".into(),
        ..Config::default()
    };
    cfg.apply_env(|k| (k == "PDC_API_LISTEN").then(|| "127.0.0.1:9999".to_string()))
        .expect("ok");
    assert_eq!(cfg.api_listen.port(), 9999);
    let err = cfg.apply_env(|k| (k == "PDC_API_LISTEN").then(|| "nope".to_string()));
    assert!(err.expect_err("bad").to_string().contains("PDC_API_LISTEN"));
}

#[test]
fn unknown_fields_are_refused_with_location() {
    let err = Config::from_toml("name = \"a\"\napi_lisen = \"x\"\n", Path::new("c.toml"))
        .expect_err("typo refused");
    let msg = err.to_string();
    assert!(msg.contains("api_lisen") && msg.contains("c.toml"), "{msg}");
}

#[test]
fn roundtrip_of_written_config() {
    let cfg = Config {
        name: "Alice".into(),
        role: Role::Hospital,
        ..Config::default()
    };
    let back = Config::from_toml(&cfg.to_toml(), Path::new("x")).expect("parses");
    assert_eq!(back.name, "Alice");
    assert_eq!(back.role, Role::Hospital);
    assert_eq!(back.consent.price, 500_000);
}

#[test]
fn connection_limit_follows_the_role_unless_set() {
    assert_eq!(Config::default().max_connections(), 256);
    let hospital = Config {
        role: Role::Hospital,
        ..Config::default()
    };
    assert_eq!(hospital.max_connections(), 1024);
    let set: Config = toml::from_str("p2p_max_connections = 50").expect("parse");
    assert_eq!(set.max_connections(), 50);
    // Zero would mean no network at all.
    let zero: Config = toml::from_str("p2p_max_connections = 0").expect("parse");
    assert_eq!(zero.max_connections(), 1);
}

#[test]
fn connection_target_follows_the_role_unless_set_and_never_exceeds_the_limit() {
    assert_eq!(Config::default().connection_target(), 32);
    let hospital = Config {
        role: Role::Hospital,
        ..Config::default()
    };
    assert_eq!(hospital.connection_target(), 256);
    let set: Config = toml::from_str("p2p_connection_target = 8").expect("parse");
    assert_eq!(set.connection_target(), 8);
    let above: Config =
        toml::from_str("p2p_max_connections = 20\np2p_connection_target = 64").expect("parse");
    assert_eq!(above.connection_target(), 20);
}
