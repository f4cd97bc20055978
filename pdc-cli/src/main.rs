//! `pdc`: the command-line client of a Sec-Net PDC node, over the node's HTTP API.
//!
//! Finds the node from `--data-dir`/`PDC_DATA_DIR` (its `api.addr` or config and its
//! `api.token`), or from `--api`/`PDC_API` and `PDC_TOKEN`. Tables by default, `--json`
//! for scripts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

/// Talk to a Sec-Net PDC node.
#[derive(Parser, Debug)]
#[command(name = "pdc", version, about)]
struct Cli {
    /// The node's data directory (to find its address and token).
    #[arg(long, global = true, env = "PDC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// API base URL, e.g. http://127.0.0.1:7070 (default: from the data directory).
    #[arg(long, global = true, env = "PDC_API")]
    api: Option<String>,
    /// API token (default: DATA_DIR/api.token).
    #[arg(long, global = true, env = "PDC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the node's identity and counts.
    Status,
    /// Add, list, show or remove records.
    #[command(subcommand)]
    Record(RecordCmd),
    /// Import a FHIR R4 Bundle (JSON file).
    Import {
        /// The bundle file.
        file: PathBuf,
    },
    /// Export this node's records as a FHIR R4 Bundle.
    Export {
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Grant, revoke or list consents.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Inspect the ledger.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Balances of every account (confirmed and pending), in credits.
    Balances,
    /// Fork proofs: accounts frozen for signing two blocks at one seq.
    Forks,
    /// Hospital: search every consenting patient for a disease.
    Search {
        /// Disease words, e.g. "diabetes" or "heart attack".
        query: String,
        /// Why you ask: treatment, research, emergency, public-health.
        #[arg(long, default_value = "treatment")]
        purpose: String,
        /// Staff member making the search (recorded in every access).
        #[arg(long, env = "PDC_STAFF", default_value_t = std::env::var("USER").unwrap_or_default())]
        staff: String,
        /// Ask only this patient (key or registered name).
        #[arg(long)]
        patient: Option<String>,
    },
    /// Peers this node knows: name, role, addresses, connected, chain head, last seen.
    Peers {
        /// Dial this peer now (a multiaddr ending in /p2p/<peer id>).
        #[arg(long)]
        connect: Option<String>,
    },
    /// Patient: rewards earned (total, confirmed, pending) and per access.
    Rewards,
    /// Who asked for what, when, the decision and why (patient), or your own requests
    /// (hospital).
    Audit,
}

#[derive(Subcommand, Debug)]
enum LedgerCmd {
    /// The head (seq, hash) of every account's chain.
    Heads,
    /// Every block of one account's chain.
    Chain {
        /// The account (64 hex digits).
        author: String,
    },
    /// One block.
    Show {
        /// Block hash (64 hex digits).
        hash: String,
    },
    /// Re-check every stored block and chain link; report the first bad one.
    Verify,
}

#[derive(Subcommand, Debug)]
enum RecordCmd {
    /// Add a record.
    #[command(subcommand)]
    Add(AddCmd),
    /// List records.
    List,
    /// Show one record in full.
    Show {
        /// Record id.
        id: String,
    },
    /// Delete a record.
    Rm {
        /// Record id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum AddCmd {
    /// A condition, in your own words.
    Condition {
        /// e.g. "type 2 diabetes".
        text: String,
        /// active, resolved, inactive, remission, recurrence, relapse, unknown.
        #[arg(long)]
        status: Option<String>,
        /// Onset date, e.g. 2019-05-01.
        #[arg(long)]
        onset: Option<String>,
    },
    /// A free-text note.
    Note {
        /// The note.
        text: String,
        /// A title.
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Your profile (one per node).
    Profile {
        /// Your name.
        name: String,
        /// Name shown to hospitals instead of your name.
        #[arg(long, default_value = "")]
        pseudonym: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        birth_date: String,
        /// Gender.
        #[arg(long, default_value = "")]
        gender: String,
    },
}

#[derive(Subcommand, Debug)]
enum ConsentCmd {
    /// Allow a hospital to read your records (written to the ledger).
    Grant {
        /// The grantee: its key (64 hex digits) or its registered name, e.g. Hospital1.
        grantee: String,
        /// Purpose; repeat for several (default from the node's config).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// "all" or "conditions".
        #[arg(long)]
        scope: Option<String>,
        /// Days until the grant expires; 0 = never (default from the node's config).
        #[arg(long)]
        days: Option<u64>,
        /// Price per access in credits, e.g. 0.5 (default from the node's config).
        #[arg(long)]
        price: Option<f64>,
    },
    /// Revoke a grant.
    Revoke {
        /// Grant id (from `pdc consent list`).
        grant_id: String,
    },
    /// List grants.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Where and how to reach the node.
struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    fn resolve(cli: &Cli) -> anyhow::Result<Self> {
        let dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
        let base = match &cli.api {
            Some(a) => a.trim_end_matches('/').to_string(),
            None => format!("http://{}", api_addr(&dir)?),
        };
        let token = match &cli.token {
            Some(t) => t.clone(),
            None => {
                let p = dir.join("api.token");
                std::fs::read_to_string(&p)
                    .with_context(|| {
                        format!("cannot read the API token {}; pass --data-dir DIR of your node or set PDC_TOKEN", p.display())
                    })?
                    .trim()
                    .to_string()
            }
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(60))
            .build();
        Ok(Self { base, token, agent })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let req = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.token));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        self.answer(res)
    }

    fn send_raw(&self, path: &str, bytes: &[u8]) -> anyhow::Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let res = self
            .agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/json")
            .send_bytes(bytes);
        self.answer(res)
    }

    fn answer(&self, res: Result<ureq::Response, ureq::Error>) -> anyhow::Result<Value> {
        match res {
            Ok(r) => r
                .into_json()
                .context("the node sent a response that is not JSON"),
            Err(ureq::Error::Status(code, r)) => {
                let v: Value = r.into_json().unwrap_or(Value::Null);
                let detail = v
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("no detail");
                let error = v.get("error").and_then(Value::as_str).unwrap_or("error");
                Err(anyhow!("node refused ({code} {error}): {detail}"))
            }
            Err(ureq::Error::Transport(t)) => {
                if t.kind() == ureq::ErrorKind::ConnectionFailed || t.kind() == ureq::ErrorKind::Io
                {
                    Err(anyhow!(
                        "the daemon is not running at {} ({t}); start it with `pdc-daemon run --data-dir DIR`",
                        self.base
                    ))
                } else {
                    Err(anyhow!("cannot reach the node at {}: {t}", self.base))
                }
            }
        }
    }
}

fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".pdc")
}

/// The address the node bound (api.addr, written at start), else its configured one.
fn api_addr(dir: &Path) -> anyhow::Result<String> {
    if let Ok(a) = std::fs::read_to_string(dir.join("api.addr")) {
        return Ok(a.trim().to_string());
    }
    let cfg = dir.join("config.toml");
    let text = std::fs::read_to_string(&cfg).with_context(|| {
        format!("no node at {} (no config.toml); pass --data-dir DIR or create one with `pdc-daemon init`", dir.display())
    })?;
    let v: toml_lite::Table = toml_lite::parse(&text);
    Ok(v.get("api_listen")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7070".to_string()))
}

/// Just enough TOML to read `api_listen` without another dependency.
mod toml_lite {
    pub(crate) type Table = std::collections::HashMap<String, String>;
    pub(crate) fn parse(text: &str) -> Table {
        let mut t = Table::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                break; // only top-level keys matter here
            }
            if let Some((k, v)) = line.split_once('=') {
                t.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
        }
        t
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let c = Client::resolve(&cli)?;
    let json_out = cli.json;
    let out = |v: &Value, table: &dyn Fn(&Value) -> String| {
        if json_out {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            print!("{}", table(v));
        }
    };
    match &cli.command {
        Command::Status => {
            let v = c.call("GET", "/status", None)?;
            out(&v, &|v| {
                let f = |k: &str| {
                    v.get(k)
                        .map(|x| {
                            x.as_str()
                                .map(String::from)
                                .unwrap_or_else(|| x.to_string())
                        })
                        .unwrap_or_default()
                };
                format!(
                    "name:      {}\nrole:      {}\naccount:   {} ({})\npeer id:   {}\nrecords:   {}\nconsents:  {} live of {}\nuptime:    {}s\nversion:   {}\n",
                    f("name"),
                    f("role"),
                    f("account"),
                    f("fingerprint"),
                    f("peer_id"),
                    f("records"),
                    f("consents_live"),
                    f("consents_total"),
                    f("uptime_secs"),
                    f("version")
                )
            });
        }
        Command::Record(RecordCmd::Add(add)) => {
            let body = match add {
                AddCmd::Condition {
                    text,
                    status,
                    onset,
                } => json!({"kind": "condition", "text": text, "status": status, "onset": onset}),
                AddCmd::Note { text, title } => {
                    json!({"kind": "note", "title": title, "text": text})
                }
                AddCmd::Profile {
                    name,
                    pseudonym,
                    birth_date,
                    gender,
                } => {
                    json!({"kind": "profile", "display_name": name, "pseudonym": pseudonym, "birth_date": birth_date, "gender": gender})
                }
            };
            let v = c.call("POST", "/records", Some(body))?;
            out(&v, &|v| {
                format!(
                    "added {} {} (hash {})\n",
                    s(v, "kind"),
                    s(v, "id"),
                    s(v, "hash")
                )
            });
        }
        Command::Record(RecordCmd::List) => {
            let v = c.call("GET", "/records", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "records")
                    .iter()
                    .map(|r| {
                        vec![
                            s(r, "id"),
                            s(r, "kind"),
                            s(r, "summary"),
                            short(&s(r, "hash")),
                            s(r, "created"),
                        ]
                    })
                    .collect();
                table(&["ID", "KIND", "SUMMARY", "HASH", "CREATED"], &rows)
            });
        }
        Command::Record(RecordCmd::Show { id }) => {
            let v = c.call("GET", &format!("/records/{id}"), None)?;
            out(&v, &|v| {
                let mut t = format!(
                    "id:       {}\nkind:     {}\nhash:     {}\ncreated:  {}\n",
                    s(v, "id"),
                    s(v, "kind"),
                    s(v, "hash"),
                    s(v, "created")
                );
                if let Some(b) = v.get("body").and_then(Value::as_object) {
                    for (k, x) in b {
                        let val = x
                            .as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string());
                        if !val.is_empty() && val != "[]" {
                            t.push_str(&format!("{:<9} {val}\n", format!("{k}:")));
                        }
                    }
                }
                t
            });
        }
        Command::Record(RecordCmd::Rm { id }) => {
            let v = c.call("DELETE", &format!("/records/{id}"), None)?;
            out(&v, &|v| format!("deleted {}\n", s(v, "deleted")));
        }
        Command::Import { file } => {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let v = c.send_raw("/fhir/import", &bytes)?;
            out(&v, &|v| {
                format!(
                    "imported {} records from {}: profile {}, conditions {}, other resources {}; skipped {} already present\n",
                    n(v, "imported"),
                    file.display(),
                    n(v, "profile"),
                    n(v, "conditions"),
                    n(v, "other_resources"),
                    n(v, "skipped_duplicates")
                )
            });
        }
        Command::Export { output } => {
            let v = c.call("GET", "/fhir/export", None)?;
            let text = serde_json::to_string_pretty(&v)?;
            match output {
                Some(p) => {
                    std::fs::write(p, text)
                        .with_context(|| format!("cannot write {}", p.display()))?;
                    eprintln!(
                        "wrote {} entries to {}",
                        arr(&v, "entry").len(),
                        p.display()
                    );
                }
                None => println!("{text}"),
            }
        }
        Command::Consent(ConsentCmd::Grant {
            grantee,
            purposes,
            scope,
            days,
            price,
        }) => {
            let price = match price {
                Some(p) if !p.is_finite() || *p < 0.0 => {
                    bail!("--price must be a non-negative number of credits")
                }
                Some(p) => Some((p * 1_000_000.0).round() as u64),
                None => None,
            };
            let body = json!({"grantee": grantee, "purposes": purposes, "scope": scope, "expires_in_days": days, "price": price});
            let v = c.call("POST", "/consents", Some(body))?;
            out(&v, &|v| {
                format!(
                    "granted {} to {} {} for {} until {} at {} credits per access\n",
                    s(v, "grant_id"),
                    s(v, "grantee_name"),
                    s(v, "grantee_fingerprint"),
                    join(v, "purposes"),
                    s(v, "expires"),
                    credits(v.get("price"))
                )
            });
        }
        Command::Consent(ConsentCmd::Revoke { grant_id }) => {
            let v = c.call("POST", &format!("/consents/{grant_id}/revoke"), None)?;
            out(&v, &|v| {
                format!(
                    "revoked {} (was for {} {})\n",
                    s(v, "grant_id"),
                    s(v, "grantee_name"),
                    s(v, "grantee_fingerprint")
                )
            });
        }
        Command::Consent(ConsentCmd::List) => {
            let v = c.call("GET", "/consents", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "consents")
                    .iter()
                    .map(|g| {
                        vec![
                            s(g, "grant_id"),
                            format!("{} {}", s(g, "patient_name"), s(g, "patient_fingerprint"))
                                .trim()
                                .to_string(),
                            format!("{} {}", s(g, "grantee_name"), s(g, "grantee_fingerprint"))
                                .trim()
                                .to_string(),
                            join(g, "purposes"),
                            s(g, "scope"),
                            s(g, "expires"),
                            credits(g.get("price")),
                            s(g, "state"),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "GRANT", "PATIENT", "GRANTEE", "PURPOSES", "SCOPE", "EXPIRES", "PRICE",
                        "STATE",
                    ],
                    &rows,
                )
            });
        }
        Command::Ledger(LedgerCmd::Heads) => {
            let v = c.call("GET", "/ledger/heads", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "heads")
                    .iter()
                    .map(|h| vec![who(h, "author"), n(h, "seq").to_string(), s(h, "hash")])
                    .collect();
                table(&["ACCOUNT", "SEQ", "HEAD"], &rows)
            });
        }
        Command::Ledger(LedgerCmd::Chain { author }) => {
            let v = c.call("GET", &format!("/ledger/chain/{author}"), None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "blocks")
                    .iter()
                    .map(|b| {
                        vec![
                            n(b, "seq").to_string(),
                            short(&s(b, "hash")),
                            s(b, "time"),
                            s(&b["body"], "type"),
                            credits(b.get("balance_after")),
                        ]
                    })
                    .collect();
                table(&["SEQ", "HASH", "TIME", "KIND", "BALANCE"], &rows)
            });
        }
        Command::Ledger(LedgerCmd::Show { hash }) => {
            let v = c.call("GET", &format!("/ledger/block/{hash}"), None)?;
            out(&v, &|v| {
                serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
            });
        }
        Command::Ledger(LedgerCmd::Verify) => {
            let v = c.call("POST", "/ledger/verify", None)?;
            out(&v, &|v| match v.get("first_bad").and_then(Value::as_str) {
                None => format!(
                    "ok: {} blocks, {} fork proofs, {} chain links verified\n",
                    n(v, "blocks"),
                    n(v, "fork_proofs"),
                    n(v, "chain_links")
                ),
                Some(bad) => format!("BAD: {bad}\n"),
            });
            if v.get("ok") == Some(&Value::Bool(false)) {
                bail!("the ledger did not verify");
            }
        }
        Command::Balances => {
            let v = c.call("GET", "/balances", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "balances")
                    .iter()
                    .map(|b| {
                        vec![
                            who(b, "account"),
                            credits(b.get("confirmed")),
                            credits(b.get("pending")),
                            s(b, "total_credits"),
                        ]
                    })
                    .collect();
                table(&["ACCOUNT", "CONFIRMED", "PENDING", "TOTAL"], &rows)
            });
        }
        Command::Search {
            query,
            purpose,
            staff,
            patient,
        } => {
            let v = c.call(
                "POST",
                "/search",
                Some(json!({"query": query, "purpose": purpose, "staff_user": staff, "patient": patient})),
            )?;
            out(&v, &|v| {
                let mut t = String::new();
                for p in arr(v, "patients") {
                    let who = format!("{} {}", s(p, "name"), s(p, "fingerprint"));
                    match s(p, "status").as_str() {
                        "answered" => {
                            t.push_str(&format!(
                                "{who}: {} record(s), access block {}, paid {}\n",
                                arr(p, "records").len(),
                                short(&s(p, "access_block")),
                                credits(p.get("paid"))
                            ));
                            for r in arr(p, "records") {
                                t.push_str(&format!(
                                    "    {}  hash {}\n      {}\n",
                                    s(r, "condition"),
                                    s(r, "hash"),
                                    s(r, "why")
                                ));
                            }
                        }
                        st => t.push_str(&format!("{who}: {st}: {}\n", s(p, "reason"))),
                    }
                }
                if t.is_empty() {
                    t.push_str("no patient has granted this node access for that purpose\n");
                }
                t
            });
        }
        Command::Peers {
            connect: Some(addr),
        } => {
            let v = c.call("POST", "/peers/connect", Some(json!({ "addr": addr })))?;
            out(&v, &|v| format!("dialing {}\n", s(v, "dialing")));
        }
        Command::Peers { connect: None } => {
            let v = c.call("GET", "/peers", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "peers")
                    .iter()
                    .map(|p| {
                        vec![
                            short(&s(p, "peer_id")),
                            format!("{} {}", s(p, "name"), s(p, "fingerprint"))
                                .trim()
                                .to_string(),
                            s(p, "role"),
                            join(p, "addresses"),
                            if p["connected"].as_bool() == Some(true) {
                                "yes".into()
                            } else {
                                "no".into()
                            },
                            p["chain_head"]["seq"]
                                .as_u64()
                                .map(|x| x.to_string())
                                .unwrap_or_default(),
                            s(p, "last_seen"),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "PEER",
                        "NAME",
                        "ROLE",
                        "ADDRESSES",
                        "CONNECTED",
                        "HEAD",
                        "LAST SEEN",
                    ],
                    &rows,
                )
            });
        }
        Command::Rewards => {
            let v = c.call("GET", "/rewards", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "accesses")
                    .iter()
                    .map(|a| {
                        vec![
                            s(a, "time"),
                            format!(
                                "{} {}",
                                s(a, "requester_name"),
                                s(a, "requester_fingerprint")
                            )
                            .trim()
                            .to_string(),
                            s(a, "staff_user"),
                            s(a, "query"),
                            credits(a.get("price")),
                            s(a, "status"),
                        ]
                    })
                    .collect();
                format!(
                    "total {} credits (confirmed {}, pending {})\n",
                    credits(v.get("total")),
                    credits(v.get("confirmed")),
                    credits(v.get("pending"))
                ) + &table(
                    &["TIME", "REQUESTER", "STAFF", "QUERY", "REWARD", "STATUS"],
                    &rows,
                )
            });
        }
        Command::Audit => {
            let v = c.call("GET", "/audit", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "accesses")
                    .iter()
                    .map(|a| {
                        vec![
                            s(a, "time"),
                            format!(
                                "{} {}",
                                s(a, "requester_name"),
                                s(a, "requester_fingerprint")
                            )
                            .trim()
                            .to_string(),
                            s(a, "staff_user"),
                            s(a, "query"),
                            s(a, "decision"),
                            s(a, "reason"),
                            short(&s(a, "block")),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "TIME",
                        "REQUESTER",
                        "STAFF",
                        "QUERY",
                        "DECISION",
                        "REASON",
                        "BLOCK",
                    ],
                    &rows,
                )
            });
        }
        Command::Forks => {
            let v = c.call("GET", "/forks", None)?;
            out(&v, &|v| {
                let rows: Vec<Vec<String>> = arr(v, "forks")
                    .iter()
                    .map(|f| {
                        vec![
                            who(f, "author"),
                            n(f, "seq").to_string(),
                            n(f, "frozen_at").to_string(),
                        ]
                    })
                    .collect();
                table(&["ACCOUNT", "FORK SEQ", "FROZEN AT SEQ"], &rows)
            });
        }
    }
    Ok(())
}

/// "Name fp" or the fingerprint alone: names are labels, the fingerprint identifies.
fn who(v: &Value, key_field: &str) -> String {
    let name = s(v, "name");
    let fp = s(v, "fingerprint");
    if name.is_empty() {
        format!("{fp} ({})", short(&s(v, key_field)))
    } else {
        format!("{name} {fp}")
    }
}

/// Micro-credits as credits, trailing zeros dropped ("0.5", "-1.25", "100").
fn credits(v: Option<&Value>) -> String {
    let micro = v.and_then(Value::as_i64).unwrap_or(0);
    let sign = if micro < 0 { "-" } else { "" };
    let m = micro.unsigned_abs();
    let t = format!("{}.{:06}", m / 1_000_000, m % 1_000_000);
    format!("{sign}{}", t.trim_end_matches('0').trim_end_matches('.'))
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn join(v: &Value, k: &str) -> String {
    arr(v, k)
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// A plain aligned table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut l = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    if rows.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

/// The error and its causes on one line, each said once: many of our errors already
/// quote their source in their own message, which `{:#}` would print a second time.
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}
