//! The ledger survives a restart of its store: blocks, heads, balances and fork proofs
//! reload to the same state, and a damaged block is reported, not trusted.

use ed25519_dalek::SigningKey;
use pdc_daemon::ledger::{
    AccountId, Genesis, Ingested, Kind, Ledger, LedgerConfig, LedgerDb, Receive, Register, Send,
};
use pdc_daemon::store::{Batch, Store, cf};

const NOW: u64 = 1_800_000_000_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn acct(k: &SigningKey) -> AccountId {
    AccountId(k.verifying_key().to_bytes())
}

async fn append(
    ledger: &mut Ledger,
    db: &LedgerDb,
    next: &mut u64,
    k: &SigningKey,
    body: Kind,
    t: u64,
) -> pdc_daemon::ledger::BlockHash {
    let block = ledger
        .prepare(&acct(k), body, t)
        .expect("prepare")
        .sign(k)
        .expect("sign");
    let hash = block.hash();
    let Ingested::Applied { stored } = ledger.ingest(block, t).expect("ingest") else {
        panic!("not applied")
    };
    db.commit(LedgerDb::batch(ledger, &stored, None, next))
        .await
        .expect("commit");
    hash
}

#[tokio::test]
async fn reload_gives_the_same_state_and_damage_is_reported() {
    let (h, p) = (key(1), key(2));
    let genesis = Genesis::new("test-net", 500_000)
        .with_balance(acct(&h), 10_000_000)
        .expect("genesis");
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    let db = LedgerDb::new(store.clone());
    let mut ledger = Ledger::new(genesis.clone(), LedgerConfig::default());
    let mut next = 0;
    let reg = |role: &str, name: &str| {
        Kind::Register(Register {
            role: role.into(),
            display_name: name.into(),
            listen_addrs: vec![],
            encryption_key: Vec::new(),
        })
    };
    append(&mut ledger, &db, &mut next, &h, reg("hospital", "H"), NOW).await;
    append(&mut ledger, &db, &mut next, &p, reg("patient", "P"), NOW).await;
    let send = append(
        &mut ledger,
        &db,
        &mut next,
        &h,
        Kind::Send(Send {
            to: acct(&p).0.to_vec(),
            amount: 500_000,
            access_ref: vec![],
        }),
        NOW + 1,
    )
    .await;
    append(
        &mut ledger,
        &db,
        &mut next,
        &p,
        Kind::Receive(Receive {
            send_hash: send.0.to_vec(),
            sender: acct(&h).0.to_vec(),
            send_seq: 2,
        }),
        NOW + 2,
    )
    .await;
    let later = NOW + 3_600_000;
    let before = ledger.snapshot(later);
    store.close().await;
    drop((db, store));

    let store = Store::open(dir.path()).expect("reopen");
    let db = LedgerDb::new(store.clone());
    let (reloaded, next2) = db
        .load(genesis.clone(), LedgerConfig::default(), later)
        .expect("load");
    assert_eq!(next2, next);
    assert_eq!(
        reloaded.snapshot(later),
        before,
        "reloaded state equals the state before the restart"
    );
    assert_eq!(reloaded.balance(&acct(&p), later).confirmed, 500_000);
    let report = db
        .verify(genesis.clone(), LedgerConfig::default(), later)
        .expect("verify");
    assert_eq!(report.first_bad, None);
    assert_eq!((report.blocks, report.links), (4, 4));

    // Flip one byte of the stored Send: its signature no longer verifies.
    let mut bytes = store
        .get(cf::BLOCKS, send.0.to_vec())
        .await
        .expect("get")
        .expect("stored");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let mut b = Batch::new();
    b.put(cf::BLOCKS, send.0.to_vec(), bytes);
    store.commit(b).await.expect("tamper");
    let report = db
        .verify(genesis.clone(), LedgerConfig::default(), later)
        .expect("verify runs");
    let bad = report.first_bad.expect("damage found");
    assert!(bad.contains(&send.to_string()), "{bad}");
    let err = db
        .load(genesis, LedgerConfig::default(), later)
        .expect_err("refuses to load damaged ledger");
    assert!(err.to_string().contains("pdc ledger verify"), "{err}");
}

/// Copies a directory tree as it is at this instant (a crash image of a live database).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_batch_ingest_is_on_disk_when_it_returns() {
    use pdc_daemon::config::{Config, Role};
    use pdc_daemon::ledger::{LedgerError, VerifiedBlock};
    use pdc_daemon::node::{DB_DIR, Node, init};

    let (h, p) = (key(1), key(2));
    let dir = tempfile::tempdir().expect("tmp");
    init(dir.path(), Role::Patient, "N").expect("init");
    let genesis_text = format!(
        "network_id = \"test-net\"\ndefault_price = 500000\n[[balances]]\naccount = \"{}\"\namount = 10000000\n",
        acct(&h)
    );
    std::fs::write(dir.path().join("genesis.toml"), &genesis_text).expect("genesis");
    let mut cfg = Config::load(&dir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    let node = Node::open(cfg.clone()).await.expect("open");

    // A history by two other accounts, built elsewhere.
    let mut elsewhere = Ledger::new(node.genesis().clone(), LedgerConfig::default());
    let mut blocks: Vec<VerifiedBlock> = Vec::new();
    let mut sign = |l: &mut Ledger, k: &SigningKey, body: Kind| {
        let b = l
            .prepare(&acct(k), body, NOW)
            .expect("prepare")
            .sign(k)
            .expect("sign");
        l.ingest(b.clone(), NOW).expect("ingest");
        blocks.push(b.clone());
        b
    };
    let reg = |role: &str| {
        Kind::Register(Register {
            role: role.into(),
            display_name: role.into(),
            listen_addrs: vec![],
            encryption_key: Vec::new(),
        })
    };
    sign(&mut elsewhere, &h, reg("hospital"));
    sign(&mut elsewhere, &p, reg("patient"));
    for _ in 0..20 {
        let s = sign(
            &mut elsewhere,
            &h,
            Kind::Send(Send {
                to: acct(&p).0.to_vec(),
                amount: 1_000,
                access_ref: vec![],
            }),
        );
        sign(
            &mut elsewhere,
            &p,
            Kind::Receive(Receive {
                send_hash: s.hash().0.to_vec(),
                sender: acct(&h).0.to_vec(),
                send_seq: s.seq(),
            }),
        );
    }
    let mut bytes: Vec<Vec<u8>> = blocks.iter().map(|b| b.bytes().to_vec()).collect();
    // A forged copy of one block in the middle: refused alone, the rest still stored.
    let mut forged = blocks[10].to_signed().expect("signed");
    forged.signature[0] ^= 1;
    bytes.insert(11, pdc_proto::Message::encode_to_vec(&forged));

    let results = node
        .ledger()
        .ingest_remote_batch(bytes)
        .await
        .expect("durable");
    assert_eq!(results.len(), blocks.len() + 1);
    assert_eq!(
        results[11],
        Err(LedgerError::BadSignature {
            author: blocks[10].author()
        })
    );
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(i, r)| i == 11 || matches!(r, Ok(Ingested::Applied { .. })))
    );

    // The database files as they are now, with the node still running: what a crash
    // at this instant would leave behind. Everything the call stored is in them.
    let image = tempfile::tempdir().expect("tmp");
    copy_dir(&dir.path().join(DB_DIR), image.path());
    let store = Store::open(image.path()).expect("open image");
    let (reloaded, _) = LedgerDb::new(store.clone())
        .load(node.genesis().clone(), LedgerConfig::default(), NOW)
        .expect("load image");
    for b in &blocks {
        assert!(
            reloaded.block(&b.hash()).is_some(),
            "block {} on disk",
            b.seq()
        );
    }
    assert_eq!(
        reloaded.snapshot(NOW),
        node.ledger().read(|l| l.snapshot(NOW)),
        "the crash image folds to the live state"
    );
    store.close().await;
}
