//! The hospital portal (staff search by disease; admins manage staff) and the operator
//! page shared by both kinds of node.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::html;
use serde_json::{Value, json};

use super::{
    Flash, Form, Me, Portal, Posted, call, credits, fetch, json_body, page, s, short, users,
};
use crate::api;

pub(super) fn routes() -> Router<Arc<Portal>> {
    Router::new()
        .route("/hospital", get(search_page).post(search))
        .route("/hospital/history", get(history))
        .route("/hospital/staff", get(staff_page).post(add_staff))
}

pub(super) fn setup_form(
    p: &Portal,
    pre: &str,
    code: &str,
    error: Option<(String, &Form)>,
) -> Response {
    let name = error
        .as_ref()
        .map(|(_, f)| f.one("username"))
        .unwrap_or_default();
    let body = html! {
        @if let Some((m, _)) = &error { p.flash.err #flash { (m) } }
        p { "Create the first administrator of this hospital node. Administrators create the staff accounts; every search records which staff member made it." }
        form.card method="post" action="/setup" {
            input type="hidden" name="csrf" value=(pre);
            input type="hidden" name="code" value=(code);
            label { "Administrator login" input #name type="text" name="username" value=(name) required; }
            label { "Password (at least " (users::MIN_PASSWORD) " characters)" input #password type="password" name="password" autocomplete="new-password" required; }
            label { "Password again" input #password2 type="password" name="password2" autocomplete="new-password" required; }
            button #register type="submit" { "Create administrator" }
        }
    };
    page(p, None, "Set up this hospital node", body)
}

pub(super) async fn first_admin(p: &Portal, form: &Form) -> Result<users::User, String> {
    let password = form.one("password");
    if password != form.one("password2") {
        return Err("The two passwords differ. Type the same password twice.".into());
    }
    users::create(
        &p.node.store,
        &form.one("username"),
        &password,
        true,
        users::MIN_PASSWORD,
    )
    .await
    .map_err(|e| e.to_string())
}

fn search_form(csrf: &str, query: &str, purpose: &str) -> maud::Markup {
    html! {
        form #search.card.inline-form method="post" action="/hospital" {
            input type="hidden" name="csrf" value=(csrf);
            label { "Disease" input #query type="search" name="query" value=(query) placeholder="e.g. diabetes" required autofocus; }
            label { "Purpose"
                select #purpose name="purpose" {
                    @for (v, l) in [("treatment", "Treatment"), ("research", "Research"), ("emergency", "Emergency care")] {
                        option value=(v) selected[v == purpose] { (l) }
                    }
                }
            }
            button #search-submit type="submit" { "Search consenting patients" }
        }
    }
}

async fn search_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let consents = fetch(&p, &me, api::list_consents(State(p.node.clone())).await).await?;
    let live = consents["consents"]
        .as_array()
        .map(|a| a.iter().filter(|g| g["state"] == "live").count())
        .unwrap_or(0);
    let body = html! {
        (search_form(&me.csrf, "", "treatment"))
        p.hint { (live) " patients currently grant this hospital access. Only they are asked; each decides on its own node, logs the request on the ledger and is paid per access." }
    };
    Ok(page(&p, Some(&me), "Search patients by disease", body))
}

async fn search(State(p): State<Arc<Portal>>, Posted { me, form }: Posted) -> Response {
    let query = form.one("query");
    let purpose = form.one("purpose");
    let purpose = if purpose.is_empty() {
        "treatment".to_string()
    } else {
        purpose
    };
    let input = json!({"query": query, "purpose": purpose, "staff_user": me.user});
    let result = call(api::search_patients(State(p.node.clone()), json_body(input)).await).await;
    let body = match result {
        Err(e) => html! {
            (search_form(&me.csrf, &query, &purpose))
            p.flash.err #flash { (e) }
        },
        Ok(r) => {
            let all = r["patients"].as_array().cloned().unwrap_or_default();
            let with = |st: &str| -> Vec<Value> {
                all.iter().filter(|x| x["status"] == st).cloned().collect()
            };
            let answered: Vec<Value> = with("answered");
            let matched: Vec<&Value> = answered
                .iter()
                .filter(|x| x["records"].as_array().is_some_and(|a| !a.is_empty()))
                .collect();
            let no_match = answered.len() - matched.len();
            let refused = with("refused");
            let offline: Vec<Value> = all
                .iter()
                .filter(|x| x["status"] == "offline" || x["status"] == "invalid")
                .cloned()
                .collect();
            html! {
                (search_form(&me.csrf, &query, &purpose))
                p #summary { (all.len()) " consenting patients asked: " (matched.len()) " matched, "
                    (no_match) " had no matching record, " (refused.len()) " refused, " (offline.len()) " offline." }
                h2 { "Matches" }
                @if matched.is_empty() { p #no-matches { "No consenting patient has a matching record." } }
                @else {
                    table #results {
                        thead { tr { th { "Patient" } th { "Condition" } th { "ICD-10-CM" } th { "Why it matched" } th { "Record hash" } th { "Access block" } th { "Reward paid" } } }
                        tbody {
                            @for pt in &matched {
                                @for rec in pt["records"].as_array().into_iter().flatten() {
                                    tr.result {
                                        td.patient { (patient_label(pt)) }
                                        td.condition { (s(rec, "condition")) }
                                        td { (s(rec, "code")) }
                                        td { (s(rec, "why")) }
                                        td { code.hash.record-hash { (s(rec, "hash")) } }
                                        td { code.hash.access-block title=(s(pt, "access_block")) { (short(&s(pt, "access_block"))) } }
                                        td { @if pt["paid"].is_u64() || pt["paid"].is_i64() { (credits(&pt["paid"])) } @else { "not paid" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !refused.is_empty() {
                    h2 { "Refused" }
                    table #refused {
                        thead { tr { th { "Patient" } th { "Reason" } th { "Access block" } } }
                        tbody { @for pt in &refused { tr { td { (patient_label(pt)) } td { (s(pt, "reason")) } td { code.hash { (short(&s(pt, "access_block"))) } } } } }
                    }
                }
                @if !offline.is_empty() {
                    h2 { "Offline or unreachable" }
                    table #offline {
                        thead { tr { th { "Patient" } th { "Reason" } } }
                        tbody { @for pt in &offline { tr { td { (patient_label(pt)) } td { (s(pt, "reason")) } } } }
                    }
                }
            }
        }
    };
    page(&p, Some(&me), "Search patients by disease", body)
}

/// The name the patient chose to show (name or pseudonym), else the registered label,
/// always with the key fingerprint.
fn patient_label(pt: &Value) -> String {
    let shown = s(pt, "shown_name");
    let name = if shown.is_empty() {
        s(pt, "name")
    } else {
        shown
    };
    format!("{name} ({})", s(pt, "fingerprint"))
}

async fn history(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let audit = fetch(&p, &me, api::audit(State(p.node.clone())).await).await?;
    let mut rows = audit["accesses"].as_array().cloned().unwrap_or_default();
    rows.reverse();
    let body = html! {
        p { "Every request this hospital made, as the patients' nodes logged it (newest first)." }
        table #history {
            thead { tr { th { "Time" } th { "Patient" } th { "Staff user" } th { "Query" } th { "Decision" } th { "Reason" } th { "Records" } th { "Price" } th { "Block" } } }
            tbody {
                @for a in &rows {
                    tr {
                        td { (s(a, "time")) } td { (s(a, "owner_name")) } td { (s(a, "staff_user")) } td { (s(a, "query")) }
                        td { (s(a, "decision")) } td { (s(a, "reason")) } td { (s(a, "records")) } td { (credits(&a["price"])) }
                        td { code.hash title=(s(a, "block")) { (short(&s(a, "block"))) } }
                    }
                }
            }
        }
    };
    Ok(page(&p, Some(&me), "Our accesses", body))
}

fn forbidden(p: &Portal, me: &super::Me) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            p,
            Some(me),
            "Not allowed",
            html! { p { "Only administrators may open this page." } },
        ),
    )
        .into_response()
}

async fn staff_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    if !me.admin {
        return Ok(forbidden(&p, &me));
    }
    let list = match users::list(&p.node.store).await {
        Ok(l) => l,
        Err(e) => return Err(super::failed(&p, &me, &e.to_string())),
    };
    let body = html! {
        table #staff {
            thead { tr { th { "User" } th { "Administrator" } th { "Created" } } }
            tbody { @for u in &list { tr { td { (u.name) } td { @if u.admin { "yes" } @else { "no" } } td { (crate::consent::fmt_ms(u.created_ms)) } } } }
        }
        h2 { "Add a staff member" }
        form.card method="post" action="/hospital/staff" {
            input type="hidden" name="csrf" value=(me.csrf);
            label { "Login" input type="text" name="username" required; }
            label { "Initial password (at least " (users::MIN_PASSWORD) " characters)" input type="password" name="password" autocomplete="new-password" required; }
            label.inline { input type="checkbox" name="admin" value="1"; " Administrator" }
            button type="submit" { "Create account" }
        }
    };
    Ok(page(&p, Some(&me), "Staff", body))
}

async fn add_staff(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Posted { me, form }: Posted,
) -> Response {
    if !me.admin {
        return forbidden(&p, &me);
    }
    let r = users::create(
        &p.node.store,
        &form.one("username"),
        &form.one("password"),
        form.one("admin") == "1",
        users::MIN_PASSWORD,
    )
    .await;
    p.flash(
        &headers,
        match r {
            Ok(u) => {
                tracing::info!(by = %me.user, user = %u.name, "portal: staff account created");
                Flash::Ok(format!("Created {}.", u.name))
            }
            Err(e) => Flash::Err(e.to_string()),
        },
    );
    Redirect::to("/hospital/staff").into_response()
}

/// Operator view: peers, chain heads, forks and balances (administrators only).
pub(super) async fn operator(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    if !me.admin {
        return Ok(forbidden(&p, &me));
    }
    let n = &p.node;
    let peers = fetch(&p, &me, api::peers(State(n.clone())).await).await?;
    let heads = fetch(&p, &me, api::ledger_heads(State(n.clone())).await).await?;
    let forks = fetch(&p, &me, api::forks(State(n.clone())).await).await?;
    let bal = fetch(&p, &me, api::balances(State(n.clone())).await).await?;
    let arr = |v: &Value, k: &str| v[k].as_array().cloned().unwrap_or_default();
    let body = html! {
        p { "Network " code { (s(&heads, "network")) } }
        h2 { "Peers" }
        table #peers {
            thead { tr { th { "Name" } th { "Role" } th { "Key" } th { "Connected" } th { "Chain head" } th { "Last seen" } th { "Addresses" } } }
            tbody { @for x in arr(&peers, "peers") { tr {
                td { (s(&x, "name")) } td { (s(&x, "role")) } td { code { (s(&x, "fingerprint")) } }
                td { @if x["connected"] == true { "yes" } @else { "no" } }
                td { (x["chain_head"]["seq"].as_u64().map(|v| v.to_string()).unwrap_or_default()) }
                td { (s(&x, "last_seen")) }
                td { (x["addresses"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" ")).unwrap_or_default()) }
            } } }
        }
        h2 { "Chain heads" }
        table #heads {
            thead { tr { th { "Account" } th { "Key" } th { "Seq" } th { "Head block" } } }
            tbody { @for x in arr(&heads, "heads") { tr { td { (s(&x, "name")) } td { code { (s(&x, "fingerprint")) } } td { (s(&x, "seq")) } td { code.hash { (s(&x, "hash")) } } } } }
        }
        h2 { "Balances" }
        table #balances {
            thead { tr { th { "Account" } th { "Key" } th { "Confirmed" } th { "Pending" } th { "Total" } } }
            tbody { @for x in arr(&bal, "balances") { tr { td { (s(&x, "name")) } td { code { (s(&x, "fingerprint")) } } td { (s(&x, "confirmed_credits")) } td { (s(&x, "pending_credits")) } td { (s(&x, "total_credits")) } } } }
        }
        h2 { "Forks" }
        @if arr(&forks, "forks").is_empty() { p #no-forks { "No fork proof: every author signed one block per sequence number." } }
        @else {
            table #forks {
                thead { tr { th { "Author" } th { "Seq" } th { "Frozen at" } th { "Conflicting blocks" } } }
                tbody { @for x in arr(&forks, "forks") { tr { td { (s(&x, "name")) " " code { (s(&x, "fingerprint")) } } td { (s(&x, "seq")) } td { (s(&x, "frozen_at")) }
                    td { (x["blocks"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" / ")).unwrap_or_default()) } } } }
            }
        }
    };
    Ok(page(&p, Some(&me), "Network", body))
}
