//! The `pdc` CLI against real running nodes: it finds its node from the environment
//! (`PDC_DATA_DIR`, `PDC_API`, `PDC_TOKEN`) as README documents, each variable changing
//! where it goes or what it sends; and every command its `--help` lists runs against a
//! node and does what the help says.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use pdc_tests::{NodeProc, bin, network, pdc_env, shared_dir, wait_for};
use serde_json::{Value, json};

fn started(role: &str, name: &str) -> NodeProc {
    let mut n = NodeProc::init(role, name);
    n.start();
    n
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "pdc failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "pdc printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Asserts that pdc failed; returns what it printed on standard error.
fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "pdc should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The API's `host:port`, as the node writes it to `api.addr`.
fn addr(n: &NodeProc) -> &str {
    n.api.trim_start_matches("http://")
}

/// The first words of a refused call, then the API's own reason and its fix.
const REFUSED: &str = "error: node refused (401 unauthorized): missing or wrong bearer token; send `Authorization: Bearer <token>` with the token from the node's api.token file";

#[test]
fn pdc_data_dir_chooses_the_node() {
    let (ann, ben) = (started("patient", "Ann"), started("patient", "Ben"));
    let home = tempfile::tempdir().expect("home");
    for n in [&ann, &ben] {
        let env = [("PDC_DATA_DIR", text(n.path()))];
        let st = ok_json(&pdc_env(&["--json", "status"], &env, home.path()));
        assert_eq!(st["account"], n.account.as_str(), "{st}");
    }
    // Without it pdc looks in ~/.pdc, and says so: nothing there.
    let err = failed(&pdc_env(&["status"], &[], home.path()));
    let default = home.path().join(".pdc");
    assert!(
        err.contains(&format!("no node at {}", default.display()))
            && err.contains("pass --data-dir DIR or create one with `pdc-daemon init`"),
        "{err}"
    );
    // The flag wins over the variable.
    let env = [("PDC_DATA_DIR", text(ann.path()))];
    let st = ok_json(&pdc_env(
        &["--json", "--data-dir", text(ben.path()), "status"],
        &env,
        home.path(),
    ));
    assert_eq!(st["account"], ben.account.as_str());
}

#[test]
fn pdc_api_chooses_the_address() {
    let (ann, ben) = (started("patient", "Ann"), started("patient", "Ben"));
    let home = tempfile::tempdir().expect("home");
    // A data directory with Ann's token but Ben's address: by itself it reaches Ben,
    // who refuses Ann's token.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("api.token"), &ann.token).expect("token");
    std::fs::write(dir.path().join("api.addr"), addr(&ben)).expect("addr");
    let in_dir = ("PDC_DATA_DIR", text(dir.path()));
    let err = failed(&pdc_env(&["status"], &[in_dir], home.path()));
    assert!(err.starts_with(REFUSED), "{err}");
    // PDC_API sends the same token to Ann instead (a trailing slash is fine).
    let ann_url = format!("{}/", ann.api);
    let env = [in_dir, ("PDC_API", ann_url.as_str())];
    let st = ok_json(&pdc_env(&["--json", "status"], &env, home.path()));
    assert_eq!(st["account"], ann.account.as_str(), "{st}");
    // With PDC_TOKEN it needs no data directory at all.
    let env = [
        ("PDC_API", ben.api.as_str()),
        ("PDC_TOKEN", ben.token.as_str()),
    ];
    let st = ok_json(&pdc_env(&["--json", "status"], &env, home.path()));
    assert_eq!(st["account"], ben.account.as_str(), "{st}");
    // An address where no node listens is named in the error, with the fix.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port");
    let nowhere = format!("http://{closed}");
    let env = [in_dir, ("PDC_API", nowhere.as_str())];
    let err = failed(&pdc_env(&["status"], &env, home.path()));
    assert!(
        err.contains(&format!("the daemon is not running at {nowhere}"))
            && err.contains("pdc-daemon run --data-dir DIR"),
        "{err}"
    );
}

#[test]
fn pdc_token_is_the_token_sent() {
    let ann = started("patient", "Ann");
    let home = tempfile::tempdir().expect("home");
    // A data directory that knows Ann's address but holds no token.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("api.addr"), addr(&ann)).expect("addr");
    let in_dir = ("PDC_DATA_DIR", text(dir.path()));
    let err = failed(&pdc_env(&["status"], &[in_dir], home.path()));
    assert!(
        err.contains("cannot read the API token") && err.contains("set PDC_TOKEN"),
        "{err}"
    );
    let env = [in_dir, ("PDC_TOKEN", ann.token.as_str())];
    let st = ok_json(&pdc_env(&["--json", "status"], &env, home.path()));
    assert_eq!(st["account"], ann.account.as_str(), "{st}");

    // A wrong PDC_TOKEN is what is sent, even beside Ann's own api.token: refused, with
    // the reason, and nothing is written.
    let wrong = "0".repeat(64);
    let env = [
        ("PDC_DATA_DIR", text(ann.path())),
        ("PDC_TOKEN", wrong.as_str()),
    ];
    let err = failed(&pdc_env(&["status"], &env, home.path()));
    assert!(err.starts_with(REFUSED), "{err}");
    let add = ["record", "add", "condition", "Asthma"];
    let err = failed(&pdc_env(&add, &env, home.path()));
    assert!(err.starts_with(REFUSED), "{err}");
    assert_eq!(
        ann.pdc_json(&["record", "list"])["records"],
        Value::Array(Vec::new()),
        "the refused call stored nothing"
    );
    // The --token flag wins over the variable.
    let st = ok_json(&pdc_env(
        &["--json", "--token", &ann.token, "status"],
        &env,
        home.path(),
    ));
    assert_eq!(st["account"], ann.account.as_str());
}

/// Every command path `pdc --help` lists, down to the leaves (`record add note`), except
/// clap's own `help`.
fn help_commands(prefix: &[String]) -> Vec<Vec<String>> {
    let out = Command::new(bin("pdc"))
        .args(prefix)
        .arg("--help")
        .env("COLUMNS", "200")
        .output()
        .expect("run pdc --help");
    assert!(out.status.success(), "pdc {prefix:?} --help");
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    let subs: Vec<String> = help
        .split("\nCommands:\n")
        .nth(1)
        .and_then(|s| s.split("\n\n").next())
        .map(|list| {
            list.lines()
                // Two spaces, then the name; wrapped descriptions are indented further.
                .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if subs.is_empty() {
        return vec![prefix.to_vec()];
    }
    subs.iter()
        .flat_map(|s| {
            let mut path = prefix.to_vec();
            path.push(s.clone());
            help_commands(&path)
        })
        .collect()
}

/// Runs pdc commands and notes which of the help's command paths each one was.
struct Walk {
    commands: Vec<Vec<String>>,
    ran: BTreeSet<String>,
}

impl Walk {
    fn note(&mut self, args: &[&str]) {
        let words: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| !a.starts_with('-'))
            .collect();
        let path = self
            .commands
            .iter()
            .find(|c| c.len() <= words.len() && c.iter().zip(&words).all(|(a, b)| a == b))
            .unwrap_or_else(|| panic!("{args:?} is no command of `pdc --help`"));
        self.ran.insert(path.join(" "));
    }

    fn json(&mut self, n: &NodeProc, args: &[&str]) -> Value {
        self.note(args);
        n.pdc_json(args)
    }

    fn raw(&mut self, n: &NodeProc, args: &[&str]) -> Output {
        self.note(args);
        n.pdc(args)
    }
}

fn find<'a>(list: &'a Value, key: &str, field: &str, value: &str) -> Option<&'a Value> {
    list[key].as_array()?.iter().find(|x| x[field] == value)
}

#[test]
fn every_command_in_the_help_runs_against_a_node() {
    let commands = help_commands(&[]);
    assert!(commands.len() > 10, "{commands:?}");
    let mut w = Walk {
        commands: commands.clone(),
        ran: BTreeSet::new(),
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let nodes = network(
        vec![
            NodeProc::init("hospital", "Hosp"),
            NodeProc::init("patient", "Pat"),
        ],
        tmp.path(),
        "cli-net",
    );
    let [h, pat]: [NodeProc; 2] = nodes.try_into().unwrap_or_else(|_| panic!("two nodes"));

    let st = w.json(&pat, &["status"]);
    assert_eq!(
        json!([st["name"], st["role"], st["account"]]),
        json!(["Pat", "patient", pat.account])
    );

    // Records: add each kind, show, list, remove.
    let profile = w.json(
        &pat,
        &[
            "record",
            "add",
            "profile",
            "Pat Example",
            "--pseudonym",
            "P. Example",
        ],
    );
    assert_eq!(profile["kind"], "profile");
    let c = w.json(
        &pat,
        &[
            "record",
            "add",
            "condition",
            "Asthma",
            "--onset",
            "2020-01-01",
        ],
    );
    let note = w.json(
        &pat,
        &["record", "add", "note", "inhaler", "--title", "meds"],
    );
    let id = |v: &Value| v["id"].as_str().expect("id").to_string();
    let shown = w.json(&pat, &["record", "show", &id(&c)]);
    assert_eq!(
        json!([shown["body"]["text"], shown["body"]["onset"], shown["hash"]]),
        json!(["Asthma", "2020-01-01", c["hash"]])
    );
    assert_eq!(
        w.json(&pat, &["record", "show", &id(&note)])["body"]["title"],
        "meds"
    );
    let ids = |w: &mut Walk| -> BTreeSet<String> {
        w.json(&pat, &["record", "list"])["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(id)
            .collect()
    };
    assert_eq!(
        ids(&mut w),
        BTreeSet::from([id(&profile), id(&c), id(&note)])
    );
    w.json(&pat, &["record", "rm", &id(&note)]);
    assert_eq!(ids(&mut w), BTreeSet::from([id(&profile), id(&c)]));
    let gone = w.raw(&pat, &["record", "show", &id(&note)]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no record with id"));

    // FHIR in and out.
    let bundle = shared_dir().join("data/fhir/patient-01.json");
    let entries = serde_json::from_slice::<Value>(&std::fs::read(&bundle).expect("bundle"))
        .expect("json")["entry"]
        .as_array()
        .map_or(0, Vec::len);
    let imp = w.json(&pat, &["import", text(&bundle)]);
    assert_eq!(imp["imported"].as_u64(), Some(entries as u64), "{imp}");
    assert!(ids(&mut w).len() > 2, "the import added records");
    let out = w.raw(&pat, &["export"]);
    let exported: Value = serde_json::from_slice(&out.stdout).expect("a JSON bundle");
    assert_eq!(exported["resourceType"], "Bundle");
    assert!(
        exported["entry"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| {
                x["resource"]["resourceType"] == "Condition"
                    && x["resource"]["code"]["text"] == "Asthma"
            })),
        "the condition added above is exported"
    );

    // Consent: grant twice, revoke one, list both.
    let g = w.json(
        &pat,
        &["consent", "grant", "Hosp", "--purpose", "treatment"],
    );
    assert_eq!(
        json!([g["grantee"], g["state"]]),
        json!([h.account, "live"])
    );
    let g2 = w.json(&pat, &["consent", "grant", "Hosp", "--purpose", "research"]);
    let gid = |g: &Value| g["grant_id"].as_str().expect("grant id").to_string();
    assert_eq!(
        w.json(&pat, &["consent", "revoke", &gid(&g2)])["state"],
        "revoked"
    );
    let list = w.json(&pat, &["consent", "list"]);
    let state =
        |g: &Value| find(&list, "consents", "grant_id", &gid(g)).map(|x| x["state"].clone());
    assert_eq!(state(&g), Some(json!("live")), "{list}");
    assert_eq!(state(&g2), Some(json!("revoked")), "{list}");

    // The hospital: peers, a search that finds the record, and its audit.
    wait_for(30, "the hospital to learn the live grant", || {
        let list = h.pdc_json(&["consent", "list"]);
        (find(&list, "consents", "grant_id", &gid(&g))?["state"] == "live").then_some(())
    });
    let peers = w.json(&h, &["peers"]);
    let connected = find(&peers, "peers", "account", &pat.account).map(|p| p["connected"].clone());
    assert_eq!(connected, Some(json!(true)), "{peers}");
    let pat_addr = pat.p2p_addrs();
    let first = pat_addr.split(',').next().expect("an address");
    assert_eq!(w.json(&h, &["peers", "--connect", first])["dialing"], first);
    let r = w.json(
        &h,
        &["search", "asthma", "--staff", "dr.cli", "--patient", "Pat"],
    );
    let p = &r["patients"][0];
    assert_eq!(
        json!([p["status"], p["shown_name"]]),
        json!(["answered", "P. Example"]),
        "{r}"
    );
    assert_eq!(p["records"][0]["hash"], c["hash"], "{r}");
    let block = p["access_block"]
        .as_str()
        .expect("access block")
        .to_string();

    // The patient: paid for it, and sees who asked.
    wait_for(30, "Pat's reward for the access", || {
        (w.json(&pat, &["rewards"])["total"] == 500_000).then_some(())
    });
    let audit = w.json(&pat, &["audit"]);
    let a = find(&audit, "accesses", "block", &block).unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(
        json!([a["staff_user"], a["requester"], a["query"]]),
        json!(["dr.cli", h.account, "asthma"])
    );
    wait_for(30, "Pat's 0.5 in the hospital's balances", || {
        let b = w.json(&h, &["balances"]);
        let mine = find(&b, "balances", "account", &pat.account)?;
        let total = mine["confirmed"].as_i64()? + mine["pending"].as_i64()?;
        (total == 500_000).then_some(())
    });
    assert_eq!(w.json(&h, &["forks"])["forks"], Value::Array(Vec::new()));

    // The ledger: heads, Pat's chain with the grant, one block, a clean verify.
    let heads = w.json(&pat, &["ledger", "heads"]);
    let head = find(&heads, "heads", "author", &pat.account).unwrap_or_else(|| panic!("{heads}"));
    let chain = w.json(&pat, &["ledger", "chain", &pat.account]);
    let blocks = chain["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["body"]["type"], "register");
    // Pat's node may add a block (claiming the reward) between the two calls, so the
    // head read first is somewhere in the chain read second.
    assert!(
        blocks.iter().any(|b| b["hash"] == head["hash"]),
        "{heads} {chain}"
    );
    let grant_block = g["block"].as_str().expect("grant block");
    assert!(blocks.iter().any(|b| b["hash"] == grant_block), "{chain}");
    assert_eq!(
        w.json(&pat, &["ledger", "show", grant_block])["body"]["type"],
        "consent_grant"
    );
    let v = w.json(&pat, &["ledger", "verify"]);
    assert_eq!(v["ok"], true, "{v}");

    let all: BTreeSet<String> = commands.iter().map(|c| c.join(" ")).collect();
    let missed: Vec<&String> = all.difference(&w.ran).collect();
    assert!(
        missed.is_empty(),
        "commands in `pdc --help` this test does not run: {missed:?}"
    );
}
