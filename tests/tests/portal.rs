//! The web portals in a real browser: headless Chromium driven over WebDriver
//! (chromedriver + fantoccini) against `pdc-daemon demo`, walking the paper's figures.
//! Screenshots of every step go to `<target>/<profile>/test-artifacts/portal/`.
//! The idle-session expiry is checked over plain HTTP on a node of its own, where a
//! short idle timeout cannot cut into any other step.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use pdc_tests::{NodeProc, PortalClient, bin, http_headers, shared_dir, signal, wait_timeout};
use serde_json::{Value, json};

/// A running `pdc-daemon demo` process.
struct Demo {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    info: Value,
}

impl Demo {
    fn start(env: &[(&str, &str)], fhir_patients: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let demo_dir = dir.path().join("demo");
        let log = std::fs::File::create(dir.path().join("demo.log")).expect("log");
        let child = Command::new(bin("pdc-daemon"))
            .args(["demo", "--port-base", "0", "--fhir-patients"])
            .arg(fhir_patients.to_string())
            .arg("--fhir")
            .arg(shared_dir().join("data/fhir"))
            .arg("--dir")
            .arg(&demo_dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn demo");
        let mut demo = Self {
            child: Some(child),
            _dir: dir,
            info: Value::Null,
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        let info = demo_dir.join("demo.json");
        while !info.exists() {
            if let Some(st) = demo
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("demo exited during start ({st}): {}", demo.log());
            }
            assert!(
                Instant::now() < deadline,
                "demo did not start in 120 s: {}",
                demo.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        demo.info = serde_json::from_slice(&std::fs::read(&info).expect("demo.json"))
            .expect("demo.json is JSON");
        demo
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("demo.log")).unwrap_or_default()
    }

    fn node(&self, name: &str) -> &Value {
        self.info["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == name))
            .unwrap_or_else(|| panic!("no demo node {name}: {}", self.info))
    }

    fn url(&self, name: &str) -> String {
        self.node(name)["url"]
            .as_str()
            .expect("url")
            .trim_end_matches('/')
            .to_string()
    }

    /// Ctrl-C: the demo stops every node cleanly and exits 0.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), "INT");
            let st = wait_timeout(&mut c, Duration::from_secs(60)).expect("demo stops on Ctrl-C");
            assert!(st.success(), "demo exited with {st}: {}", self.log());
            assert!(self.log().contains("demo stopped"), "{}", self.log());
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Headless Chromium behind chromedriver, and where its screenshots go.
struct Browser {
    driver: Child,
    client: Client,
    shots: PathBuf,
    step: usize,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn which(cands: &[&str]) -> Option<PathBuf> {
    cands.iter().map(PathBuf::from).find(|p| p.exists())
}

impl Browser {
    async fn start(test: &str) -> Self {
        let driver_bin = which(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
            .expect("chromedriver not found: install Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`; .ci/run does)");
        let chromium = which(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])
            .expect("chromium not found: `apt-get install -y chromium chromium-driver`");
        let port = free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1366,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let caps = caps.as_object().cloned().expect("object");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let conn = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(conn)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot start a WebDriver session with chromedriver: {e}"),
            }
        };
        let exe = std::env::current_exe().expect("exe");
        let shots = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .join("test-artifacts/portal")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).expect("artifact dir");
        Self {
            driver,
            client,
            shots,
            step: 0,
            _profile: profile,
        }
    }

    async fn shot(&mut self, name: &str) {
        self.step += 1;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("goto");
    }

    async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .expect("click");
    }

    /// Clicks a form's submit button and waits for the next page: the old document's
    /// root goes stale once the browser has replaced it.
    async fn submit(&self, css: &str) {
        let old = self.client.find(Locator::Css("html")).await.expect("page");
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while old.tag_name().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "{css} did not lead to a new page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
        {
            out.push(e.text().await.unwrap_or_default());
        }
        out
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Waits for the browser to land on `path` (a form post and its redirects).
    async fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.path().await != path {
            assert!(
                Instant::now() < deadline,
                "expected to reach {path}, still at {}: {}",
                self.client
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    async fn login(&self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#username", user).await;
        self.fill("#password", password).await;
        self.submit("#login").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.text("#signed-in").await != user {
            assert!(
                Instant::now() < deadline,
                "logged in as {user}: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of this node's session cookie in the browser.
    async fn session_cookie(&self, account: &str) -> (String, String) {
        let name = format!("pdc_session_{}", &account[..12]);
        let c = self
            .client
            .get_named_cookie(&name)
            .await
            .unwrap_or_else(|e| panic!("cookie {name}: {e}"));
        (name, c.value().to_string())
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let mut d = self.driver;
        let _ = d.kill();
        let _ = d.wait();
    }
}

/// Hospital search for `query`; returns the result rows' text.
async fn hospital_search(b: &Browser, base: &str, query: &str) -> Vec<String> {
    b.goto(&format!("{base}/hospital")).await;
    b.fill("#query", query).await;
    b.submit("#search-submit").await;
    // The fan-out may take a moment; the result page replaces the form when it is done.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.text("#summary").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the search shows its summary: {}",
            b.source().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.texts("#results tr.result").await
}

async fn reward_total(b: &Browser, base: &str) -> String {
    b.goto(&format!("{base}/patient/rewards")).await;
    b.text("#reward-total").await
}

async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_walkthrough_in_a_browser() {
    let mut demo = Demo::start(&[], 1);
    let mut b = Browser::start("paper_walkthrough").await;
    let (h1, h2) = (demo.url("Hospital1"), demo.url("Hospital2"));
    let newp = demo.node("New patient").clone();
    let carol = demo.url("New patient");

    // 1. A new patient registers with a disease and Hospital1 selected.
    b.goto(newp["setup_url"].as_str().expect("setup url")).await;
    b.fill("#name", "Carol").await;
    b.fill("#password", "carol-secret-42").await;
    b.fill("#password2", "carol-secret-42").await;
    b.fill("#disease", "Type 2 diabetes mellitus").await;
    b.client
        .find(Locator::XPath(
            "//select[@id='hospitals']/option[starts-with(normalize-space(.), 'Hospital1 ')]",
        ))
        .await
        .expect("Hospital1 is offered")
        .click()
        .await
        .expect("select Hospital1");
    b.shot("register-form").await;
    b.submit("#register").await;
    b.wait_path("/patient").await;
    assert!(b.text("#flash").await.contains("Welcome, Carol"));
    let hashes = b.texts("#conditions code.hash").await;
    assert_eq!(hashes.len(), 1, "one condition: {}", b.source().await);
    let record_hash = hashes[0].clone();
    assert_eq!(record_hash.len(), 64);
    b.goto(&format!("{carol}/patient/consents")).await;
    let consents = b.text("#consents").await;
    assert!(
        consents.contains("Hospital1") && !consents.contains("Hospital2"),
        "{consents}"
    );
    b.shot("patient-registered").await;

    // 2. Hospital1 logs in, searches the disease and sees Carol's record with its hash.
    b.login(&h1, "Hospital1", "Hospital1").await;
    let rows = eventually(60, "Hospital1 to find Carol", || {
        let b = &b;
        let h1 = h1.clone();
        async move {
            let rows = hospital_search(b, &h1, "diabetes").await;
            rows.iter().any(|r| r.contains("Carol")).then_some(rows)
        }
    })
    .await;
    let carol_row = rows.iter().find(|r| r.contains("Carol")).expect("row");
    assert!(
        carol_row.contains("Type 2 diabetes mellitus"),
        "{carol_row}"
    );
    assert!(
        carol_row.contains(&record_hash),
        "the record hash is shown: {carol_row}"
    );
    assert!(
        b.source().await.contains("access-block"),
        "the access block is shown"
    );
    b.shot("hospital1-finds-carol").await;

    // 3. Hospital2 logs in and does not see her.
    b.login(&h2, "Hospital2", "Hospital2").await;
    let rows2 = hospital_search(&b, &h2, "diabetes").await;
    assert!(
        !rows2.iter().any(|r| r.contains("Carol")),
        "Hospital2 must not see Carol: {rows2:?}"
    );
    assert!(!b.source().await.contains(&record_hash));
    b.shot("hospital2-does-not").await;

    // 4. Carol sees 0.5 for the access, and the access in her list.
    b.goto(&carol).await;
    if b.path().await == "/login" {
        b.login(&carol, "Carol", "carol-secret-42").await;
    }
    eventually(60, "Carol's reward to read 0.5", || {
        let b = &b;
        let carol = carol.clone();
        async move { (reward_total(b, &carol).await == "0.5").then_some(()) }
    })
    .await;
    b.shot("reward-0.5").await;
    b.goto(&format!("{carol}/patient/access")).await;
    let access = b.texts("#accesses tbody tr").await;
    assert_eq!(access.len(), 1, "{access:?}");
    assert!(
        access[0].contains("Hospital1")
            && access[0].contains("diabetes")
            && access[0].contains("granted"),
        "{access:?}"
    );
    b.shot("who-accessed").await;

    // 5. A second access: 1.0.
    b.goto(&h1).await;
    let again = hospital_search(&b, &h1, "diabetes").await;
    assert!(again.iter().any(|r| r.contains("Carol")));
    eventually(60, "Carol's reward to read 1.0", || {
        let b = &b;
        let carol = carol.clone();
        async move { (reward_total(b, &carol).await == "1.0").then_some(()) }
    })
    .await;
    b.shot("reward-1.0").await;
    b.goto(&format!("{carol}/patient/access")).await;
    assert_eq!(b.texts("#accesses tbody tr").await.len(), 2);

    // 6. A condition named like a script is shown as text and never runs.
    let evil = "<script>alert(1)</script>";
    b.goto(&format!("{carol}/patient")).await;
    b.fill("#condition-text", evil).await;
    b.submit("#add-condition-submit").await;
    let shown = b.texts("#conditions td.condition").await;
    assert!(shown.iter().any(|t| t == evil), "shown as text: {shown:?}");
    let src = b.source().await;
    assert!(
        src.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped in the page"
    );
    assert!(!src.contains(evil), "never raw in the page");
    assert!(b.client.get_alert_text().await.is_err(), "no alert opened");
    b.shot("script-as-text").await;

    // 7. A form post without the CSRF token is refused, with a valid session.
    let account = demo.node("New patient")["account"]
        .as_str()
        .expect("account")
        .to_string();
    let (name, value) = b.session_cookie(&account).await;
    let cookie = format!("{name}={value}");
    for body in [
        "text=forged&status=active",
        "text=forged&status=active&csrf=00112233",
    ] {
        let (code, _, page) = http_headers(
            &carol,
            "POST",
            "/patient/conditions",
            &[
                ("Cookie", &cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        assert_eq!(code, 403, "{}", String::from_utf8_lossy(&page));
        assert!(String::from_utf8_lossy(&page).contains("security token"));
    }
    let (code, _, page) = http_headers(&carol, "GET", "/patient", &[("Cookie", &cookie)], b"");
    assert_eq!(code, 200, "the session itself is valid");
    assert!(
        !String::from_utf8_lossy(&page).contains("forged"),
        "nothing was stored"
    );

    // 8. Carol revokes Hospital1: its searches stop reaching her records (Hospital1
    //    learns the revocation from the ledger and stops asking; had it asked first, her
    //    node would have refused), and she earns nothing more.
    b.goto(&format!("{carol}/patient/consents")).await;
    b.submit("#consents button.danger").await;
    b.wait_path("/patient/consents").await;
    assert!(
        b.text("#flash").await.contains("Revoked"),
        "{}",
        b.source().await
    );
    assert!(b.text("#consents td.state").await.contains("revoked"));
    b.shot("revoked").await;
    b.goto(&h1).await;
    let rows = hospital_search(&b, &h1, "diabetes").await;
    assert!(!rows.iter().any(|r| r.contains("Carol")), "{rows:?}");
    assert!(
        rows.iter().any(|r| r.contains("Alice")),
        "others still answer: {rows:?} {}",
        b.text("main").await
    );
    b.shot("hospital1-after-revoke").await;
    b.goto(&format!("{carol}/patient/access")).await;
    let access = b.texts("#accesses tbody tr").await;
    assert!(
        access.len() == 2
            || (access.len() == 3 && access[0].contains("denied") && access[0].contains("revoked")),
        "{access:?}"
    );
    assert_eq!(reward_total(&b, &carol).await, "1.0");

    // 9. The operator page: peers, heads and balances of the network.
    b.goto(&format!("{h1}/operator")).await;
    assert!(
        b.texts("#peers tbody tr").await.len() >= 2,
        "{}",
        b.source().await
    );
    assert!(b.text("#balances").await.contains("Hospital1"));
    assert!(b.text("#heads").await.contains("Hospital2"));
    b.shot("operator").await;

    b.close().await;
    demo.stop();
}

// The normal idle timeout (900 s): this flow edits, imports a bundle in a debug build
// and follows redirects while other demos and browsers run, and none of that may race
// the session's expiry. The expiry has its own test below, with its own short-idle node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_edit_bundles_import_and_failed_logins_are_limited() {
    let mut demo = Demo::start(&[], 0);
    let mut b = Browser::start("edit_import_and_rate_limit").await;
    let alice = demo.url("Alice");
    b.login(&alice, "Alice", "Alice").await;
    b.shot("alice-logged-in").await;

    // Editing a condition changes its text and its record hash.
    b.goto(&format!("{alice}/patient")).await;
    let before = b.texts("#conditions code.hash").await;
    b.submit("#conditions tr:nth-child(2) a").await;
    assert!(b.path().await.starts_with("/patient/conditions/"));
    let edited = "Essential hypertension, controlled";
    b.fill("#condition-text", edited).await;
    b.submit("#save-condition").await;
    b.wait_path("/patient").await;
    let shown = b.texts("#conditions td.condition").await;
    assert!(shown.iter().any(|c| c == edited), "{shown:?}");
    assert!(
        shown.iter().all(|c| c != "Essential hypertension"),
        "{shown:?}"
    );
    let after = b.texts("#conditions code.hash").await;
    assert_eq!(before.len(), after.len());
    assert_ne!(before, after, "the edited record has a new hash");
    b.shot("condition-edited").await;

    // A FHIR bundle imported from the browser.
    let bundle = std::fs::read_dir(shared_dir().join("data/fhir"))
        .expect("fhir dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .and_then(|p| p.canonicalize().ok())
        .expect("a bundle");
    b.goto(&format!("{alice}/patient/import")).await;
    b.client
        .find(Locator::Css("#bundle"))
        .await
        .expect("file input")
        .send_keys(&bundle.display().to_string())
        .await
        .expect("choose file");
    b.submit("#import").await;
    b.wait_path("/patient").await;
    assert!(
        b.text("#flash").await.contains("Imported"),
        "{}",
        b.source().await
    );
    assert!(b.texts("#conditions td.condition").await.len() > 2);
    b.shot("fhir-imported").await;

    // Deny by default: no page and no form of the portal without a session.
    for (method, path) in [
        ("GET", "/patient"),
        ("GET", "/patient/access"),
        ("GET", "/operator"),
        ("POST", "/patient/conditions"),
        ("POST", "/patient/consents"),
    ] {
        let (code, head, _) = http_headers(
            &alice,
            method,
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"text=x",
        );
        assert_eq!(code, 303, "{method} {path}: {head}");
        assert!(head.contains("location: /login"), "{method} {path}: {head}");
    }

    // A login form without its token is refused.
    let (code, _, _) = http_headers(
        &alice,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"username=Alice&password=Alice",
    );
    assert_eq!(code, 403);
    // Five wrong passwords, then even the right one is refused for a while.
    for _ in 0..5 {
        assert_eq!(
            PortalClient::new(&alice).login("Alice", "wrong").status,
            401
        );
    }
    let r = PortalClient::new(&alice).login("Alice", "Alice");
    assert_eq!(r.status, 429, "locked after five failures");
    // A successful login sets an HttpOnly, SameSite=Strict session cookie.
    let h1 = demo.url("Hospital1");
    let r = PortalClient::new(&h1).login("Hospital1", "Hospital1");
    assert_eq!(r.status, 303, "{}", r.head);
    let session = r
        .head
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .find(|c| c.starts_with("pdc_session_"))
        .unwrap_or_else(|| panic!("a session cookie: {}", r.head));
    assert!(
        session.contains("; httponly") && session.contains("; samesite=strict"),
        "{session}"
    );

    b.close().await;
    demo.stop();
}

/// A session unused for longer than `portal.session_idle_secs` is gone: the next page
/// sends the user to the login page saying why, and the cookie never works again.
#[test]
fn an_idle_session_ends_and_the_login_page_says_why() {
    const IDLE_SECS: u64 = 2;
    let mut node = NodeProc::init("patient", "Idle");
    node.env = vec![("PDC_PORTAL_SESSION_IDLE_SECS".into(), IDLE_SECS.to_string())];
    node.start();
    let code = std::fs::read_to_string(node.path().join("portal-setup.code"))
        .expect("setup code")
        .trim()
        .to_string();
    let mut c = PortalClient::new(&node.api);
    let setup = format!("/setup?code={code}");
    let r = c.submit(
        &setup,
        "/setup",
        &[
            ("code", &code),
            ("username", "Ida"),
            ("password", "ida-secret-42"),
            ("password2", "ida-secret-42"),
        ],
    );
    assert_eq!((r.status, r.location()), (303, Some("/")), "{}", r.body);
    let (name, token) = c.cookie("pdc_session_").expect("a session cookie");
    // The server stamped the session before this response left it, so once more than
    // IDLE_SECS have passed since it arrived, the server's own clock says the session
    // is idle too, however slow the machine: a deadline, not a guess.
    std::thread::sleep(Duration::from_secs(IDLE_SECS + 1));

    let r = c.get("/patient/rewards");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location(),
        Some("/login?expired=1"),
        "an idle session is sent to log in again, told why"
    );
    let login = c.get("/login?expired=1");
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("without activity. Log in again."),
        "{}",
        login.body
    );
    // Expired sessions are deleted, not just refused once: the same cookie is now
    // simply unknown.
    let mut again = PortalClient::new(&node.api);
    again.set_cookie(&name, &token);
    let r = again.get("/patient");
    assert_eq!(
        (r.status, r.location()),
        (303, Some("/login")),
        "{}",
        r.body
    );
    node.stop();
}
