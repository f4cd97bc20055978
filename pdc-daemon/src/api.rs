//! The HTTP JSON API. Every route needs the node's bearer token; every error is
//! `{ "error": ..., "detail": ... }`; request bodies are size-limited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pdc_proto::records::{Condition, Note, Profile, Record, record::Body};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::consent::{decide, fmt_ms};
use crate::identity::constant_time_eq;
use crate::node::Node;
use crate::records::fhir::{FhirError, export_bundle, import_bundle};
use crate::records::{RecordError, StoredRecord, content_hash, kind, new_id, now_ms, summary};
use crate::store::StoreError;

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            error,
            detail: detail.into(),
        }
    }
    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "error": self.error, "detail": self.detail })),
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull(_) => {
                Self::new(StatusCode::INSUFFICIENT_STORAGE, "disk_full", e.to_string())
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string()),
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(s) => s.into(),
            RecordError::NotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            RecordError::Invalid(_) => Self::bad_request(e.to_string()),
            RecordError::Decrypt { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "decrypt", e.to_string())
            }
        }
    }
}

impl From<FhirError> for ApiError {
    fn from(e: FhirError) -> Self {
        match e {
            FhirError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            _ => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_fhir",
                e.to_string(),
            ),
        }
    }
}

/// What every handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;

impl ApiError {
    /// What was wrong and what to do, as the JSON `detail` says it.
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }
}

/// Runs a handler's result down to its JSON body, for in-process callers (the portals),
/// so they apply exactly the API's rules.
pub(crate) async fn json_of(r: ApiResult) -> Result<Value, ApiError> {
    let resp = r?;
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// 403 unless this node is a `role` node.
fn require_role(
    node: &Node,
    role: crate::config::Role,
    error: &'static str,
    detail: &'static str,
) -> Result<(), ApiError> {
    if node.config.role == role {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, error, detail))
    }
}

/// The node's network client, or 503 while the network is not started.
fn net_client(node: &Node) -> Result<crate::net::NetClient, ApiError> {
    node.net.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_network",
            "the network is not started",
        )
    })
}

/// Turns a raw body into `T`, with body-limit and JSON errors as JSON responses.
fn parse_json<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("request body is not valid JSON for this call: {e}"))
    })
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "too_large",
                "request body exceeds the node's limit (api_max_body_bytes)",
            )
        } else {
            ApiError::new(status, "bad_body", r.body_text())
        }
    })
}

/// Builds the API router for a node.
pub fn router(node: Arc<Node>) -> Router {
    let limit = node.config.api_max_body_bytes;
    let api = Router::new()
        .route("/status", get(status))
        .route("/records", get(list_records).post(add_record))
        .route(
            "/records/{id}",
            get(show_record).put(update_record).delete(delete_record),
        )
        .route("/fhir/import", post(fhir_import))
        .route("/fhir/export", get(fhir_export))
        .route("/consents", get(list_consents).post(grant_consent))
        .route("/consents/{id}/revoke", post(revoke_consent))
        .route("/consents/check", post(check_consent))
        .route("/search/local", get(search_local))
        .route("/ledger/heads", get(ledger_heads))
        .route("/ledger/chain/{author}", get(ledger_chain))
        .route("/ledger/block/{hash}", get(ledger_block))
        .route("/ledger/verify", post(ledger_verify))
        .route("/balances", get(balances))
        .route("/forks", get(forks))
        .route("/directory", get(directory))
        .route("/search", post(search_patients))
        .route("/peers", get(peers))
        .route("/peers/connect", post(connect_peer))
        .route("/rewards", get(rewards))
        .route("/audit", get(audit));
    // The portals' pages authenticate by session cookie; everything else (the API, the
    // metrics and the not-found fallback) needs the bearer token.
    let token_routes = Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such API route; see README.md for the routes",
            )
        })
        .layer(middleware::from_fn_with_state(node.clone(), require_token))
        .with_state(node.clone());
    crate::web::router(node)
        .merge(token_routes)
        .layer(DefaultBodyLimit::max(limit))
}

/// Deny by default: every request needs `Authorization: Bearer <token>`.
async fn require_token(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), node.identity.api_token.as_bytes()) => {
            next.run(req).await
        }
        _ => {
            let mut resp = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token; send `Authorization: Bearer <token>` with the token from the node's api.token file",
            )
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            resp
        }
    }
}

pub(crate) async fn status(State(node): State<Arc<Node>>) -> ApiResult {
    let records = node.records.list().await?;
    let now = now_ms();
    let consents = node.with_ledger(|l| l.grants_by_patient(&node.account));
    let live = consents.iter().filter(|g| g.is_live(now)).count();
    Ok(Json(json!({
        "name": node.config.name,
        "role": node.config.role.as_str(),
        "account": node.identity.account_hex(),
        "fingerprint": node.account.fingerprint(),
        "peer_id": node.identity.peer_id(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": node.started.elapsed().as_secs(),
        "records": records.len(),
        "consents_live": live,
        "consents_total": consents.len(),
        "data_dir": node.config.data_dir.display().to_string(),
        "network_id": node.genesis.network_id(),
        "network": hex::encode(node.genesis.hash()),
        "chain_seq": node.with_ledger(|l| l.head(&node.account).map_or(0, |h| h.seq)),
    }))
    .into_response())
}

/// JSON view of a record. `full` includes imported FHIR JSON.
fn record_json(s: &StoredRecord, full: bool) -> Value {
    let r = &s.record;
    let body = match &r.body {
        Some(Body::Profile(p)) => json!({
            "display_name": p.display_name, "pseudonym": p.pseudonym, "birth_date": p.birth_date, "gender": p.gender,
        }),
        Some(Body::Condition(c)) => json!({
            "text": c.text, "status": c.status, "onset": c.onset, "code_system": c.code_system, "code": c.code,
            "icd10_codes": c.icd10_codes,
        }),
        Some(Body::Note(n)) => json!({ "title": n.title, "text": n.text }),
        Some(Body::Fhir(f)) => json!({ "resource_type": f.resource_type }),
        None => json!({}),
    };
    let mut v = json!({
        "id": r.id,
        "kind": kind(r),
        "summary": summary(r),
        "hash": hex::encode(s.hash),
        "created_ms": r.created_ms,
        "updated_ms": r.updated_ms,
        "created": fmt_ms(r.created_ms),
        "body": body,
    });
    if full {
        let fhir = match &r.body {
            Some(Body::Profile(p)) => &p.fhir_json,
            Some(Body::Condition(c)) => &c.fhir_json,
            Some(Body::Fhir(f)) => &f.json,
            _ => "",
        };
        if !fhir.is_empty() {
            v["fhir"] = serde_json::from_str(fhir).unwrap_or(Value::Null);
        }
    }
    v
}

pub(crate) async fn list_records(State(node): State<Arc<Node>>) -> ApiResult {
    let recs = node.records.list().await?;
    Ok(
        Json(json!({ "records": recs.iter().map(|r| record_json(r, false)).collect::<Vec<_>>() }))
            .into_response(),
    )
}

pub(crate) async fn show_record(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult {
    Ok(Json(record_json(&node.records.get(&id).await?, true)).into_response())
}

/// A record as the API accepts it.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RecordInput {
    Condition {
        text: String,
        #[serde(default)]
        status: Option<String>,
        #[serde(default)]
        onset: Option<String>,
    },
    Note {
        #[serde(default)]
        title: String,
        #[serde(default)]
        text: String,
    },
    Profile {
        display_name: String,
        #[serde(default)]
        pseudonym: String,
        #[serde(default)]
        birth_date: String,
        #[serde(default)]
        gender: String,
    },
}

const CONDITION_STATUSES: &[&str] = &[
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
    "unknown",
];

fn body_from_input(input: RecordInput, previous: Option<&Body>) -> Result<Body, ApiError> {
    Ok(match input {
        RecordInput::Condition {
            text,
            status,
            onset,
        } => {
            let status = status
                .unwrap_or_else(|| "active".into())
                .to_ascii_lowercase();
            if !CONDITION_STATUSES.contains(&status.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "status '{status}' is unknown; use one of {}",
                    CONDITION_STATUSES.join(", ")
                )));
            }
            if text.len() > 4096 {
                return Err(ApiError::bad_request(
                    "condition text is longer than 4096 characters",
                ));
            }
            // An edit keeps the coding of an imported condition only if the words stay.
            let kept = match previous {
                Some(Body::Condition(c)) if c.text == text => c.clone(),
                _ => Condition::default(),
            };
            Body::Condition(Condition {
                text,
                status,
                onset: onset.unwrap_or_default(),
                ..kept
            })
        }
        RecordInput::Note { title, text } => Body::Note(Note { title, text }),
        RecordInput::Profile {
            display_name,
            pseudonym,
            birth_date,
            gender,
        } => {
            if display_name.trim().is_empty() {
                return Err(ApiError::bad_request("a profile needs a display_name"));
            }
            let kept = match previous {
                Some(Body::Profile(p)) => p.clone(),
                _ => Profile::default(),
            };
            Body::Profile(Profile {
                display_name,
                pseudonym,
                birth_date,
                gender,
                ..kept
            })
        }
    })
}

pub(crate) async fn add_record(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: RecordInput = parse_json(body)?;
    if matches!(input, RecordInput::Profile { .. })
        && let Some(p) = node
            .records
            .list()
            .await?
            .into_iter()
            .find(|r| matches!(r.record.body, Some(Body::Profile(_))))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "profile_exists",
            format!(
                "this node already has a profile (record {}); update it with PUT /api/v1/records/{}",
                p.record.id, p.record.id
            ),
        ));
    }
    let now = now_ms();
    let record = Record {
        id: new_id(),
        created_ms: now,
        updated_ms: now,
        body: Some(body_from_input(input, None)?),
    };
    let stored = node.records.put(annotate(record)).await?;
    Ok((StatusCode::CREATED, Json(record_json(&stored, false))).into_response())
}

pub(crate) async fn update_record(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: RecordInput = parse_json(body)?;
    let old = node.records.get(&id).await?;
    let body = body_from_input(input, old.record.body.as_ref())?;
    if std::mem::discriminant(&body)
        != std::mem::discriminant(old.record.body.as_ref().unwrap_or(&body))
    {
        return Err(ApiError::bad_request(format!(
            "record {id} is a {}; its kind cannot change",
            kind(&old.record)
        )));
    }
    let record = annotate(Record {
        body: Some(body),
        updated_ms: now_ms(),
        ..old.record
    });
    Ok(Json(record_json(&node.records.put(record).await?, false)).into_response())
}

async fn delete_record(State(node): State<Arc<Node>>, Path(id): Path<String>) -> ApiResult {
    node.records.delete(&id).await?;
    Ok(Json(json!({ "deleted": id })).into_response())
}

pub(crate) async fn fhir_import(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let bytes = body_bytes(body)?;
    let imported = tokio::task::spawn_blocking(move || import_bundle(&bytes))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    let existing = node.records.list().await?;
    let known: std::collections::HashSet<[u8; 32]> = existing.iter().map(|r| r.hash).collect();
    let old_profile = existing
        .iter()
        .find(|r| matches!(r.record.body, Some(Body::Profile(_))));
    let mut fresh = Vec::new();
    let mut skipped = 0usize;
    for r in imported {
        let mut r = annotate(r);
        // One patient per node: an imported Patient replaces the profile, keeping the
        // record id and the pseudonym the patient chose.
        if let (Some(Body::Profile(new)), Some(old)) = (&mut r.body, old_profile) {
            if let Some(Body::Profile(p)) = &old.record.body {
                new.pseudonym = p.pseudonym.clone();
            }
            r.id = old.record.id.clone();
            r.created_ms = old.record.created_ms;
        }
        if known.contains(&content_hash(&r)) {
            skipped += 1;
            continue;
        }
        fresh.push(r);
    }
    let count = |k: &str| fresh.iter().filter(|r| kind(r) == k).count();
    let (profiles, conditions, others) = (count("profile"), count("condition"), count("fhir"));
    let stored = node.records.put_many(fresh).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "imported": stored.len(), "profile": profiles, "conditions": conditions, "other_resources": others,
            "skipped_duplicates": skipped,
        })),
    )
        .into_response())
}

async fn fhir_export(State(node): State<Arc<Node>>) -> ApiResult {
    let recs: Vec<Record> = node
        .records
        .list()
        .await?
        .into_iter()
        .map(|s| s.record)
        .collect();
    Ok(Json(export_bundle(&recs)).into_response())
}

fn grant_json(l: &Ledger, g: &crate::ledger::Grant) -> Value {
    let now = now_ms();
    let state = if g.revoked_by.is_some() {
        "revoked"
    } else if g.not_after_ms != 0 && g.not_after_ms <= now {
        "expired"
    } else {
        "live"
    };
    let time_of = |h: &BlockHash| l.block(h).map(|b| fmt_ms(b.timestamp_ms()));
    json!({
        "grant_id": hex::encode(&g.grant_id),
        "patient": g.patient.to_string(),
        "patient_name": label(l, &g.patient),
        "patient_fingerprint": g.patient.fingerprint(),
        "grantee": g.grantee.to_string(),
        "grantee_fingerprint": g.grantee.fingerprint(),
        "grantee_name": label(l, &g.grantee),
        "scope": g.scope,
        "purposes": g.purposes,
        "not_after_ms": g.not_after_ms,
        "expires": if g.not_after_ms == 0 { "never".to_string() } else { fmt_ms(g.not_after_ms) },
        "price": g.price,
        "created": time_of(&g.block),
        "block": g.block.to_string(),
        "revoked": g.revoked_by.as_ref().and_then(time_of),
        "state": state,
    })
}

/// A patient node lists the grants it gave; a hospital node the grants it holds.
pub(crate) async fn list_consents(State(node): State<Arc<Node>>) -> ApiResult {
    let rows = node.with_ledger(|l| {
        let grants = match node.config.role {
            crate::config::Role::Patient => l.grants_by_patient(&node.account),
            crate::config::Role::Hospital => l.grants_for_grantee(&node.account),
        };
        grants.iter().map(|g| grant_json(l, g)).collect::<Vec<_>>()
    });
    Ok(Json(json!({ "consents": rows })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantInput {
    /// The grantee's key (64 hex digits) or its registered display name.
    grantee: String,
    #[serde(default)]
    purposes: Vec<String>,
    #[serde(default)]
    scope: Option<String>,
    /// Days until expiry; 0 = never; absent = config default.
    #[serde(default)]
    expires_in_days: Option<u64>,
    /// Expiry as epoch milliseconds; wins over `expires_in_days`.
    #[serde(default)]
    not_after_ms: Option<u64>,
    /// Price per access in micro-credits; absent = config default.
    #[serde(default)]
    price: Option<u64>,
}

fn parse_key(s: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    let k = hex::decode(s.trim()).map_err(|_| {
        ApiError::bad_request(format!(
            "{what} must be a 64-hex-digit public key, got '{s}'"
        ))
    })?;
    if k.len() != 32 {
        return Err(ApiError::bad_request(format!(
            "{what} must be 32 bytes (64 hex digits), got {} bytes",
            k.len()
        )));
    }
    Ok(k)
}

/// A key, or a display name registered on the ledger. An ambiguous name is refused with
/// the candidates, because names are labels and anyone can register any name.
fn resolve_principal(node: &Node, who: &str) -> Result<AccountId, ApiError> {
    if let Ok(a) = who.trim().parse::<AccountId>() {
        return Ok(a);
    }
    let found = node.with_ledger(|l| l.find_by_name(who.trim()));
    match found.as_slice() {
        [one] => Ok(one.account),
        [] => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_principal",
            format!(
                "no node named '{who}' is registered on the ledger; give its key (64 hex digits) or check the name with `pdc peers`"
            ),
        )),
        many => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_name",
            format!(
                "'{who}' names {} registered nodes; give the key instead: {}",
                many.len(),
                many.iter()
                    .map(|p| format!("{} ({})", p.account.fingerprint(), p.account))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

impl From<crate::node::NodeError> for ApiError {
    fn from(e: crate::node::NodeError) -> Self {
        use crate::node::NodeError as N;
        match e {
            N::Store(s) => s.into(),
            N::Ledger(l) => Self::new(StatusCode::CONFLICT, "ledger_refused", l.to_string()),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

pub(crate) async fn grant_consent(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: GrantInput = parse_json(body)?;
    require_role(
        &node,
        crate::config::Role::Patient,
        "not_a_patient",
        "only a patient node grants access to its records",
    )?;
    let grantee = resolve_principal(&node, &input.grantee)?;
    if grantee == node.account {
        return Err(ApiError::bad_request(
            "a node cannot grant consent to itself",
        ));
    }
    let defaults = &node.config.consent;
    let now = now_ms();
    let scope = input.scope.unwrap_or_else(|| "all".into());
    if !crate::consent::SCOPES.contains(&scope.as_str()) {
        return Err(ApiError::bad_request(format!(
            "scope '{scope}' is unknown; use one of {}",
            crate::consent::SCOPES.join(", ")
        )));
    }
    let purposes: Vec<String> = if input.purposes.is_empty() {
        defaults.purposes.clone()
    } else {
        input.purposes
    }
    .iter()
    .map(|p| p.trim().to_ascii_lowercase())
    .filter(|p| !p.is_empty())
    .collect();
    if purposes.is_empty() {
        return Err(ApiError::bad_request(
            "name at least one purpose, e.g. treatment or research",
        ));
    }
    let days = input.expires_in_days.unwrap_or(defaults.expiry_days);
    let not_after_ms = input.not_after_ms.unwrap_or(if days == 0 {
        0
    } else {
        now.saturating_add(days.saturating_mul(86_400_000))
    });
    if not_after_ms != 0 && not_after_ms <= now {
        return Err(ApiError::bad_request(format!(
            "expiry {} is in the past",
            fmt_ms(not_after_ms)
        )));
    }
    let price = input.price.unwrap_or(defaults.price);
    let block = crate::access::grant(&node, grantee, purposes, scope, not_after_ms, price).await?;
    let v = node
        .with_ledger(|l| {
            l.grants_by_patient(&node.account)
                .into_iter()
                .find(|g| g.block == block.hash())
                .map(|g| grant_json(l, &g))
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "grant not found after writing it",
            )
        })?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub(crate) async fn revoke_consent(
    State(node): State<Arc<Node>>,
    Path(id): Path<String>,
) -> ApiResult {
    let gid = hex::decode(id.trim())
        .map_err(|_| ApiError::bad_request(format!("'{id}' is not a grant id (hex)")))?;
    let g = node
        .with_ledger(|l| {
            l.grants_by_patient(&node.account)
                .into_iter()
                .find(|g| g.grant_id == gid)
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no consent grant with id {id}; list grants with `pdc consent list`"),
            )
        })?;
    if g.revoked_by.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_revoked",
            format!("grant {id} is already revoked"),
        ));
    }
    crate::access::revoke(&node, gid.clone()).await?;
    let v = node
        .with_ledger(|l| {
            l.grants_by_patient(&node.account)
                .into_iter()
                .find(|g| g.grant_id == gid)
                .map(|g| grant_json(l, &g))
        })
        .unwrap_or(Value::Null);
    Ok(Json(v).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckInput {
    requester: String,
    purpose: String,
}

/// Lets an owner ask "would this requester be allowed now?" without any access.
async fn check_consent(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: CheckInput = parse_json(body)?;
    let requester = parse_key(&input.requester, "requester")?;
    let grants = crate::access::grants_for_decide(&node);
    let v = match decide(&grants, &requester, &input.purpose, now_ms()) {
        crate::consent::Decision::Allow {
            grant_id,
            price,
            scope,
        } => {
            json!({ "decision": "allow", "grant_id": hex::encode(grant_id), "price": price, "scope": scope })
        }
        crate::consent::Decision::Deny { reason } => {
            json!({ "decision": "deny", "reason": reason })
        }
    };
    Ok(Json(v).into_response())
}

/// Prometheus text format.
async fn metrics(State(node): State<Arc<Node>>) -> ApiResult {
    let records = node.records.list().await?.len();
    let consents = node.with_ledger(|l| l.grants_by_patient(&node.account).len());
    let text = format!(
        "# HELP pdc_records Records held by this node.\n# TYPE pdc_records gauge\npdc_records {records}\n\
         # HELP pdc_consents Consent grants, live or not.\n# TYPE pdc_consents gauge\npdc_consents {consents}\n\
         # HELP pdc_uptime_seconds Seconds since start.\n# TYPE pdc_uptime_seconds counter\npdc_uptime_seconds {}\n",
        node.started.elapsed().as_secs()
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// Fills a condition's ICD-10-CM codes from the disease search, so what the patient
/// typed and what a hospital asks meet on the same concepts.
fn annotate(mut record: Record) -> Record {
    if let Some(Body::Condition(c)) = &mut record.body {
        c.icd10_codes = crate::search::normalize(&c.text)
            .concepts
            .iter()
            .map(|k| k.code.clone())
            .collect();
    }
    record
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: String,
}

/// Searches this node's own conditions (what the patient's node does for a request,
/// and what the portals use locally).
async fn search_local(
    State(node): State<Arc<Node>>,
    query: Result<axum::extract::Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let axum::extract::Query(SearchQuery { q }) =
        query.map_err(|e| ApiError::bad_request(format!("use /search/local?q=WORDS ({e})")))?;
    if q.trim().is_empty() || q.len() > 512 {
        return Err(ApiError::bad_request(
            "the query must be 1 to 512 characters of disease words",
        ));
    }
    let records = node.records.list().await?;
    let hits = tokio::task::spawn_blocking(move || {
        let query = crate::search::normalize(&q);
        let conditions: Vec<(String, crate::search::Normalized, String)> = records
            .iter()
            .filter_map(|s| match &s.record.body {
                Some(Body::Condition(c)) => Some((
                    s.record.id.clone(),
                    crate::search::normalize(&c.text),
                    hex::encode(s.hash),
                )),
                _ => None,
            })
            .collect();
        let hits =
            crate::search::rank(&query, conditions.iter().map(|(id, n, _)| (id.as_str(), n)));
        hits.into_iter()
            .map(|h| {
                let hash = conditions
                    .iter()
                    .find(|(id, _, _)| *id == h.id)
                    .map(|(_, _, hash)| hash.clone())
                    .unwrap_or_default();
                json!({
                    "record_id": h.id, "condition": h.condition, "score": h.score, "code": h.code,
                    "title": h.title, "explanation": h.explanation, "hash": hash,
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(json!({ "hits": hits })).into_response())
}

// ----- ledger views -------------------------------------------------------------------

use crate::ledger::{AccountId, BlockHash, Kind, Ledger, VerifiedBlock, format_credits};

fn label(l: &Ledger, a: &AccountId) -> String {
    l.principal(a)
        .map(|p| p.pinned_name.unwrap_or(p.display_name))
        .or_else(|| l.genesis().name_of(a).map(String::from))
        .unwrap_or_default()
}

fn body_json(k: &Kind) -> Value {
    match k {
        Kind::Register(r) => {
            json!({"type": "register", "role": r.role, "display_name": r.display_name, "listen_addrs": r.listen_addrs})
        }
        Kind::ConsentGrant(g) => {
            json!({"type": "consent_grant", "grant_id": hex::encode(&g.grant_id), "grantee": hex::encode(&g.grantee), "scope": g.scope, "purposes": g.purposes, "not_after_ms": g.not_after_ms, "price": g.price})
        }
        Kind::ConsentRevoke(r) => {
            json!({"type": "consent_revoke", "grant_id": hex::encode(&r.grant_id)})
        }
        Kind::Access(a) => {
            json!({"type": "access", "request_id": hex::encode(&a.request_id), "requester": hex::encode(&a.requester), "query": a.query, "purpose": a.purpose, "decision": a.decision, "reason": a.reason, "record_hashes": a.record_hashes.iter().map(hex::encode).collect::<Vec<_>>(), "price": a.price, "staff_user": a.staff_user})
        }
        Kind::Send(x) => {
            json!({"type": "send", "to": hex::encode(&x.to), "amount": x.amount, "access_ref": hex::encode(&x.access_ref)})
        }
        Kind::Receive(r) => {
            json!({"type": "receive", "send_hash": hex::encode(&r.send_hash), "sender": hex::encode(&r.sender), "send_seq": r.send_seq})
        }
    }
}

fn block_json(l: &Ledger, b: &VerifiedBlock) -> Value {
    json!({
        "hash": b.hash().to_string(),
        "author": b.author().to_string(),
        "author_name": label(l, &b.author()),
        "fingerprint": b.author().fingerprint(),
        "seq": b.seq(),
        "prev": b.prev().to_string(),
        "timestamp_ms": b.timestamp_ms(),
        "time": fmt_ms(b.timestamp_ms()),
        "balance_after": b.balance_after(),
        "counts": l.counts(&b.hash()),
        "body": body_json(b.kind()),
        "size": b.bytes().len(),
    })
}

fn parse_account(s: &str) -> Result<AccountId, ApiError> {
    s.parse::<AccountId>()
        .map_err(|e| ApiError::bad_request(format!("'{s}' is not an account (64 hex digits): {e}")))
}

pub(crate) async fn ledger_heads(State(node): State<Arc<Node>>) -> ApiResult {
    let heads = node.with_ledger(|l| {
        l.heads()
            .iter()
            .map(|(a, h)| {
                json!({"author": a.to_string(), "name": label(l, a), "fingerprint": a.fingerprint(), "seq": h.seq, "hash": h.hash.to_string()})
            })
            .collect::<Vec<_>>()
    });
    Ok(
        Json(json!({ "network": hex::encode(node.genesis.hash()), "heads": heads }))
            .into_response(),
    )
}

async fn ledger_chain(State(node): State<Arc<Node>>, Path(author): Path<String>) -> ApiResult {
    let a = parse_account(&author)?;
    let blocks = node.with_ledger(|l| {
        l.blocks_range(&a, 1, u32::MAX as usize)
            .iter()
            .map(|b| block_json(l, b))
            .collect::<Vec<_>>()
    });
    Ok(Json(json!({ "author": a.to_string(), "blocks": blocks })).into_response())
}

async fn ledger_block(State(node): State<Arc<Node>>, Path(hash): Path<String>) -> ApiResult {
    let h: BlockHash = hash
        .parse()
        .map_err(|e| ApiError::bad_request(format!("'{hash}' is not a block hash: {e}")))?;
    node.with_ledger(|l| l.block(&h).map(|b| block_json(l, b)))
        .map(|v| Json(v).into_response())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no block {h} on this node"),
            )
        })
}

async fn ledger_verify(State(node): State<Arc<Node>>) -> ApiResult {
    let (db, genesis, cfg) = (
        node.ledger_db.clone(),
        node.genesis.clone(),
        node.with_ledger(|l| l.config().clone()),
    );
    let report = tokio::task::spawn_blocking(move || db.verify(genesis, cfg, now_ms()))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "ledger", e.to_string()))?;
    Ok(Json(json!({
        "ok": report.first_bad.is_none(), "blocks": report.blocks, "fork_proofs": report.proofs,
        "chain_links": report.links, "first_bad": report.first_bad,
    }))
    .into_response())
}

pub(crate) async fn balances(State(node): State<Arc<Node>>) -> ApiResult {
    let now = now_ms();
    let rows = node.with_ledger(|l| {
        l.balances(now)
            .iter()
            .map(|(a, b)| {
                json!({
                    "account": a.to_string(), "name": label(l, a), "fingerprint": a.fingerprint(),
                    "confirmed": b.confirmed, "pending": b.pending, "void": b.void, "chain": b.chain,
                    "confirmed_credits": format_credits(b.confirmed), "pending_credits": format_credits(b.pending),
                    "total_credits": format_credits(b.confirmed + b.pending),
                })
            })
            .collect::<Vec<_>>()
    });
    Ok(Json(json!({ "balances": rows })).into_response())
}

pub(crate) async fn forks(State(node): State<Arc<Node>>) -> ApiResult {
    let rows = node.with_ledger(|l| {
        l.fork_proofs()
            .map(|p| {
                let (a, b) = p.hashes();
                json!({"author": p.author().to_string(), "name": label(l, &p.author()), "fingerprint": p.author().fingerprint(),
                       "seq": p.seq(), "frozen_at": p.frozen_at(), "blocks": [a.to_string(), b.to_string()]})
            })
            .collect::<Vec<_>>()
    });
    Ok(Json(json!({ "forks": rows })).into_response())
}

pub(crate) async fn directory(State(node): State<Arc<Node>>) -> ApiResult {
    let rows = node.with_ledger(|l| {
        l.directory()
            .iter()
            .map(|p| {
                json!({"account": p.account.to_string(), "fingerprint": p.account.fingerprint(), "role": p.role.as_str(),
                       "display_name": p.display_name, "pinned_name": p.pinned_name, "listen_addrs": p.listen_addrs,
                       "head_seq": l.head(&p.account).map(|h| h.seq)})
            })
            .collect::<Vec<_>>()
    });
    Ok(Json(json!({ "principals": rows })).into_response())
}

// ----- the access flow ----------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchInput {
    query: String,
    #[serde(default = "default_purpose")]
    purpose: String,
    /// The staff member making the search; recorded in every patient's Access block.
    #[serde(default)]
    staff_user: String,
    /// Ask only this patient (key or registered name) instead of every consenting one.
    #[serde(default)]
    patient: Option<String>,
}

fn default_purpose() -> String {
    "treatment".into()
}

/// A hospital's disease search over every patient who granted it access.
pub(crate) async fn search_patients(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: SearchInput = parse_json(body)?;
    require_role(
        &node,
        crate::config::Role::Hospital,
        "not_a_hospital",
        "searching other patients is for hospital nodes",
    )?;
    if input.staff_user.trim().is_empty() {
        return Err(ApiError::bad_request(
            "name the staff member making the search (staff_user): every access records who made it",
        ));
    }
    let client = net_client(&node)?;
    let only = match input
        .patient
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => {
            let a = resolve_principal(&node, p)?;
            Some((a, node.with_ledger(|l| label(l, &a))))
        }
        None => None,
    };
    let transport = Arc::new(crate::peering::NetTransport { client });
    let fan_out = crate::access::FanOut {
        query: input.query.clone(),
        purpose: input.purpose.clone(),
        staff_user: input.staff_user.trim().to_string(),
        timeout: std::time::Duration::from_millis(node.config.search_timeout_ms),
        concurrency: node.config.search_concurrency,
        only,
    };
    let report = crate::access::search_patients(&node, transport, fan_out)
        .await
        .map_err(|e| match e {
            crate::access::AccessError::Invalid(m) => ApiError::bad_request(m),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "search_failed",
                other.to_string(),
            ),
        })?;
    let query_n = crate::search::normalize(&input.query);
    let rows: Vec<Value> = report
        .patients
        .iter()
        .map(|(patient, label, outcome)| {
            let base = json!({"patient": patient.to_string(), "name": label, "fingerprint": patient.fingerprint()});
            let mut v = base;
            match outcome {
                crate::access::PatientOutcome::Answered(a) => {
                    let shown = a.records.iter().find_map(|r| match &r.body {
                        Some(Body::Profile(p)) => Some(p.display_name.clone()),
                        _ => None,
                    });
                    let records: Vec<Value> = a
                        .records
                        .iter()
                        .filter_map(|r| match &r.body {
                            Some(Body::Condition(c)) => {
                                let why = crate::search::match_condition(&query_n, &crate::search::normalize(&c.text));
                                Some(json!({
                                    "hash": hex::encode(content_hash(r)), "condition": c.text, "status": c.status,
                                    "onset": c.onset, "code": why.as_ref().map(|m| m.code.clone()),
                                    "why": why.map(|m| m.explanation),
                                }))
                            }
                            _ => None,
                        })
                        .collect();
                    v["status"] = json!(if a.refused { "refused" } else { "answered" });
                    v["shown_name"] = json!(shown);
                    v["reason"] = json!(a.reason);
                    v["records"] = json!(records);
                    v["access_block"] = json!(a.access_block.to_string());
                    v["payment"] = json!(a.payment.map(|h| h.to_string()));
                    v["paid"] = json!(a.paid);
                }
                crate::access::PatientOutcome::Offline { reason } => {
                    v["status"] = json!("offline");
                    v["reason"] = json!(reason);
                }
                crate::access::PatientOutcome::Invalid { reason } => {
                    v["status"] = json!("invalid");
                    v["reason"] = json!(reason);
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({ "query": input.query, "purpose": input.purpose, "staff_user": input.staff_user, "patients": rows })).into_response())
}

pub(crate) async fn peers(State(node): State<Arc<Node>>) -> ApiResult {
    let list = match node.net.get() {
        Some(c) => c.peers().await.unwrap_or_default(),
        None => Vec::new(),
    };
    let rows: Vec<Value> = node.with_ledger(|l| {
        list.iter()
            .map(|p| {
                let acct = crate::net::account_of(&p.peer_id).map(AccountId);
                let principal = acct.and_then(|a| l.principal(&a));
                json!({
                    "peer_id": p.peer_id.to_string(),
                    "account": acct.map(|a| a.to_string()),
                    "fingerprint": acct.map(|a| a.fingerprint()),
                    "name": acct.map(|a| label(l, &a)).unwrap_or_default(),
                    "role": principal.as_ref().map(|p| p.role.as_str()),
                    "addresses": p.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "connected": p.connected,
                    "foreign": p.foreign,
                    "chain_head": acct.and_then(|a| l.head(&a)).map(|h| json!({"seq": h.seq, "hash": h.hash.to_string()})),
                    "last_seen": if p.last_seen_ms == 0 { Value::Null } else { json!(fmt_ms(p.last_seen_ms)) },
                    "agent": p.agent_version,
                })
            })
            .collect()
    });
    Ok(Json(json!({ "peers": rows })).into_response())
}

/// What the patient earned: totals and one row per access that carried a price.
pub(crate) async fn rewards(State(node): State<Arc<Node>>) -> ApiResult {
    let now = now_ms();
    let v = node.with_ledger(|l| {
        let bal = l.balance(&node.account, now);
        let mut received = std::collections::HashMap::new();
        for m in l.movements(&node.account, now) {
            if let crate::ledger::Movement::Received { send, amount, status, .. } = m {
                received.insert(send, (amount, status));
            }
        }
        let rows: Vec<Value> = l
            .access_by_owner(&node.account)
            .iter()
            .filter(|a| a.price > 0)
            .map(|a| {
                let pays = l.payments_for(&a.block);
                let status = pays
                    .iter()
                    .find_map(|s| received.get(s))
                    .map(|(_, st)| match st {
                        crate::ledger::ReceiptStatus::Confirmed => "confirmed",
                        crate::ledger::ReceiptStatus::Pending { .. } => "pending",
                        crate::ledger::ReceiptStatus::Void => "void",
                    })
                    .unwrap_or(if pays.is_empty() { "unpaid" } else { "paid, not yet claimed" });
                json!({
                    "access_block": a.block.to_string(), "time": fmt_ms(a.timestamp_ms),
                    "requester": a.requester.to_string(), "requester_name": label(l, &a.requester),
                    "requester_fingerprint": a.requester.fingerprint(), "staff_user": a.staff_user,
                    "query": a.query, "price": a.price, "status": status,
                })
            })
            .collect();
        json!({
            "total": bal.confirmed + bal.pending, "confirmed": bal.confirmed, "pending": bal.pending, "void": bal.void,
            "total_credits": format_credits(bal.confirmed + bal.pending),
            "accesses": rows,
        })
    });
    Ok(Json(v).into_response())
}

/// Who asked for what: a patient sees requests to it; a hospital, its own requests.
pub(crate) async fn audit(State(node): State<Arc<Node>>) -> ApiResult {
    let rows: Vec<Value> = node.with_ledger(|l| {
        let list = match node.config.role {
            crate::config::Role::Patient => l.access_by_owner(&node.account),
            crate::config::Role::Hospital => l.access_by_requester(&node.account),
        };
        list.iter()
            .map(|a| {
                json!({
                    "time": fmt_ms(a.timestamp_ms), "owner": a.owner.to_string(), "owner_name": label(l, &a.owner),
                    "requester": a.requester.to_string(), "requester_name": label(l, &a.requester),
                    "requester_fingerprint": a.requester.fingerprint(), "staff_user": a.staff_user,
                    "query": a.query, "purpose": a.purpose, "decision": a.decision.as_str(), "reason": a.reason,
                    "records": a.record_hashes.len(), "price": a.price, "block": a.block.to_string(),
                })
            })
            .collect()
    });
    Ok(Json(json!({ "accesses": rows })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectInput {
    /// A multiaddr ending in `/p2p/<peer id>`.
    addr: String,
}

/// Operator: dial a peer now (after a partition, or to add a bootstrap peer at run time).
async fn connect_peer(
    State(node): State<Arc<Node>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let input: ConnectInput = parse_json(body)?;
    let addr: crate::net::Multiaddr = input.addr.trim().parse().map_err(|e| {
        ApiError::bad_request(format!(
            "'{}' is not a multiaddr such as /ip4/127.0.0.1/tcp/4001/p2p/12D3...: {e}",
            input.addr
        ))
    })?;
    let client = net_client(&node)?;
    client
        .dial(addr.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "dial_failed", e.to_string()))?;
    Ok(Json(json!({ "dialing": addr.to_string() })).into_response())
}
