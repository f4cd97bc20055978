//! `pdc-daemon demo`: the paper's network in one process, for a first look.
//!
//! Hospital1 and Hospital2 (the demo genesis' funded hospitals, whose keys come from
//! public seeds), patient Alice (type 2 diabetes, shares with Hospital1 only), a few
//! patients imported from FHIR bundles, and one new patient node waiting for its owner
//! to register in the browser. Every node is a full node: its own RocksDB, its own keys,
//! real libp2p on loopback, its own portal. Demo logins use the node's name as password
//! (Hospital1 / Hospital1, as in the paper), which only this command allows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use pdc_proto::api::{GrantInput, Purpose, RecordInput};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::config::{Config, Role};
use crate::daemon::Running;
use crate::identity::NodeIdentity;
use crate::node::Node;
use crate::web::users;

/// File in the demo directory describing the running demo (URLs, logins), for scripts
/// and tests.
pub const DEMO_FILE: &str = "demo.json";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the nodes keep their data. `None`: a fresh temporary directory, removed
    /// when the demo stops. A given directory is kept, and a second run reuses it.
    pub dir: Option<PathBuf>,
    /// First API/portal port; node `i` listens on `port_base + i`. 0: any free ports.
    pub port_base: u16,
    /// Directory of FHIR bundles to import as extra patients.
    pub fhir: Option<PathBuf>,
    /// How many of those bundles to import.
    pub fhir_patients: usize,
}

/// What a demo node is set up with on first start.
#[derive(Debug, Clone)]
enum Setup {
    Hospital,
    Alice,
    Fhir(PathBuf),
    NewPatient,
}

#[derive(Debug, Clone)]
struct Spec {
    slug: String,
    name: String,
    role: Role,
    setup: Setup,
}

/// The demo genesis' signing seed of a well-known name (see config/genesis.toml).
fn demo_seed(name: &str) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(*blake3::hash(format!("secnet-demo/{name}").as_bytes()).as_bytes())
}

fn demo_account(name: &str) -> String {
    let key = ed25519_dalek::SigningKey::from_bytes(&demo_seed(name));
    hex::encode(key.verifying_key().to_bytes())
}

/// The name of a bundle's patient, read without storing anything.
fn bundle_patient_name(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let recs = crate::records::fhir::import_bundle(&bytes)
        .with_context(|| format!("{} is not a valid FHIR bundle", path.display()))?;
    recs.iter()
        .find_map(|r| match &r.body {
            Some(pdc_proto::records::record::Body::Profile(p)) => Some(p.display_name.clone()),
            _ => None,
        })
        .filter(|n| !n.trim().is_empty())
        .with_context(|| format!("{} has no named Patient", path.display()))
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn specs(opts: &DemoOptions) -> anyhow::Result<Vec<Spec>> {
    let mut out = vec![
        Spec {
            slug: "hospital1".into(),
            name: "Hospital1".into(),
            role: Role::Hospital,
            setup: Setup::Hospital,
        },
        Spec {
            slug: "hospital2".into(),
            name: "Hospital2".into(),
            role: Role::Hospital,
            setup: Setup::Hospital,
        },
        Spec {
            slug: "alice".into(),
            name: "Alice".into(),
            role: Role::Patient,
            setup: Setup::Alice,
        },
    ];
    if let Some(dir) = &opts.fhir
        && opts.fhir_patients > 0
    {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading FHIR directory {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files.into_iter().take(opts.fhir_patients) {
            let name = bundle_patient_name(&f)?;
            out.push(Spec {
                slug: slug(&name),
                name,
                role: Role::Patient,
                setup: Setup::Fhir(f),
            });
        }
    }
    out.push(Spec {
        slug: "new-patient".into(),
        name: "New patient".into(),
        role: Role::Patient,
        setup: Setup::NewPatient,
    });
    Ok(out)
}

/// Environment overrides that make sense for every demo node (timeouts, session idle
/// time, log level); names, addresses and genesis are the demo's own.
fn demo_env(k: &str) -> Option<String> {
    const OWN: &[&str] = &[
        "PDC_NAME",
        "PDC_API_LISTEN",
        "PDC_GENESIS",
        "PDC_BOOTSTRAP",
        "PDC_P2P_LISTEN",
    ];
    if OWN.contains(&k) {
        None
    } else {
        std::env::var(k).ok()
    }
}

async fn start_node(
    dir: &Path,
    spec: &Spec,
    port: u16,
    bootstrap: Vec<String>,
) -> anyhow::Result<Running> {
    let data_dir = dir.join(&spec.slug);
    if !data_dir.join(crate::identity::NODE_KEY_FILE).exists() {
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let seed = match spec.setup {
            Setup::Hospital => Some(demo_seed(&spec.name)),
            _ => None,
        };
        match seed {
            Some(s) => NodeIdentity::create_with_seed(&data_dir, s)?,
            None => NodeIdentity::create(&data_dir)?,
        };
    }
    let mut cfg = Config {
        data_dir,
        role: spec.role,
        name: spec.name.clone(),
        api_listen: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        bootstrap,
        ..Config::default()
    };
    cfg.apply_env(demo_env)?;
    cfg.validate()?;
    crate::daemon::start(cfg)
        .await
        .with_context(|| format!("starting {}", spec.name))
}

/// First-start data of one node. Returns the demo login, if the node has one.
async fn set_up(node: &Arc<Node>, spec: &Spec) -> anyhow::Result<Option<(String, String)>> {
    let hospital1 = demo_account("Hospital1");
    let hospital2 = demo_account("Hospital2");
    let api_err =
        |what: &str, e: crate::service::ServiceError| anyhow::anyhow!("{}: {what}: {e}", spec.name);
    let add = |r: RecordInput| {
        let node = node.clone();
        async move { crate::service::records::add(&node, r).await }
    };
    let grant = |to: String| {
        let node = node.clone();
        async move {
            let g = GrantInput {
                grantee: to,
                purposes: vec![
                    Purpose::Treatment.as_str().into(),
                    Purpose::Research.as_str().into(),
                ],
                ..GrantInput::default()
            };
            crate::service::consent::grant(&node, g).await
        }
    };
    let login = match &spec.setup {
        Setup::NewPatient => return Ok(None),
        Setup::Hospital => spec.name.clone(),
        Setup::Alice => {
            let profile = RecordInput::Profile {
                display_name: "Alice".into(),
                pseudonym: String::new(),
                birth_date: String::new(),
                gender: String::new(),
            };
            add(profile).await.map_err(|e| api_err("profile", e))?;
            for c in ["Type 2 diabetes mellitus", "Essential hypertension"] {
                let condition = RecordInput::Condition {
                    text: c.into(),
                    status: None,
                    onset: None,
                };
                add(condition).await.map_err(|e| api_err("condition", e))?;
            }
            grant(hospital1).await.map_err(|e| api_err("consent", e))?;
            "Alice".into()
        }
        Setup::Fhir(path) => {
            let bytes = std::fs::read(path)?;
            crate::service::records::fhir_import(node, bytes)
                .await
                .map_err(|e| api_err("FHIR import", e))?;
            grant(hospital1).await.map_err(|e| api_err("consent", e))?;
            grant(hospital2).await.map_err(|e| api_err("consent", e))?;
            spec.name.clone()
        }
    };
    users::create(node.store(), &login, &login, true, 0)
        .await
        .map_err(|e| anyhow::anyhow!("{}: creating the demo login: {e}", spec.name))?;
    Ok(Some((login.clone(), login)))
}

/// Runs the demo until `shutdown` resolves.
pub async fn run(
    opts: DemoOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (dir, temporary) = demo_dir(&opts);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let info_path = dir.join(DEMO_FILE);
    let fresh = !info_path.exists();
    let specs = specs(&opts)?;
    let running = start_all(&dir, &specs, opts.port_base).await?;

    let previous: Value = if fresh {
        Value::Null
    } else {
        serde_json::from_slice(&std::fs::read(&info_path)?).unwrap_or(Value::Null)
    };
    let rows = node_rows(&specs, &running, fresh, &previous).await?;

    // Let the grants reach the hospitals before anyone searches.
    if fresh {
        wait_for_grants(&specs, &running).await;
    }

    let info = json!({ "dir": dir.display().to_string(), "nodes": rows });
    // Holds the demo passwords: 0600 like every secret, replaced atomically.
    let tmp = info_path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::identity::write_secret_file(&tmp, &serde_json::to_vec_pretty(&info)?)?;
    std::fs::rename(&tmp, &info_path)?;
    print_table(&info, temporary);

    let failed = serve_until(running, shutdown).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(e) = failed {
        bail!("a demo node did not stop cleanly: {e}");
    }
    println!("demo stopped");
    Ok(())
}

/// The demo's directory, and whether it is a temporary one to remove at exit.
fn demo_dir(opts: &DemoOptions) -> (PathBuf, bool) {
    match &opts.dir {
        Some(d) => (d.clone(), false),
        None => {
            let d = std::env::temp_dir().join(format!(
                "pdc-demo-{}-{}",
                std::process::id(),
                crate::records::new_id()
            ));
            (d, true)
        }
    }
}

/// Starts every node of `specs`, Hospital1 first: every other node bootstraps from it.
async fn start_all(dir: &Path, specs: &[Spec], port_base: u16) -> anyhow::Result<Vec<Running>> {
    let port = |i: usize| -> anyhow::Result<u16> {
        if port_base == 0 {
            return Ok(0);
        }
        u16::try_from(usize::from(port_base) + i)
            .ok()
            .filter(|p| *p > 0)
            .context("--port-base is too high for all demo nodes")
    };
    let mut running: Vec<Running> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let bootstrap = running
            .first()
            .map(|r| r.p2p_addrs.clone())
            .unwrap_or_default();
        let r = start_node(dir, spec, port(i)?, bootstrap)
            .await
            .with_context(|| {
                if port_base == 0 {
                    String::new()
                } else {
                    format!(
                        "port {} may be in use: choose other ports with --port-base, or 0 for any free ports",
                        usize::from(port_base) + i
                    )
                }
            })?;
        running.push(r);
    }
    Ok(running)
}

/// One row of the demo file per node: its addresses, account and login. A fresh demo
/// sets each node up; a reused one takes the logins from the `previous` demo file.
async fn node_rows(
    specs: &[Spec],
    running: &[Running],
    fresh: bool,
    previous: &Value,
) -> anyhow::Result<Vec<Value>> {
    let mut rows = Vec::new();
    for (spec, r) in specs.iter().zip(running) {
        let login = if fresh {
            set_up(&r.node, spec).await?
        } else {
            previous["nodes"]
                .as_array()
                .and_then(|a| a.iter().find(|n| n["name"] == spec.name.as_str()))
                .and_then(|n| {
                    Some((
                        n["login"].as_str()?.to_string(),
                        n["password"].as_str()?.to_string(),
                    ))
                })
        };
        let url = format!("http://{}/", r.api_addr);
        let setup_url = crate::web::setup_code(&r.node)
            .await
            .map(|c| format!("http://{}/setup?code={c}", r.api_addr));
        rows.push(json!({
            "name": spec.name, "role": spec.role.as_str(), "url": url, "api": r.api_addr.to_string(),
            "data_dir": r.node.config().data_dir.display().to_string(), "account": r.node.account().to_string(),
            "login": login.as_ref().map(|l| l.0.clone()), "password": login.map(|l| l.1),
            "setup_url": setup_url,
        }));
    }
    Ok(rows)
}

/// Waits (at most 20 s) until Hospital1 knows every grant the fresh demo made to it.
async fn wait_for_grants(specs: &[Spec], running: &[Running]) {
    let expected = specs
        .iter()
        .filter(|s| matches!(s.setup, Setup::Alice | Setup::Fhir(_)))
        .count();
    let h1 = running[0].node.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let known = h1
            .ledger()
            .read(|l| l.grants_for_grantee(&h1.account()).len());
        if known >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Serves every node until `shutdown`, then stops them all; returns the last node
/// error, if any node did not stop cleanly.
async fn serve_until(
    running: Vec<Running>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Option<String> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for r in running {
        let mut rx = rx.clone();
        tasks.push(tokio::spawn(r.serve(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })));
    }
    shutdown.await;
    println!("stopping the demo network...");
    let _ = tx.send(true);
    let mut failed = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e.to_string()),
            Err(e) => failed = Some(e.to_string()),
        }
    }
    failed
}

fn print_table(info: &Value, temporary: bool) {
    println!();
    println!("Sec-Net PDC demo network (network secnet-demo) is running.");
    println!(
        "Data: {}{}",
        info["dir"].as_str().unwrap_or_default(),
        if temporary {
            " (temporary: removed at exit; keep it with --dir DIR)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "  {:<20} {:<9} {:<28} login / password (demo only)",
        "node", "role", "portal"
    );
    for n in info["nodes"].as_array().into_iter().flatten() {
        let login = match (n["login"].as_str(), n["password"].as_str()) {
            (Some(l), Some(p)) => format!("{l} / {p}"),
            _ => "register first:".into(),
        };
        println!(
            "  {:<20} {:<9} {:<28} {}",
            n["name"].as_str().unwrap_or_default(),
            n["role"].as_str().unwrap_or_default(),
            n["url"].as_str().unwrap_or_default(),
            login
        );
        if let Some(s) = n["setup_url"].as_str() {
            println!("  {:<20} {:<9} {s}", "", "");
        }
    }
    println!();
    println!("Try it: register the new patient with a disease and Hospital1 selected, then log in");
    println!("to Hospital1 and search that disease. Press Ctrl-C to stop.");
}
