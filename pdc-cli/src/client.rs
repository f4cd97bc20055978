//! The typed client of the node's HTTP API: one method per call, each returning the
//! view type the daemon serialises ([`pdc_proto::api`]), so the CLI and the daemon
//! cannot disagree on a field without a compile error.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use pdc_proto::api::{
    AuditView, BalancesView, BlockView, ChainView, CheckInput, CheckView, ConnectInput,
    ConsentList, Deleted, Dialing, ErrorView, ForksView, GrantInput, GrantView, HeadsView,
    ImportReport, PeersView, RecordInput, RecordList, RecordView, RewardsView, SearchInput,
    SearchReport, StatusView, VerifyView, files,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where and how to reach the node; one method per API call.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the node at `base` (e.g. `http://127.0.0.1:7070`) with its token.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(std::time::Duration::from_secs(60))
            .build();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    /// From `--api`/`--token`, else from the node's data directory (default `~/.pdc`).
    pub fn resolve(
        data_dir: Option<PathBuf>,
        api: Option<&str>,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let dir = data_dir.unwrap_or_else(default_data_dir);
        let base = match api {
            Some(a) => a.to_string(),
            None => format!("http://{}", api_addr(&dir)?),
        };
        let token = match token {
            Some(t) => t.to_string(),
            None => {
                let p = dir.join(files::TOKEN_FILE);
                std::fs::read_to_string(&p)
                    .with_context(|| {
                        format!("cannot read the API token {}; pass --data-dir DIR of your node or set PDC_TOKEN", p.display())
                    })?
                    .trim()
                    .to_string()
            }
        };
        Ok(Self::new(&base, &token))
    }

    /// `GET /status`.
    pub fn status(&self) -> anyhow::Result<StatusView> {
        self.get("/status")
    }

    /// `GET /records`.
    pub fn records(&self) -> anyhow::Result<RecordList> {
        self.get("/records")
    }

    /// `GET /records/{id}`: one record in full.
    pub fn record(&self, id: &str) -> anyhow::Result<RecordView> {
        self.get(&format!("/records/{id}"))
    }

    /// `POST /records`.
    pub fn add_record(&self, input: &RecordInput) -> anyhow::Result<RecordView> {
        self.send("POST", "/records", Some(input))
    }

    /// `DELETE /records/{id}`.
    pub fn delete_record(&self, id: &str) -> anyhow::Result<Deleted> {
        self.send::<(), _>("DELETE", &format!("/records/{id}"), None)
    }

    /// Sends the bundle as it is on disk: the node validates it whole.
    pub fn fhir_import(&self, bundle: &[u8]) -> anyhow::Result<ImportReport> {
        let res = self
            .request("POST", "/fhir/import")
            .set("Content-Type", "application/json")
            .send_bytes(bundle);
        self.answer(res)
    }

    /// A FHIR R4 Bundle: FHIR's JSON, not one of ours, so kept as a JSON value.
    pub fn fhir_export(&self) -> anyhow::Result<serde_json::Value> {
        self.get("/fhir/export")
    }

    /// `GET /consents`.
    pub fn consents(&self) -> anyhow::Result<ConsentList> {
        self.get("/consents")
    }

    /// `POST /consents`: writes a grant.
    pub fn grant(&self, input: &GrantInput) -> anyhow::Result<GrantView> {
        self.send("POST", "/consents", Some(input))
    }

    /// The revoked grant (`None` only if it vanished from the node's view meanwhile).
    pub fn revoke(&self, grant_id: &str) -> anyhow::Result<Option<GrantView>> {
        self.send::<(), _>("POST", &format!("/consents/{grant_id}/revoke"), None)
    }

    /// Would this requester be allowed now?
    pub fn check(&self, input: &CheckInput) -> anyhow::Result<CheckView> {
        self.send("POST", "/consents/check", Some(input))
    }

    /// `GET /ledger/heads`.
    pub fn heads(&self) -> anyhow::Result<HeadsView> {
        self.get("/ledger/heads")
    }

    /// `GET /ledger/chain/{author}`.
    pub fn chain(&self, author: &str) -> anyhow::Result<ChainView> {
        self.get(&format!("/ledger/chain/{author}"))
    }

    /// `GET /ledger/block/{hash}`.
    pub fn block(&self, hash: &str) -> anyhow::Result<BlockView> {
        self.get(&format!("/ledger/block/{hash}"))
    }

    /// `POST /ledger/verify`.
    pub fn verify(&self) -> anyhow::Result<VerifyView> {
        self.send::<(), _>("POST", "/ledger/verify", None)
    }

    /// `GET /balances`.
    pub fn balances(&self) -> anyhow::Result<BalancesView> {
        self.get("/balances")
    }

    /// `GET /forks`.
    pub fn forks(&self) -> anyhow::Result<ForksView> {
        self.get("/forks")
    }

    /// `POST /search`: a hospital's search.
    pub fn search(&self, input: &SearchInput) -> anyhow::Result<SearchReport> {
        self.send("POST", "/search", Some(input))
    }

    /// `GET /peers`.
    pub fn peers(&self) -> anyhow::Result<PeersView> {
        self.get("/peers")
    }

    /// `POST /peers/connect`.
    pub fn connect(&self, input: &ConnectInput) -> anyhow::Result<Dialing> {
        self.send("POST", "/peers/connect", Some(input))
    }

    /// `GET /rewards`.
    pub fn rewards(&self) -> anyhow::Result<RewardsView> {
        self.get("/rewards")
    }

    /// `GET /audit`.
    pub fn audit(&self) -> anyhow::Result<AuditView> {
        self.get("/audit")
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let url = format!("{}/api/v1{path}", self.base);
        self.agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.token))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send::<(), _>("GET", path, None)
    }

    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let req = self.request(method, path);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        self.answer(res)
    }

    fn answer<T: DeserializeOwned>(
        &self,
        res: Result<ureq::Response, ureq::Error>,
    ) -> anyhow::Result<T> {
        match res {
            Ok(r) => r.into_json().context(
                "the node sent a response this pdc does not understand (is it the same version?)",
            ),
            Err(ureq::Error::Status(code, r)) => {
                let v: Option<ErrorView> = r.into_json().ok();
                let (error, detail) = v
                    .map(|v| (v.error, v.detail))
                    .unwrap_or_else(|| ("error".into(), "no detail".into()));
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

/// The part of the node's config.toml the CLI needs.
#[derive(serde::Deserialize)]
struct NodeConfig {
    api_listen: Option<String>,
}

/// The address the node bound (api.addr, written at start), else its configured one.
fn api_addr(dir: &Path) -> anyhow::Result<String> {
    if let Ok(a) = std::fs::read_to_string(dir.join(files::API_ADDR_FILE)) {
        return Ok(a.trim().to_string());
    }
    let cfg = dir.join(files::CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg).with_context(|| {
        format!(
            "no node at {} (no {}); pass --data-dir DIR or create one with `pdc-daemon init`",
            dir.display(),
            files::CONFIG_FILE
        )
    })?;
    let c: NodeConfig =
        toml::from_str(&text).with_context(|| format!("cannot read {}", cfg.display()))?;
    Ok(c.api_listen
        .unwrap_or_else(|| files::DEFAULT_API_LISTEN.to_string()))
}
