//! A full disk: writes fail with a clear "disk full" error, nothing acknowledged is lost,
//! and nothing half-written appears.
//!
//! Uses a small tmpfs so the disk really fills; mounting needs root (CI runs as root).
//! The store alone, then the real daemon with a peer.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pdc_daemon::config::{Config, Role};
use pdc_daemon::ledger::AccountId;
use pdc_daemon::node::{Node, init};
use pdc_daemon::records::{RecordStore, new_id, now_ms};
use pdc_daemon::store::{Store, StoreError};
use pdc_proto::records::{Note, Record, record::Body};
use serde_json::Value;

struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// Mounts a tmpfs of `size` on a fresh directory. `None` (the test skips, saying so)
/// only where mounting cannot work: not root and not CI.
fn tmpfs(size: &str) -> Option<Tmpfs> {
    let dir = tempfile::tempdir().expect("tmp");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        return Some(Tmpfs(dir));
    }
    // CI runs as root: there a failed mount is a broken run, not a reason to pass.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    assert!(
        !root && std::env::var_os("CI").is_none(),
        "cannot mount a tmpfs although running as root or in CI: the full-disk path must be tested here"
    );
    eprintln!(
        "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk path is untested in this run"
    );
    None
}

/// Grows the tmpfs, as an operator freeing space would.
fn grow(fs: &Tmpfs, size: &str) {
    let grown = Command::new("mount")
        .args(["-o", &format!("remount,size={size}")])
        .arg(fs.0.path())
        .status();
    assert!(grown.is_ok_and(|s| s.success()), "remount the tmpfs");
}

#[tokio::test]
async fn full_disk_is_reported_and_acknowledged_writes_survive() {
    let Some(fs) = tmpfs("6m") else {
        return;
    };
    let db = fs.0.path().join("db");
    let mut acked = Vec::new();
    let mut refused = None;
    let failure = {
        let store = Store::open(&db).expect("open");
        let rs = RecordStore::new(store.clone(), &[7u8; 32]);
        let mut failure = None;
        for i in 0..100_000 {
            let r = Record {
                id: new_id(),
                created_ms: now_ms(),
                updated_ms: now_ms(),
                salt: Vec::new(),
                body: Some(Body::Note(Note {
                    title: format!("n{i}"),
                    text: "x".repeat(4096),
                })),
            };
            let id = r.id.clone();
            match rs.put(r).await {
                Ok(_) => acked.push(id),
                Err(e) => {
                    refused = Some(id);
                    failure = Some(e);
                    break;
                }
            }
        }
        store.close().await;
        failure
    };
    let err = failure.expect("a 6 MiB disk fills up");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            pdc_daemon::records::RecordError::Store(StoreError::DiskFull(_))
        ),
        "expected a disk-full error, got: {msg}"
    );
    assert!(
        msg.contains("disk full") && msg.contains("free disk space"),
        "{msg}"
    );
    assert!(!acked.is_empty());

    // Make room (as an operator would), reopen: every acknowledged record is there, intact.
    grow(&fs, "64m");
    let store = Store::open(&db).expect("reopen after freeing space");
    let rs = RecordStore::new(store.clone(), &[7u8; 32]);
    let listed = rs.list().await.expect("list decrypts every stored record");
    let ids: std::collections::HashSet<String> =
        listed.iter().map(|s| s.record.id.clone()).collect();
    let lost = acked.iter().filter(|id| !ids.contains(*id)).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} acknowledged writes lost",
        acked.len()
    );
    assert_eq!(
        ids.len(),
        acked.len(),
        "the store holds exactly the acknowledged records"
    );
    let refused = refused.expect("the refused write's id");
    assert!(
        !ids.contains(&refused),
        "the write that failed with disk full is not half-there"
    );
    store.close().await;
}

/// One HTTP request to a daemon's API with its bearer token; status and JSON body.
fn call(api: &str, token: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(api).expect("connect to the daemon's API");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let body = body.unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&resp[..at]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = serde_json::from_slice(&resp[at + 4..]).unwrap_or(Value::Null);
    (status, json)
}

/// A daemon process, killed when dropped (also when an assertion fails first, so the
/// tmpfs it has open can be unmounted).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real daemon on `dir`, bootstrapping to `boot`; returns it and its API address.
fn spawn_daemon(dir: &Path, genesis: &Path, boot: &str) -> (Daemon, String) {
    let _ = std::fs::remove_file(dir.join("api.addr"));
    let log = std::fs::File::create(
        std::env::temp_dir().join(format!("pdc-disk-full-{}.log", std::process::id())),
    )
    .expect("log");
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_pdc-daemon"))
            .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("PDC_GENESIS", genesis)
            .env("PDC_BOOTSTRAP", boot)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pdc-daemon"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The file may be read half-written: ready once the address takes connections.
        if let Ok(a) = std::fs::read_to_string(dir.join("api.addr"))
            && std::net::TcpStream::connect(a.trim()).is_ok()
        {
            return (daemon, a.trim().to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The patient's own chain head (seq, hash) as its API reports it.
fn own_head(api: &str, token: &str, account: &str) -> (u64, String) {
    let (code, v) = call(api, token, "GET", "/api/v1/ledger/heads", None);
    assert_eq!(code, 200, "{v}");
    v["heads"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["author"] == account))
        .map(|h| {
            (
                h["seq"].as_u64().unwrap_or(0),
                h["hash"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .expect("own head")
}

async fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The daemon on a disk that fills up: record writes and a ledger append (a consent
/// grant) are refused with HTTP 507 `disk_full`; the grant that failed is not in
/// force and never reaches the peer; after a crash and more space, every acknowledged
/// record is there and the chain goes on from its durable head, so the peer, which
/// holds every block it was given, sees no fork.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_records_and_grants_with_507_and_no_peer_gets_a_block_the_node_could_forget()
 {
    let Some(fs) = tmpfs("16m") else {
        return;
    };
    let pdir = fs.0.path().join("alice");
    let alice = init(&pdir, Role::Patient, "Alice").expect("init on the small disk");
    let token = std::fs::read_to_string(pdir.join("api.token"))
        .expect("token")
        .trim()
        .to_owned();
    let hdir = tempfile::tempdir().expect("tmp");
    let clinic = init(hdir.path(), Role::Hospital, "Clinic").expect("init");
    let genesis_text = format!(
        "network_id = \"disk-full\"\ndefault_price = 500000\n\
         [[balances]]\naccount = \"{}\"\namount = 1000000000\n",
        clinic.account
    );
    let genesis = hdir.path().join("genesis.toml");
    std::fs::write(&genesis, &genesis_text).expect("genesis");
    let mut cfg = Config::load(&hdir.path().join("config.toml")).expect("config");
    cfg.genesis = Some("genesis.toml".into());
    let hospital = Node::open(cfg).await.expect("open the clinic");
    let (net, _task) = pdc_daemon::peering::start(hospital.clone())
        .await
        .expect("network");
    let listen = net.listen_addrs().await.expect("addrs");
    let boot = format!("{}/p2p/{}", listen[0], net.local_peer_id());
    let patient: AccountId = alice.account.parse().expect("account");

    let (daemon, api) = spawn_daemon(&pdir, &genesis, &boot);
    let grant = |api: &str, purpose: &str| {
        let body = format!(
            r#"{{"grantee":"{}","purposes":["{purpose}"]}}"#,
            clinic.account
        );
        call(api, &token, "POST", "/api/v1/consents", Some(&body))
    };
    let (code, v) = grant(&api, "treatment");
    assert_eq!(code, 201, "{v}");
    let held = |seq: u64| {
        hospital
            .ledger()
            .read(|l| l.head(&patient).is_some_and(|h| h.seq >= seq))
    };
    let (seq, _) = own_head(&api, &token, &alice.account);
    wait_until(30, "the clinic to hold the grant", || held(seq)).await;

    // Fill the disk with notes until a write is refused.
    let note = "x".repeat(16 * 1024);
    let mut acked = Vec::new();
    let (code, refusal) = loop {
        let body = format!(
            r#"{{"kind":"note","title":"n{}","text":"{note}"}}"#,
            acked.len()
        );
        match call(&api, &token, "POST", "/api/v1/records", Some(&body)) {
            (201, v) => acked.push(v["id"].as_str().unwrap_or_default().to_owned()),
            other => break other,
        }
        assert!(acked.len() < 10_000, "a 16 MiB disk fills up");
    };
    assert_eq!(
        (code, refusal["error"].as_str()),
        (507, Some("disk_full")),
        "{refusal}"
    );
    let detail = refusal["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("disk full") && detail.contains("free disk space"),
        "{detail}"
    );
    assert!(!acked.is_empty());

    // A ledger append on the full disk: refused the same way, and not in force.
    let (before, before_hash) = own_head(&api, &token, &alice.account);
    let (code, v) = grant(&api, "research");
    assert_eq!((code, v["error"].as_str()), (507, Some("disk_full")), "{v}");
    let (_, consents) = call(&api, &token, "GET", "/api/v1/consents", None);
    let research = consents["consents"].as_array().map_or(0, |cs| {
        cs.iter()
            .filter(|c| c["purposes"].to_string().contains("research"))
            .count()
    });
    assert_eq!(research, 0, "a refused grant is not in force: {consents}");
    assert_eq!(
        own_head(&api, &token, &alice.account),
        (before, before_hash.clone()),
        "the chain is back at its durable head: the next block does not build on the lost one"
    );

    // A crash, then room: every acknowledged record is back, the failed block is not,
    // and the next block follows the durable head.
    drop(daemon); // SIGKILL
    grow(&fs, "64m");
    let (daemon, api) = spawn_daemon(&pdir, &genesis, &boot);
    let (code, list) = call(&api, &token, "GET", "/api/v1/records", None);
    assert_eq!(code, 200, "{list}");
    let ids: std::collections::HashSet<&str> = list["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(
        acked.iter().all(|id| ids.contains(id.as_str())),
        "every acknowledged record survives"
    );
    assert_eq!(
        own_head(&api, &token, &alice.account),
        (before, before_hash),
        "the restarted node is at its durable head"
    );
    let (code, v) = grant(&api, "research");
    assert_eq!(code, 201, "{v}");
    let (after, after_hash) = own_head(&api, &token, &alice.account);
    assert_eq!(after, before + 1);
    wait_until(30, "the clinic to hold the new grant", || held(after)).await;
    let (clinic_hash, forks) = hospital.ledger().read(|l| {
        (
            l.head(&patient).map(|h| h.hash.to_string()),
            l.fork_proofs().count(),
        )
    });
    assert_eq!(clinic_hash.as_deref(), Some(after_hash.as_str()));
    assert_eq!(
        forks, 0,
        "the clinic never held the block the node lost in the crash, so no fork"
    );
    drop(daemon);
    let _ = net.shutdown().await;
}
