//! The genesis file: documented seeds, parsing, hash stability, specific errors.

use super::*;

#[test]
fn demo_genesis_keys_follow_the_documented_seeds() {
    let g = Genesis::parse(include_str!("../../../../config/genesis.toml")).unwrap();
    for (name, account) in g.names() {
        let seed = blake3::hash(format!("secnet-demo/{name}").as_bytes());
        let key = SigningKey::from_bytes(seed.as_bytes());
        assert_eq!(*account, AccountId::from(&key.verifying_key()), "{name}");
    }
}

#[test]
fn example_genesis_parses() {
    let g = Genesis::parse(include_str!("../../../../config/genesis.toml")).unwrap();
    assert_eq!(g.network_id(), "secnet-demo");
    assert_eq!(g.default_price(), 500_000);
    assert!(!g.balances().is_empty());
    assert!(g.names().contains_key("Hospital1"));
}

#[test]
fn genesis_hash_ignores_layout_and_entry_order() {
    let a = actor(1).id;
    let b = actor(2).id;
    let one = format!(
        "network_id = \"n\"\n[[balances]]\naccount = \"{a}\"\namount = 5\n[[balances]]\naccount = \"{b}\"\namount = 7\n"
    );
    let two = format!(
        "# comment\nbalances = [ {{ account = \"{b}\", amount = 7 }},\n  {{ account = \"{a}\", amount = 5 }} ]\nnetwork_id=\"n\"\ndefault_price = 500000\n"
    );
    let g1 = Genesis::parse(&one).unwrap();
    let g2 = Genesis::parse(&two).unwrap();
    assert_eq!(g1.hash(), g2.hash());
    let g3 = Genesis::parse(&one.replace("amount = 7", "amount = 8")).unwrap();
    assert_ne!(g1.hash(), g3.hash());
    let g4 = Genesis::parse(&format!("default_price = 1\n{one}")).unwrap();
    assert_ne!(g1.hash(), g4.hash());
}

#[test]
fn genesis_errors_are_specific() {
    let a = actor(1).id;
    assert!(matches!(
        Genesis::parse("network_id = \"\""),
        Err(GenesisError::EmptyNetworkId)
    ));
    assert!(matches!(
        Genesis::parse("network_id = \"n\"\nbalances = [{ account = \"zz\", amount = 1 }]"),
        Err(GenesisError::BadAccount { .. })
    ));
    let dup = format!(
        "network_id = \"n\"\nbalances = [{{ account = \"{a}\", amount = 1 }}, {{ account = \"{a}\", amount = 2 }}]"
    );
    assert!(matches!(
        Genesis::parse(&dup),
        Err(GenesisError::DuplicateAccount(_))
    ));
    assert!(matches!(
        Genesis::parse("network_id = \"n\"\ndefault_prize = 3"),
        Err(GenesisError::Toml(m)) if m.contains("default_prize")
    ));
    let much = format!(
        "network_id = \"n\"\nbalances = [{{ account = \"{a}\", amount = 9223372036854775808 }}]"
    );
    assert!(Genesis::parse(&much).is_err());
}
