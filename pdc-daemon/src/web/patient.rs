//! The patient portal: the patient's own record, sharing, rewards and access history.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use pdc_proto::api::{
    GrantInput, GrantState, Purpose, RecordBody, RecordInput, RecordView, RewardsView,
};

use super::{Flash, Form, Me, Portal, Posted, call, credits, fetch, page, short, users};
use crate::service;
use crate::service::records::CONDITION_STATUSES;

pub(super) fn routes() -> Router<Arc<Portal>> {
    Router::new()
        .route("/patient", get(record_page))
        .route("/patient/profile", post(save_profile))
        .route("/patient/conditions", post(add_condition))
        .route(
            "/patient/conditions/{id}",
            get(edit_condition_page).post(edit_condition),
        )
        .route("/patient/import", get(import_page).post(import))
        .route("/patient/consents", get(consents_page).post(grant))
        .route("/patient/consents/{id}/revoke", post(revoke))
        .route("/patient/rewards", get(rewards_page))
        .route("/patient/access", get(access_page))
}

/// Registered hospitals as (account hex, label with fingerprint).
fn hospitals(p: &Portal) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = service::ledger::directory(&p.node)
        .principals
        .into_iter()
        .filter(|x| x.role == crate::config::Role::Hospital.as_str())
        .map(|x| {
            let label = format!("{} ({})", x.label(), x.fingerprint);
            (x.account, label)
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

fn hospital_select(list: &[(String, String)], chosen: &[String]) -> Markup {
    html! {
        @if list.is_empty() {
            p.hint { "No hospital is known to this node yet (it learns them from the network). Reload in a moment." }
        } @else {
            select #hospitals name="hospitals" multiple size=(list.len().clamp(2, 8)) {
                @for (acct, label) in list {
                    option value=(acct) selected[chosen.contains(acct)] { (label) }
                }
            }
            p.hint { "Hold Ctrl (or ⌘) to choose several." }
        }
    }
}

fn purpose_boxes(chosen: &[String]) -> Markup {
    html! {
        fieldset.purposes {
            legend { "For what purposes" }
            @for purpose in Purpose::ALL {
                label.inline {
                    input type="checkbox" name="purposes" value=(purpose.as_str())
                        checked[chosen.iter().any(|c| c == purpose.as_str()) || (chosen.is_empty() && purpose == Purpose::Treatment)];
                    " " (purpose.label())
                }
            }
        }
    }
}

pub(super) async fn setup_form(
    p: &Portal,
    pre: &str,
    code: &str,
    error: Option<(String, &Form)>,
) -> Response {
    let list = hospitals(p);
    let (msg, form) = match &error {
        Some((m, f)) => (Some(m.clone()), Some(*f)),
        None => (None, None),
    };
    let v = |k: &str| form.map(|f| f.one(k)).unwrap_or_default();
    let chosen = form.map(|f| f.all("hospitals")).unwrap_or_default();
    let purposes = form.map(|f| f.all("purposes")).unwrap_or_default();
    let body = html! {
        @if let Some(m) = msg { p.flash.err #flash { (m) } }
        p { "Create your account on your own personal data center. Your records stay on this node; "
            "only the hospitals you choose can ask for them, and every access pays you a reward." }
        form.card method="post" action="/setup" {
            input type="hidden" name="csrf" value=(pre);
            input type="hidden" name="code" value=(code);
            label { "Your name (also your login)" input #name type="text" name="username" value=(v("username")) required; }
            label { "Password (at least " (users::MIN_PASSWORD) " characters)" input #password type="password" name="password" autocomplete="new-password" required; }
            label { "Password again" input #password2 type="password" name="password2" autocomplete="new-password" required; }
            label { "Pseudonym shown to hospitals instead of your name (optional)" input #pseudonym type="text" name="pseudonym" value=(v("pseudonym")); }
            label { "Your disease(s), one per line" textarea #disease name="disease" rows="3" placeholder="e.g. Type 2 diabetes mellitus" { (v("disease")) } }
            label { "Share with these hospitals" }
            (hospital_select(&list, &chosen))
            (purpose_boxes(&purposes))
            button #register type="submit" { "Register" }
        }
    };
    page(p, None, "Register as a patient", body)
}

/// Registration: validates everything, then writes the profile, the conditions, the
/// account and one consent grant per chosen hospital.
pub(super) async fn register(p: &Portal, form: &Form) -> Result<users::User, String> {
    let name = form.one("username");
    let password = form.one("password");
    if password != form.one("password2") {
        return Err("The two passwords differ. Type the same password twice.".into());
    }
    if password.chars().count() < users::MIN_PASSWORD {
        return Err(users::UserError::WeakPassword.to_string());
    }
    if name.is_empty() {
        return Err("Give your name.".into());
    }
    let diseases: Vec<String> = form
        .one("disease")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let chosen = form.all("hospitals");
    let purposes = form.all("purposes");
    if !chosen.is_empty() && purposes.is_empty() {
        return Err("Choose at least one purpose for sharing, e.g. Treatment.".into());
    }
    let node = &p.node;
    let profile = RecordInput::Profile {
        display_name: name.clone(),
        pseudonym: form.one("pseudonym"),
        birth_date: String::new(),
        gender: String::new(),
    };
    call(service::records::add(node, profile).await)?;
    for d in &diseases {
        let c = RecordInput::Condition {
            text: d.clone(),
            status: None,
            onset: None,
        };
        call(service::records::add(node, c).await)?;
    }
    let user = users::create(node.store(), &name, &password, true, users::MIN_PASSWORD)
        .await
        .map_err(|e| e.to_string())?;
    for h in chosen {
        let g = GrantInput {
            grantee: h.clone(),
            purposes: purposes.clone(),
            ..GrantInput::default()
        };
        if let Err(e) = service::consent::grant(node, g).await {
            tracing::warn!("registration: grant to {h} failed: {e}");
        }
    }
    Ok(user)
}

/// A condition's fields, for the tables and the edit form.
struct ConditionFields<'a> {
    text: &'a str,
    status: &'a str,
    onset: &'a str,
    icd10_codes: &'a [String],
}

fn condition_fields(r: &RecordView) -> Option<ConditionFields<'_>> {
    match &r.body {
        RecordBody::Condition {
            text,
            status,
            onset,
            icd10_codes,
            ..
        } => Some(ConditionFields {
            text,
            status,
            onset,
            icd10_codes,
        }),
        _ => None,
    }
}

async fn record_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let list = fetch(&p, &me, service::records::list(&p.node).await)?.records;
    let (name, pseudonym) = list
        .iter()
        .find_map(|r| match &r.body {
            RecordBody::Profile {
                display_name,
                pseudonym,
                ..
            } => Some((display_name.as_str(), pseudonym.as_str())),
            _ => None,
        })
        .unwrap_or_default();
    let has_profile = list.iter().any(|r| r.kind == "profile");
    let conditions: Vec<(&RecordView, ConditionFields<'_>)> = list
        .iter()
        .filter_map(|r| condition_fields(r).map(|c| (r, c)))
        .collect();
    let others = list.len() - conditions.len() - usize::from(has_profile);
    let body = html! {
        section.card {
            h2 { "Profile" }
            form method="post" action="/patient/profile" {
                input type="hidden" name="csrf" value=(me.csrf);
                label { "Name" input #profile-name type="text" name="display_name" value=(name) required; }
                label { "Pseudonym shown to hospitals instead of your name (empty: your name)" input #profile-pseudonym type="text" name="pseudonym" value=(pseudonym); }
                button type="submit" { "Save profile" }
            }
        }
        section.card {
            h2 { "Conditions" }
            @if conditions.is_empty() { p { "No condition recorded yet." } }
            @else {
                table #conditions {
                    thead { tr { th { "Condition" } th { "ICD-10-CM" } th { "Status" } th { "Onset" } th { "Record hash" } th {} } }
                    tbody {
                        @for (r, c) in &conditions {
                            tr {
                                td.condition { (c.text) }
                                td { (c.icd10_codes.join(", ")) }
                                td { (c.status) }
                                td { (c.onset) }
                                td { code.hash title=(r.hash) { (r.hash) } }
                                td { a href={ "/patient/conditions/" (r.id) } { "Edit" } }
                            }
                        }
                    }
                }
            }
            h3 { "Add a condition" }
            form #add-condition method="post" action="/patient/conditions" {
                input type="hidden" name="csrf" value=(me.csrf);
                label { "Condition" input #condition-text type="text" name="text" required placeholder="e.g. asthma"; }
                (status_select("active"))
                label { "Onset (optional)" input type="date" name="onset"; }
                button #add-condition-submit type="submit" { "Add" }
            }
        }
        @if others > 0 {
            p.hint { (others) " other imported FHIR resources are stored encrypted on this node." }
        }
    };
    Ok(page(&p, Some(&me), "My health record", body))
}

fn status_select(current: &str) -> Markup {
    html! {
        label { "Status"
            select name="status" {
                @for st in CONDITION_STATUSES {
                    option value=(st) selected[*st == current] { (st) }
                }
            }
        }
    }
}

/// The condition a form describes.
fn condition_input(form: &Form) -> RecordInput {
    RecordInput::Condition {
        text: form.one("text"),
        status: Some(form.one("status")),
        onset: Some(form.one("onset")),
    }
}

/// After a form: flash the outcome on the session and go back to `to` (post/redirect/get).
fn done(p: &Portal, headers: &HeaderMap, to: &str, r: Result<String, String>) -> Response {
    p.flash(
        headers,
        match r {
            Ok(m) => Flash::Ok(m),
            Err(e) => Flash::Err(e),
        },
    );
    Redirect::to(to).into_response()
}

async fn save_profile(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Posted { form, .. }: Posted,
) -> Response {
    let node = &p.node;
    let v = RecordInput::Profile {
        display_name: form.one("display_name"),
        pseudonym: form.one("pseudonym"),
        birth_date: String::new(),
        gender: String::new(),
    };
    let existing = service::records::profile(node).await.ok().flatten();
    let r = match existing {
        Some(old) => service::records::update(node, &old.record.id, v).await,
        None => service::records::add(node, v).await,
    };
    done(
        &p,
        &headers,
        "/patient",
        call(r).map(|_| "Profile saved.".into()),
    )
}

async fn add_condition(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Posted { form, .. }: Posted,
) -> Response {
    let r = call(service::records::add(&p.node, condition_input(&form)).await);
    done(
        &p,
        &headers,
        "/patient",
        r.map(|c| {
            let text = condition_fields(&c).map(|f| f.text).unwrap_or_default();
            format!("Added \u{201c}{text}\u{201d}.")
        }),
    )
}

async fn edit_condition_page(
    State(p): State<Arc<Portal>>,
    me: Me,
    Path(id): Path<String>,
) -> Response {
    let rec = service::records::show(&p.node, &id).await;
    let Some(c) = rec.as_ref().ok().and_then(condition_fields) else {
        return (
            StatusCode::NOT_FOUND,
            page(
                &p,
                Some(&me),
                "Not found",
                html! { p { "No such condition." } },
            ),
        )
            .into_response();
    };
    let body = html! {
        form.card method="post" action={ "/patient/conditions/" (id) } {
            input type="hidden" name="csrf" value=(me.csrf);
            label { "Condition" input #condition-text type="text" name="text" value=(c.text) required; }
            (status_select(c.status))
            label { "Onset" input type="date" name="onset" value=(c.onset); }
            button #save-condition type="submit" { "Save" }
        }
        p.hint { "Saving changes the record's hash; hospitals that read it before keep the old hash in the ledger." }
    };
    page(&p, Some(&me), "Edit condition", body)
}

async fn edit_condition(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Posted { form, .. }: Posted,
) -> Response {
    let r = call(service::records::update(&p.node, &id, condition_input(&form)).await);
    done(
        &p,
        &headers,
        "/patient",
        r.map(|_| "Condition saved.".into()),
    )
}

async fn import_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let body = html! {
        p { "Import a FHIR R4 Bundle (JSON), e.g. exported by your hospital. The whole bundle is checked first; nothing is stored if any part is invalid." }
        form.card method="post" action="/patient/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(me.csrf);
            label { "Bundle file" input #bundle type="file" name="bundle" accept=".json,application/fhir+json,application/json" required; }
            button #import type="submit" { "Import" }
        }
    };
    Ok(page(&p, Some(&me), "Import FHIR", body))
}

async fn import(State(p): State<Arc<Portal>>, headers: HeaderMap, mut mp: Multipart) -> Response {
    let mut csrf = String::new();
    let mut file: Option<Bytes> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or_default().to_string();
                match f.bytes().await {
                    Ok(b) if name == "csrf" => {
                        csrf = String::from_utf8_lossy(&b).trim().to_string()
                    }
                    Ok(b) if name == "bundle" => file = Some(b),
                    Ok(_) => {}
                    Err(e) => {
                        return done(
                            &p,
                            &headers,
                            "/patient/import",
                            Err(format!("The upload could not be read: {e}")),
                        );
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return done(
                    &p,
                    &headers,
                    "/patient/import",
                    Err(format!("The upload could not be read: {e}")),
                );
            }
        }
    }
    let form = Form(vec![("csrf".into(), csrf)]);
    if let Err(r) = p.me_post(&headers, &form) {
        return r.into_response();
    }
    let Some(bytes) = file else {
        return done(
            &p,
            &headers,
            "/patient/import",
            Err("Choose a bundle file.".into()),
        );
    };
    let r = call(service::records::fhir_import(&p.node, bytes.to_vec()).await);
    done(
        &p,
        &headers,
        "/patient",
        r.map(|v| {
            format!(
                "Imported {} records ({} conditions, {} other resources); {} were already here.",
                v.imported, v.conditions, v.other_resources, v.skipped_duplicates
            )
        }),
    )
}

async fn consents_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let rows = service::consent::list(&p.node).consents;
    let list = hospitals(&p);
    let body = html! {
        section.card {
            h2 { "Who may ask for my data" }
            @if rows.is_empty() { p { "You share with no one." } }
            @else {
                table #consents {
                    thead { tr { th { "Hospital" } th { "Purposes" } th { "Expires" } th { "Price per access" } th { "State" } th { "Ledger block" } th {} } }
                    tbody {
                        @for g in &rows {
                            tr {
                                td { (g.grantee_name) " " code { (g.grantee_fingerprint) } }
                                td { (g.purposes.join(", ")) }
                                td { (g.expires) }
                                td { (credits(g.price)) }
                                td.state { (g.state.as_str()) }
                                td { code.hash title=(g.block) { (short(&g.block)) } }
                                td {
                                    @if g.state == GrantState::Live {
                                        form method="post" action={ "/patient/consents/" (g.grant_id) "/revoke" } {
                                            input type="hidden" name="csrf" value=(me.csrf);
                                            button.danger type="submit" { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Share with hospitals" }
            form #grant method="post" action="/patient/consents" {
                input type="hidden" name="csrf" value=(me.csrf);
                (hospital_select(&list, &[]))
                (purpose_boxes(&[]))
                label { "Expires after (days; 0 = never)" input type="number" name="expires_in_days" min="0" value=(p.node.config().consent.expiry_days); }
                button #grant-submit type="submit" { "Share" }
            }
        }
    };
    Ok(page(&p, Some(&me), "Sharing", body))
}

async fn grant(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Posted { form, .. }: Posted,
) -> Response {
    let back = |r| done(&p, &headers, "/patient/consents", r);
    let chosen = form.all("hospitals");
    if chosen.is_empty() {
        return back(Err("Choose at least one hospital.".into()));
    }
    let purposes = form.all("purposes");
    if purposes.is_empty() {
        return back(Err("Choose at least one purpose.".into()));
    }
    let Ok(days) = form.one("expires_in_days").parse::<u64>() else {
        return back(Err(
            "Give the expiry as a whole number of days (0 = never).".into(),
        ));
    };
    let mut ok = Vec::new();
    for h in chosen {
        let g = GrantInput {
            grantee: h,
            purposes: purposes.clone(),
            expires_in_days: Some(days),
            ..GrantInput::default()
        };
        match call(service::consent::grant(&p.node, g).await) {
            Ok(v) => ok.push(v.grantee_name),
            Err(e) => return back(Err(e)),
        }
    }
    back(Ok(format!("Now sharing with {}.", ok.join(", "))))
}

async fn revoke(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    _: Posted,
) -> Response {
    let r = call(service::consent::revoke(&p.node, &id).await);
    done(
        &p,
        &headers,
        "/patient/consents",
        r.map(|v| {
            format!(
                "Revoked: {} can no longer ask for your data.",
                v.map(|g| g.grantee_name).unwrap_or_default()
            )
        }),
    )
}

async fn rewards_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let r = service::rewards::rewards(&p.node);
    let body = html! {
        section.card.totals {
            div { span.label { "Total earned" } span #reward-total.big { (credits(r.total)) } " credits" }
            div { span.label { "Confirmed" } span #reward-confirmed { (credits(r.confirmed)) } }
            div { span.label { "Pending" } span #reward-pending { (credits(r.pending)) } }
        }
        p.hint { "A payment is pending until its quiet period passes without a fork proof against the payer; then it is confirmed." }
        @if r.accesses.is_empty() { p { "No paid access yet." } }
        @else {
            table #rewards {
                thead { tr { th { "Time" } th { "Hospital" } th { "Staff" } th { "Query" } th { "Reward" } th { "Payment" } th { "Access block" } } }
                tbody {
                    @for a in &r.accesses {
                        tr {
                            td { (a.time) }
                            td { (a.requester_name) }
                            td { (a.staff_user) }
                            td { (a.query) }
                            td { (credits(a.price)) }
                            td { (a.status) }
                            td { code.hash title=(a.access_block) { (short(&a.access_block)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&p, Some(&me), "Rewards", body))
}

/// What the patient was paid for one Access block, for the access table.
fn paid(rewards: &RewardsView, block: &str) -> String {
    rewards
        .accesses
        .iter()
        .find(|x| x.access_block == block)
        .map(|x| format!("{} ({})", credits(x.price), x.status))
        .unwrap_or_else(|| "—".into())
}

async fn access_page(State(p): State<Arc<Portal>>, me: Me) -> Result<Response, Response> {
    let mut rows = service::audit::audit(&p.node).accesses;
    let rewards = service::rewards::rewards(&p.node);
    rows.reverse();
    let body = html! {
        p { "Every request for your data, answered or refused, as your node logged it on the ledger (newest first)." }
        @if rows.is_empty() { p { "Nobody has asked for your data yet." } }
        @else {
            table #accesses {
                thead { tr { th { "Time" } th { "Requester" } th { "Staff user" } th { "Query" } th { "Purpose" } th { "Decision" } th { "Reason" } th { "Records" } th { "Reward" } th { "Block hash" } } }
                tbody {
                    @for a in &rows {
                        tr class={ "decision-" (a.decision) } {
                            td { (a.time) }
                            td { (a.requester_name) " " code { (a.requester_fingerprint) } }
                            td { (a.staff_user) }
                            td { (a.query) }
                            td { (a.purpose) }
                            td.decision { (a.decision) }
                            td { (a.reason) }
                            td { (a.records) }
                            td { (paid(&rewards, &a.block)) }
                            td { code.hash title=(a.block) { (short(&a.block)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&p, Some(&me), "Who accessed my data", body))
}
