//! Test harness: real `pdc-daemon` processes in temporary data directories, driven
//! through the real `pdc` binary and a minimal HTTP client.
//!
//! A test reads like its scenario: `let mut alice = NodeProc::init("patient", "Alice");
//! alice.start(); alice.pdc_json(&["record", "list"])`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Path of a workspace binary built next to the running test executable, building it
/// with the same cargo if it is missing.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    if !path.exists() {
        let pkg = if name == "pdc" {
            "pdc-cli"
        } else {
            "pdc-daemon"
        };
        let status = Command::new(env!("CARGO"))
            .args(["build", "--locked", "-p", pkg, "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// The shared reference data folder beside the repository.
pub fn shared_dir() -> PathBuf {
    // The directory cargo runs the test from, not the one it was compiled in: a target
    // directory shared between clones may hold a test binary built in another clone.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let p = manifest_dir.join("../../shared");
    assert!(
        p.join("data/fhir").is_dir(),
        "shared data not found at {}: the repository must sit beside shared/",
        p.display()
    );
    p
}

/// A node in a temporary directory, possibly running as a child process.
pub struct NodeProc {
    /// Its data directory (deleted on drop).
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    /// Base URL of its API once started.
    pub api: String,
    /// Its API token.
    pub token: String,
    /// Extra environment for the daemon (`PDC_GENESIS`, `PDC_BOOTSTRAP`, ...).
    pub env: Vec<(String, String)>,
    /// Its account (public key, hex), as `init` printed it.
    pub account: String,
    /// "patient" or "hospital".
    pub role: String,
}

impl NodeProc {
    /// Runs `pdc-daemon init` in a fresh temporary directory.
    pub fn init(role: &str, name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(bin("pdc-daemon"))
            .args(["init", "--role", role, "--name", name, "--data-dir"])
            .arg(dir.path())
            .output()
            .expect("run init");
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = std::fs::read_to_string(dir.path().join("api.token"))
            .expect("token")
            .trim()
            .to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let account = stdout
            .lines()
            .find_map(|l| l.strip_prefix("account:"))
            .map(|a| a.trim().to_string())
            .unwrap_or_default();
        assert_eq!(account.len(), 64, "init prints the account: {stdout}");
        Self {
            dir,
            child: None,
            api: String::new(),
            token,
            env: Vec::new(),
            account,
            role: role.to_string(),
        }
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `pdc-daemon run` on a free loopback port and waits until the API answers.
    pub fn start(&mut self) {
        let _ = std::fs::remove_file(self.path().join("api.addr"));
        let child = Command::new(bin("pdc-daemon"))
            .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.path())
            .env("RUST_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path().join("daemon.log")).expect("log file"))
            .spawn()
            .expect("spawn daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(a) = std::fs::read_to_string(self.path().join("api.addr"))
                && !a.trim().is_empty()
            {
                self.api = format!("http://{}", a.trim());
                if self.http("GET", "/api/v1/status", None).0 == 200 {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let err =
                    std::fs::read_to_string(self.path().join("daemon.log")).unwrap_or_default();
                panic!("daemon exited during start ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not start within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The node's libp2p addresses (with `/p2p/<id>`), once started.
    pub fn p2p_addrs(&self) -> String {
        std::fs::read_to_string(self.path().join("p2p.addr"))
            .unwrap_or_default()
            .trim()
            .replace('\n', ",")
    }

    /// Starts the daemon with [`NodeProc::env`] and returns its exit output without
    /// waiting for it to be ready (for start-up refusals).
    pub fn run_expect_exit(&self) -> Output {
        Command::new(bin("pdc-daemon"))
            .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.path())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run daemon")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "TERM");
            let status =
                wait_timeout(&mut c, Duration::from_secs(30)).expect("daemon stops after SIGTERM");
            assert!(
                status.success(),
                "daemon exited with {status} after SIGTERM"
            );
        }
    }

    /// Kills the daemon with SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs the `pdc` CLI against this node.
    pub fn pdc(&self, args: &[&str]) -> Output {
        Command::new(bin("pdc"))
            .arg("--data-dir")
            .arg(self.path())
            .args(args)
            .env_remove("PDC_TOKEN")
            .env_remove("PDC_API")
            .output()
            .expect("run pdc")
    }

    /// Runs `pdc --json ARGS`, asserts success, parses the output.
    pub fn pdc_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.pdc(&a);
        assert!(
            out.status.success(),
            "pdc {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "pdc {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// One HTTP request with this node's token.
    pub fn http(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value) {
        http(&self.api, method, path, Some(&self.token), body)
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Sends a signal (`TERM`, `INT`, ...) to a process.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Waits for a child up to `t`; `None` if it is still running.
pub fn wait_timeout(c: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + t;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A minimal HTTP/1.1 client (one request per connection) so tests see exactly what the
/// server sends. Returns the status and the JSON body (Null if none or not JSON).
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Value) {
    let (status, bytes) = http_raw(base, method, path, token, body);
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Like [`http`] but returns the raw body.
pub fn http_raw(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, Vec<u8>) {
    let body = body.unwrap_or_default();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let (status, _, payload) = http_headers(base, method, path, &headers, body);
    (status, payload)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(b.get(start..start + size).unwrap_or_default());
        b = b.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `secs` seconds
/// with `what`.
pub fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes a genesis file funding the given accounts (hex) and returns its path.
pub fn write_genesis(dir: &Path, network_id: &str, funded: &[(&str, u64)]) -> PathBuf {
    let mut s = format!("network_id = \"{network_id}\"\ndefault_price = 500_000\n");
    for (a, amount) in funded {
        s.push_str(&format!(
            "[[balances]]\naccount = \"{a}\"\namount = {amount}\n"
        ));
    }
    let p = dir.join(format!("{network_id}.genesis.toml"));
    std::fs::write(&p, s).expect("write genesis");
    p
}

/// Number of chains `n`'s ledger holds (one per registered node).
pub fn heads(n: &NodeProc) -> usize {
    n.pdc_json(&["ledger", "heads"])["heads"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Starts `nodes` on one genesis funding the hospitals, the first as the bootstrap peer
/// of the others, and waits until every node holds every node's Register block.
pub fn network(mut nodes: Vec<NodeProc>, tmp: &Path, network_id: &str) -> Vec<NodeProc> {
    let funded: Vec<(&str, u64)> = nodes
        .iter()
        .filter(|n| n.role == "hospital")
        .map(|n| (n.account.as_str(), 100_000_000))
        .collect();
    let genesis = write_genesis(tmp, network_id, &funded)
        .display()
        .to_string();
    for n in nodes.iter_mut() {
        n.env = vec![("PDC_GENESIS".into(), genesis.clone())];
    }
    nodes[0].start();
    let boot = nodes[0].p2p_addrs();
    assert!(boot.contains("/p2p/"), "bootstrap address: {boot}");
    for n in nodes.iter_mut().skip(1) {
        n.env.push(("PDC_BOOTSTRAP".into(), boot.clone()));
        n.start();
    }
    let count = nodes.len();
    for n in &nodes {
        wait_for(30, "every Register block on every node", || {
            (heads(n) == count).then_some(())
        });
    }
    nodes
}

/// One HTTP/1.1 request with the given extra headers (e.g. `Cookie`, `Content-Type`);
/// returns the status, the response head (lower-cased) and the body. For portal tests
/// that must send exactly what a forged form would.
pub fn http_headers(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write head");
    // The server may answer (e.g. 413) and close before reading a large body.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(resp.len());
    let head = String::from_utf8_lossy(&resp[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut payload = resp.get(end + 4..).unwrap_or_default().to_vec();
    if head.contains("transfer-encoding: chunked") {
        payload = dechunk(&payload);
    }
    (status, head, payload)
}

/// Runs `pdc ARGS` told where the node is only by `env`: no `--data-dir`, `--api` or
/// `--token`, every `PDC_*` variable of the test's own environment removed, and `HOME`
/// set to `home` so the default data directory (`~/.pdc`) is somewhere empty.
pub fn pdc_env(args: &[&str], env: &[(&str, &str)], home: &Path) -> Output {
    let mut c = Command::new(bin("pdc"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PDC_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .env("HOME", home)
        .envs(env.iter().copied())
        .output()
        .expect("run pdc")
}

/// A portal user without a browser: keeps the cookies the portal sets and sends them
/// back (as a browser does for its host), and reads the CSRF field of each page, so a
/// test sends exactly what the portal's forms send and nothing a browser would add.
#[derive(Debug, Clone)]
pub struct PortalClient {
    /// Base URL of the node, `http://127.0.0.1:PORT`.
    pub base: String,
    cookies: Vec<(String, String)>,
}

/// One portal response.
#[derive(Debug, Clone)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// The response head, lower-cased (status line and headers).
    pub head: String,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// The first value of header `name` (lower-case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}: ");
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .map(str::trim)
    }

    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }

    /// The value of the page's first `csrf` form field.
    pub fn csrf(&self) -> Option<String> {
        self.body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(String::from)
    }
}

/// `application/x-www-form-urlencoded`, every byte but the unreserved ones escaped.
fn form_encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl PortalClient {
    /// A client with no cookies yet.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            cookies: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> Page {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers = Vec::new();
        if !cookie.is_empty() {
            headers.push(("Cookie", cookie.as_str()));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let (status, head, payload) = http_headers(
            &self.base,
            method,
            path,
            &headers,
            body.unwrap_or_default().as_bytes(),
        );
        for c in head.lines().filter_map(|l| l.strip_prefix("set-cookie: ")) {
            let Some((name, value)) = c.split(';').next().and_then(|kv| kv.split_once('=')) else {
                continue;
            };
            self.cookies.retain(|(k, _)| k != name);
            if !c.contains("max-age=0") {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
        Page {
            status,
            head,
            body: String::from_utf8_lossy(&payload).to_string(),
        }
    }

    /// `GET path` with the cookies held (redirects are not followed).
    pub fn get(&mut self, path: &str) -> Page {
        self.send("GET", path, None)
    }

    /// `POST path` with exactly these form fields (no CSRF token added).
    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.send("POST", path, Some(&form_encode(fields)))
    }

    /// Opens `page` and sends its form to `action` as the browser would: the page's
    /// CSRF token plus `fields`.
    pub fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.get(page);
        let csrf = form
            .csrf()
            .unwrap_or_else(|| panic!("{page} has no form ({}): {}", form.status, form.body));
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }

    /// Logs in through the login form; returns the answer to the form post.
    pub fn login(&mut self, user: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("username", user), ("password", password)],
        )
    }

    /// The held cookie whose name starts with `prefix` (e.g. `pdc_session_`).
    pub fn cookie(&self, prefix: &str) -> Option<(String, String)> {
        self.cookies
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .cloned()
    }

    /// Holds `name=value` from now on, as a browser holding another site's cookie would.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(k, _)| k != name);
        self.cookies.push((name.to_string(), value.to_string()));
    }
}
