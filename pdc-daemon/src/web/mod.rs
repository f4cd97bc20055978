//! The web portals: server-rendered HTML forms, no JavaScript at all.
//!
//! - Patient portal (patient nodes): profile and conditions with their hashes, FHIR
//!   import, consents (hospitals multi-select, purposes, expiry, revoke), rewards, and
//!   who accessed the data.
//! - Hospital portal (hospital nodes): staff log in with their own accounts and search
//!   by disease; admins create staff accounts.
//! - Operator page (admins): peers, chain heads, forks, balances.
//!
//! Every page calls the same [`crate::service`] functions as the JSON API and renders
//! the typed views they return, so the portals, the API and the CLI share one set of
//! rules, validations and field names.
//!
//! Security: argon2id password hashes ([`users`]); sessions are random 256-bit tokens in
//! `HttpOnly; SameSite=Strict` cookies, kept server-side by their blake3 hash, ending
//! after `portal.session_idle_secs` unused; every form carries a CSRF token (the
//! session's, or a pre-session double-submit cookie on the login and setup forms);
//! every value goes through maud, which escapes it; failed logins are rate limited per
//! user name; pages are sent with a CSP that allows no script at all.

mod hospital;
mod patient;
pub mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use crate::config::Role;
use crate::identity::constant_time_eq;
use crate::node::Node;

/// File in the data directory holding the one-time code that lets the first portal
/// account be created (0600). Removed once that account exists.
pub const SETUP_CODE_FILE: &str = pdc_proto::api::files::SETUP_CODE_FILE;

/// Shared state of one node's portals.
#[derive(Debug)]
pub(crate) struct Portal {
    node: Arc<Node>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    /// Cookie names carry the node's fingerprint: cookies are not port-specific, so two
    /// nodes on 127.0.0.1 (the demo) would otherwise overwrite each other's session.
    session_cookie: String,
    pre_cookie: String,
}

#[derive(Debug)]
struct Session {
    user: String,
    admin: bool,
    csrf: String,
    last_seen: Instant,
    flash: Option<Flash>,
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
    first: Option<Instant>,
}

/// A message shown once on the next page.
#[derive(Debug, Clone)]
pub(crate) enum Flash {
    /// Something worked.
    Ok(String),
    /// Something was refused; the text says why and what to do.
    Err(String),
}

impl maud::Render for Flash {
    fn render(&self) -> Markup {
        match self {
            Flash::Ok(t) => html! { p.flash.ok #flash { (t) } },
            Flash::Err(t) => html! { p.flash.err #flash { (t) } },
        }
    }
}

/// The logged-in user of a request.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    user: String,
    admin: bool,
    csrf: String,
    flash: Option<Flash>,
}

fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn session_key(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The first-account code, creating it if the node has no portal account yet; `None`
/// once an account exists.
pub async fn setup_code(node: &Node) -> Option<String> {
    if users::any(node.store()).await.unwrap_or(true) {
        return None;
    }
    let path = node.config().data_dir.join(SETUP_CODE_FILE);
    if let Ok(c) = std::fs::read_to_string(&path) {
        let c = c.trim().to_string();
        if c.len() >= 16 {
            return Some(c);
        }
    }
    let code = random_token()[..24].to_string();
    let _ = std::fs::remove_file(&path);
    crate::identity::write_secret_file(&path, code.as_bytes()).ok()?;
    Some(code)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: Option<u64>) {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    let c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{age}");
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

impl Portal {
    fn new(node: Arc<Node>) -> Self {
        let fp: String = node
            .account()
            .to_string()
            .chars()
            .take(12)
            .collect::<String>();
        Self {
            node,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            session_cookie: format!("pdc_session_{fp}"),
            pre_cookie: format!("pdc_pre_{fp}"),
        }
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.node.config().portal.session_idle_secs)
    }

    /// The request's session, refreshed; or a redirect to the login page (saying why
    /// when the session ran out).
    fn me(&self, headers: &HeaderMap) -> Result<Me, Denied> {
        self.me_inner(headers, true)
    }

    /// `take_flash`: false for handlers that only redirect, so the message waits for
    /// the page that shows it.
    fn me_inner(&self, headers: &HeaderMap, take_flash: bool) -> Result<Me, Denied> {
        let Some(token) = cookie_value(headers, &self.session_cookie) else {
            return Err(Denied::Login);
        };
        let key = session_key(&token);
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let idle = self.idle();
        match sessions.get_mut(&key) {
            Some(s) if s.last_seen.elapsed() <= idle => {
                s.last_seen = Instant::now();
                Ok(Me {
                    user: s.user.clone(),
                    admin: s.admin,
                    csrf: s.csrf.clone(),
                    flash: if take_flash { s.flash.take() } else { None },
                })
            }
            Some(_) => {
                sessions.remove(&key);
                Err(Denied::Expired)
            }
            None => Err(Denied::Login),
        }
    }

    /// Like [`Portal::me`], and checks the form's CSRF token against the session's.
    fn me_post(&self, headers: &HeaderMap, form: &Form) -> Result<Me, Denied> {
        let me = self.me(headers)?;
        let sent = form.one("csrf");
        if sent.is_empty() || !constant_time_eq(sent.as_bytes(), me.csrf.as_bytes()) {
            return Err(Denied::Csrf);
        }
        Ok(me)
    }

    fn flash(&self, headers: &HeaderMap, f: Flash) {
        if let Some(token) = cookie_value(headers, &self.session_cookie) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = sessions.get_mut(&session_key(&token)) {
                s.flash = Some(f);
            }
        }
    }

    fn login_session(&self, user: &users::User, flash: Option<Flash>) -> Response {
        let token = random_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let idle = self.idle();
        sessions.retain(|_, s| s.last_seen.elapsed() <= idle);
        sessions.insert(
            session_key(&token),
            Session {
                user: user.name.clone(),
                admin: user.admin,
                csrf: random_token(),
                last_seen: Instant::now(),
                flash,
            },
        );
        drop(sessions);
        let mut resp = Redirect::to("/").into_response();
        set_cookie(&mut resp, &self.session_cookie, &token, None);
        set_cookie(&mut resp, &self.pre_cookie, "", Some(0));
        resp
    }

    /// Seconds left of a lockout for this name, if locked.
    fn locked(&self, name: &str) -> Option<u64> {
        let f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.get(&name.trim().to_lowercase())
            .and_then(|x| x.locked_until)
            .filter(|t| *t > Instant::now())
            .map(|t| t.duration_since(Instant::now()).as_secs().max(1))
    }

    fn record_failure(&self, name: &str) {
        let s = &self.node.config().portal;
        let window = Duration::from_secs(s.login_lockout_secs);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() > 10_000 {
            f.retain(|_, x| x.first.is_some_and(|t| t.elapsed() < window));
        }
        let e = f.entry(name.trim().to_lowercase()).or_default();
        if e.first.is_none_or(|t| t.elapsed() > window) {
            *e = Failures {
                count: 0,
                locked_until: None,
                first: Some(Instant::now()),
            };
        }
        e.count += 1;
        if e.count >= s.login_max_failures {
            e.locked_until = Some(Instant::now() + window);
            tracing::warn!(user = %name, "portal logins locked after {} failures", e.count);
        }
    }

    fn clear_failures(&self, name: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        f.remove(&name.trim().to_lowercase());
    }
}

/// Why a portal request was not let through.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Denied {
    /// No session: log in.
    Login,
    /// The session ran out of idle time: log in again, and say so.
    Expired,
    /// A form without its CSRF token.
    Csrf,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::Login => Redirect::to("/login").into_response(),
            Self::Expired => Redirect::to("/login?expired=1").into_response(),
            Self::Csrf => csrf_refused(),
        }
    }
}

fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(
            html! {
                (DOCTYPE)
                html { head { title { "Refused" } } body {
                    h1 { "Form refused" }
                    p { "The form was sent without its security token (CSRF protection). Go back, reload the page and send it again." }
                    p { a href="/" { "Back to the portal" } }
                } }
            }
            .into_string(),
        ),
    )
        .into_response()
}

/// A submitted form (urlencoded), keeping repeated fields (multi-selects).
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// The first value of `key`, trimmed, or "".
    fn one(&self, key: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }
    /// Every non-empty value of `key`.
    fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// Builds the portals' router for a node; the daemon merges it with [`crate::api::router`].
pub fn router(node: Arc<Node>) -> Router {
    let portal = Arc::new(Portal::new(node.clone()));
    let common = Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/portal/style.css", get(style))
        .route("/operator", get(hospital::operator));
    let by_role = match node.config().role {
        Role::Patient => patient::routes(),
        Role::Hospital => hospital::routes(),
    };
    common
        .merge(by_role)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(portal)
}

/// No script may run on a portal page, not even injected: the CSP forbids all script.
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
        .into_response()
}

async fn home(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    match p.me_inner(&headers, false) {
        Ok(_) => match p.node.config().role {
            Role::Patient => Redirect::to("/patient").into_response(),
            Role::Hospital => Redirect::to("/hospital").into_response(),
        },
        Err(r) => r.into_response(),
    }
}

/// The common page frame: header with the node's identity, navigation, flash message.
pub(crate) fn page(p: &Portal, me: Option<&Me>, title: &str, body: Markup) -> Response {
    let node = &p.node;
    let role = node.config().role;
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (node.config().name) " · Sec-Net PDC" }
                link rel="stylesheet" href="/portal/style.css";
            }
            body {
                header {
                    div.brand { "Sec-Net PDC" }
                    div.who {
                        strong #node-name { (node.config().name) }
                        " · " (role.as_str()) " node · key " code { (node.account().fingerprint()) }
                    }
                    @if let Some(me) = me {
                        nav {
                            @match role {
                                Role::Patient => {
                                    a href="/patient" { "My record" }
                                    a href="/patient/consents" { "Sharing" }
                                    a href="/patient/rewards" { "Rewards" }
                                    a href="/patient/access" { "Who accessed my data" }
                                    a href="/patient/import" { "Import FHIR" }
                                }
                                Role::Hospital => {
                                    a href="/hospital" { "Search" }
                                    a href="/hospital/history" { "Our accesses" }
                                    @if me.admin { a href="/hospital/staff" { "Staff" } }
                                }
                            }
                            @if me.admin { a href="/operator" { "Network" } }
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(me.csrf);
                                span.user { "Signed in as " strong #signed-in { (me.user) } }
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    @if let Some(f) = me.and_then(|m| m.flash.as_ref()) { (f) }
                    (body)
                }
                footer { "Your data stays on this node. Every access is signed and logged on the ledger." }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// Renders micro-credits the way people write them: `0.5`, `1.0`, `12.25`.
pub(crate) fn credits(micro: impl Into<i128>) -> String {
    let m = i64::try_from(micro.into()).unwrap_or(i64::MAX);
    pdc_proto::api::Credits(m).to_string()
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    expired: Option<String>,
}

/// The login page. `needs_setup`: the node has no account yet, so point to the setup
/// link (read-only: showing the login page must not create the setup code).
fn login_form(
    p: &Portal,
    pre: &str,
    msg: Option<Flash>,
    name: &str,
    needs_setup: bool,
) -> Response {
    let body = html! {
        @if let Some(f) = &msg { (f) }
        form.card method="post" action="/login" {
            input type="hidden" name="csrf" value=(pre);
            label { "User name" input #username type="text" name="username" value=(name) autocomplete="username" required autofocus; }
            label { "Password" input #password type="password" name="password" autocomplete="current-password" required; }
            button #login type="submit" { "Log in" }
        }
        @if needs_setup {
            p.hint { "This node has no account yet. Open the setup link printed by the daemon (or in "
                code { (SETUP_CODE_FILE) } " in its data directory) to create the first one." }
        }
    };
    let mut resp = page(p, None, "Log in", body);
    set_cookie(&mut resp, &p.pre_cookie, pre, None);
    resp
}

async fn login_page(State(p): State<Arc<Portal>>, Query(q): Query<LoginQuery>) -> Response {
    let msg = q.expired.map(|_| {
        Flash::Err(format!(
            "Your session ended after {} minutes without activity. Log in again.",
            p.node.config().portal.session_idle_secs.div_ceil(60)
        ))
    });
    let needs_setup = !users::any(p.node.store()).await.unwrap_or(true);
    login_form(&p, &random_token(), msg, "", needs_setup)
}

/// Checks the pre-session CSRF token (double submit: cookie == form field).
fn pre_ok(p: &Portal, headers: &HeaderMap, form: &Form) -> bool {
    let sent = form.one("csrf");
    cookie_value(headers, &p.pre_cookie)
        .is_some_and(|c| !c.is_empty() && constant_time_eq(c.as_bytes(), sent.as_bytes()))
}

async fn login(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !pre_ok(&p, &headers, &form) {
        return csrf_refused();
    }
    let name = form.one("username");
    let needs_setup = !users::any(p.node.store()).await.unwrap_or(true);
    let again = |msg: String, code: StatusCode| {
        let mut r = login_form(
            &p,
            &random_token(),
            Some(Flash::Err(msg)),
            &name,
            needs_setup,
        );
        *r.status_mut() = code;
        r
    };
    if let Some(secs) = p.locked(&name) {
        return again(
            format!("Too many failed logins for this user. Try again in {secs} seconds."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    match users::verify(p.node.store(), &name, &form.one("password")).await {
        Ok(Some(user)) => {
            p.clear_failures(&name);
            tracing::info!(user = %user.name, "portal login");
            p.login_session(&user, None)
        }
        Ok(None) => {
            p.record_failure(&name);
            again(
                "Wrong user name or password.".into(),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(e) => again(
            format!("The node could not read its accounts: {e}"),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    }
}

async fn logout(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if let Err(r) = p.me_post(&headers, &form) {
        return r.into_response();
    }
    if let Some(token) = cookie_value(&headers, &p.session_cookie) {
        let mut sessions = p.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(&session_key(&token));
    }
    let mut resp = Redirect::to("/login").into_response();
    set_cookie(&mut resp, &p.session_cookie, "", Some(0));
    resp
}

#[derive(Debug, Deserialize)]
struct SetupQuery {
    #[serde(default)]
    code: String,
}

/// First-run page: a patient registers (account, profile, disease, hospitals to share
/// with); a hospital creates its first admin. Needs the one-time setup code, so whoever
/// merely reaches the port first cannot claim the node.
async fn setup_page(State(p): State<Arc<Portal>>, Query(q): Query<SetupQuery>) -> Response {
    let pre = random_token();
    let resp = match setup_code(&p.node).await {
        None => page(
            &p,
            None,
            "Set up",
            html! { p { "This node already has an account. " a href="/login" { "Log in" } "." } },
        ),
        Some(_) => match p.node.config().role {
            Role::Patient => patient::setup_form(&p, &pre, &q.code, None).await,
            Role::Hospital => hospital::setup_form(&p, &pre, &q.code, None),
        },
    };
    let mut resp = resp;
    set_cookie(&mut resp, &p.pre_cookie, &pre, None);
    resp
}

async fn setup(State(p): State<Arc<Portal>>, headers: HeaderMap, body: Bytes) -> Response {
    let form = Form::parse(&body);
    if !pre_ok(&p, &headers, &form) {
        return csrf_refused();
    }
    let Some(code) = setup_code(&p.node).await else {
        return Redirect::to("/login").into_response();
    };
    let sent = form.one("code");
    if !constant_time_eq(sent.as_bytes(), code.as_bytes()) {
        p.record_failure("(setup)");
        return (
            StatusCode::FORBIDDEN,
            page(
                &p,
                None,
                "Set up",
                html! { p.flash.err #flash { "The setup code is wrong. Use the link the daemon printed, or the code in "
                code { (SETUP_CODE_FILE) } " in the node's data directory." } },
            ),
        )
            .into_response();
    }
    let result = match p.node.config().role {
        Role::Patient => patient::register(&p, &form).await,
        Role::Hospital => hospital::first_admin(&p, &form).await,
    };
    match result {
        Ok(user) => {
            let _ = std::fs::remove_file(p.node.config().data_dir.join(SETUP_CODE_FILE));
            p.login_session(
                &user,
                Some(Flash::Ok(format!(
                    "Welcome, {}. Your node is set up.",
                    user.name
                ))),
            )
        }
        Err(msg) => {
            let pre = random_token();
            let mut r = match p.node.config().role {
                Role::Patient => patient::setup_form(&p, &pre, &sent, Some((msg, &form))).await,
                Role::Hospital => hospital::setup_form(&p, &pre, &sent, Some((msg, &form))),
            };
            *r.status_mut() = StatusCode::BAD_REQUEST;
            set_cookie(&mut r, &p.pre_cookie, &pre, None);
            r
        }
    }
}

/// A page handler's session: handlers take `me: Me` and are never called without one
/// (no session or an idle one redirects to the login page).
impl axum::extract::FromRequestParts<Arc<Portal>> for Me {
    type Rejection = Denied;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        p: &Arc<Portal>,
    ) -> Result<Self, Denied> {
        p.me(&parts.headers)
    }
}

/// A form post's session and fields: handlers take `Posted { me, form }` and are only
/// called for a live session whose form carries that session's CSRF token (otherwise
/// the login redirect or 403, and nothing is stored).
pub(crate) struct Posted {
    pub(crate) me: Me,
    pub(crate) form: Form,
}

impl axum::extract::FromRequest<Arc<Portal>> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, p: &Arc<Portal>) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts.clone(), body), p)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&body);
        let me = p
            .me_post(&parts.headers, &form)
            .map_err(IntoResponse::into_response)?;
        Ok(Self { me, form })
    }
}

/// The page shown when reading what a page needs failed: what failed, and that nothing
/// was changed (rather than an empty table that looks like "no data").
pub(crate) fn failed(p: &Portal, me: &Me, detail: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page(
            p,
            Some(me),
            "Something failed",
            html! {
                p.flash.err #flash { (detail) }
                p { "Nothing was changed. Reload the page; if it keeps failing, the node's log says more." }
            },
        ),
    )
        .into_response()
}

/// The short form of a key or hash for tables; the full value goes in the title.
pub(crate) use pdc_proto::api::short_key as short;

/// What a page needs from the service, or the error page.
// The error page is a whole response, as every page handler's `Err` already is.
#[allow(clippy::result_large_err)]
pub(crate) fn fetch<T>(p: &Portal, me: &Me, r: crate::service::Result<T>) -> Result<T, Response> {
    r.map_err(|e| failed(p, me, &e.detail))
}

/// A service call's result with its error as the text a page shows.
pub(crate) fn call<T>(r: crate::service::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.detail)
}
