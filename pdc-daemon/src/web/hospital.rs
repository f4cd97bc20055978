//! The hospital portal (staff search by disease; admins manage staff) and the operator
//! page shared by both kinds of node.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::html;
use pdc_proto::api::{GrantState, PatientOutcome, PatientResult, Purpose, SearchInput};

use super::{Flash, Form, Me, Portal, Posted, call, credits, page, short, users};
use crate::service;

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
        p.node.store(),
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
                    @for v in Purpose::ALL {
                        option value=(v.as_str()) selected[v.as_str() == purpose] { (v.label()) }
                    }
                }
            }
            button #search-submit type="submit" { "Search consenting patients" }
        }
    }
}

async fn search_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let live = service::consent::list(&p.node)
        .consents
        .iter()
        .filter(|g| g.state == GrantState::Live)
        .count();
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
    let input = SearchInput {
        query: query.clone(),
        purpose: purpose.clone(),
        staff_user: me.user.clone(),
        patient: None,
    };
    let result = call(service::search::search_patients(&p.node, input).await);
    let body = match result {
        Err(e) => html! {
            (search_form(&me.csrf, &query, &purpose))
            p.flash.err #flash { (e) }
        },
        Ok(r) => {
            let all = &r.patients;
            let answered: Vec<(&PatientResult, &pdc_proto::api::Answer)> = all
                .iter()
                .filter_map(|x| match &x.outcome {
                    PatientOutcome::Answered(a) => Some((x, a)),
                    _ => None,
                })
                .collect();
            let matched: Vec<_> = answered
                .iter()
                .filter(|(_, a)| !a.records.is_empty())
                .collect();
            let no_match = answered.len() - matched.len();
            let refused: Vec<(&PatientResult, &pdc_proto::api::Answer)> = all
                .iter()
                .filter_map(|x| match &x.outcome {
                    PatientOutcome::Refused(a) => Some((x, a)),
                    _ => None,
                })
                .collect();
            let offline: Vec<&PatientResult> = all
                .iter()
                .filter(|x| {
                    matches!(
                        x.outcome,
                        PatientOutcome::Offline { .. } | PatientOutcome::Invalid { .. }
                    )
                })
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
                            @for (pt, a) in &matched {
                                @for rec in &a.records {
                                    tr.result {
                                        td.patient { (pt.label()) }
                                        td.condition { (rec.condition) }
                                        td { (rec.code.as_deref().unwrap_or_default()) }
                                        td { (rec.why.as_deref().unwrap_or_default()) }
                                        td { code.hash.record-hash { (rec.hash) } }
                                        td { code.hash.access-block title=(a.access_block) { (short(&a.access_block)) } }
                                        td { (credits(a.paid)) }
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
                        tbody { @for (pt, a) in &refused { tr { td { (pt.label()) } td { (a.reason) } td { code.hash { (short(&a.access_block)) } } } } }
                    }
                }
                @if !offline.is_empty() {
                    h2 { "Offline or unreachable" }
                    table #offline {
                        thead { tr { th { "Patient" } th { "Reason" } } }
                        tbody { @for pt in &offline { tr { td { (pt.label()) } td { (pt.outcome.reason()) } } } }
                    }
                }
            }
        }
    };
    page(&p, Some(&me), "Search patients by disease", body)
}

async fn history(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let mut rows = service::audit::audit(&p.node).accesses;
    rows.reverse();
    let body = html! {
        p { "Every request this hospital made, as the patients' nodes logged it (newest first)." }
        table #history {
            thead { tr { th { "Time" } th { "Patient" } th { "Staff user" } th { "Query" } th { "Decision" } th { "Reason" } th { "Records" } th { "Price" } th { "Block" } } }
            tbody {
                @for a in &rows {
                    tr {
                        td { (a.time) } td { (a.owner_name) } td { (a.staff_user) } td { (a.query) }
                        td { (a.decision) } td { (a.reason) } td { (a.records) } td { (credits(a.price)) }
                        td { code.hash title=(a.block) { (short(&a.block)) } }
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
    let list = match users::list(p.node.store()).await {
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
        p.node.store(),
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
    let peers = service::network::peers(n).await.peers;
    let heads = service::ledger::heads(n);
    let forks = service::ledger::forks(n).forks;
    let balances = service::ledger::balances(n).balances;
    let body = html! {
        p { "Network " code { (heads.network) } }
        h2 { "Peers" }
        table #peers {
            thead { tr { th { "Name" } th { "Role" } th { "Key" } th { "Connected" } th { "Chain head" } th { "Last seen" } th { "Addresses" } } }
            tbody { @for x in &peers { tr {
                td { (x.name) } td { (x.role.as_deref().unwrap_or_default()) } td { code { (x.fingerprint.as_deref().unwrap_or_default()) } }
                td { @if x.connected { "yes" } @else { "no" } }
                td { (x.chain_head.as_ref().map(|h| h.seq.to_string()).unwrap_or_default()) }
                td { (x.last_seen.as_deref().unwrap_or_default()) }
                td { (x.addresses.join(" ")) }
            } } }
        }
        h2 { "Chain heads" }
        table #heads {
            thead { tr { th { "Account" } th { "Key" } th { "Seq" } th { "Head block" } } }
            tbody { @for x in &heads.heads { tr { td { (x.name) } td { code { (x.fingerprint) } } td { (x.seq) } td { code.hash { (x.hash) } } } } }
        }
        h2 { "Balances" }
        table #balances {
            thead { tr { th { "Account" } th { "Key" } th { "Confirmed" } th { "Pending" } th { "Total" } } }
            tbody { @for x in &balances { tr { td { (x.name) } td { code { (x.fingerprint) } } td { (x.confirmed_credits) } td { (x.pending_credits) } td { (x.total_credits) } } } }
        }
        h2 { "Forks" }
        @if forks.is_empty() { p #no-forks { "No fork proof: every author signed one block per sequence number." } }
        @else {
            table #forks {
                thead { tr { th { "Author" } th { "Seq" } th { "Frozen at" } th { "Conflicting blocks" } } }
                tbody { @for x in &forks { tr { td { (x.name) " " code { (x.fingerprint) } } td { (x.seq) } td { (x.frozen_at) }
                    td { (x.blocks.join(" / ")) } } } }
            }
        }
    };
    Ok(page(&p, Some(&me), "Network", body))
}
