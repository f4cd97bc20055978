//! A hospital's disease search: fan out to every consenting patient (or one named
//! patient), check and pay each answer, and shape what came back per patient.

use std::sync::Arc;

use pdc_proto::api::{
    Answer, FoundRecord, PatientOutcome, PatientResult, SearchInput, SearchReport,
};
use pdc_proto::records::{Record, record::Body};

use super::{ErrorKind, Result, ServiceError, label, net_client, require_role, resolve_principal};
use crate::access::{AccessError, CheckedAnswer, FanOut};
use crate::config::Role;
use crate::node::Node;
use crate::records::commitment;
use crate::search::Normalized;

/// Runs a search for a staff member of this hospital node.
pub async fn search_patients(node: &Arc<Node>, input: SearchInput) -> Result<SearchReport> {
    require_role(
        node,
        Role::Hospital,
        "not_a_hospital",
        "searching other patients is for hospital nodes",
    )?;
    if input.staff_user.trim().is_empty() {
        return Err(ServiceError::bad_request(
            "name the staff member making the search (staff_user): every access records who made it",
        ));
    }
    let client = net_client(node)?;
    let only = match input
        .patient
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => {
            let a = resolve_principal(node, p)?;
            Some((a, node.ledger().read(|l| label(l, &a))))
        }
        None => None,
    };
    let transport = Arc::new(crate::peering::NetTransport { client });
    let fan_out = FanOut {
        query: input.query.clone(),
        purpose: input.purpose.clone(),
        staff_user: input.staff_user.trim().to_string(),
        timeout: std::time::Duration::from_millis(node.config().search_timeout_ms),
        concurrency: node.config().search_concurrency,
        only,
    };
    let report = crate::access::search_patients(node, transport, fan_out)
        .await
        .map_err(|e| match e {
            AccessError::Invalid(m) => ServiceError::bad_request(m),
            other => ServiceError::new(ErrorKind::Internal, "search_failed", other.to_string()),
        })?;
    let query = crate::search::normalize(&input.query);
    let patients = report
        .patients
        .iter()
        .map(|(patient, name, outcome)| PatientResult {
            patient: patient.to_string(),
            name: name.clone(),
            fingerprint: patient.fingerprint(),
            outcome: match outcome {
                crate::access::PatientOutcome::Answered(a) => {
                    let answer = answer_view(&query, a);
                    if a.refused {
                        PatientOutcome::Refused(answer)
                    } else {
                        PatientOutcome::Answered(answer)
                    }
                }
                crate::access::PatientOutcome::Offline { reason } => PatientOutcome::Offline {
                    reason: reason.clone(),
                },
                crate::access::PatientOutcome::Invalid { reason } => PatientOutcome::Invalid {
                    reason: reason.clone(),
                },
            },
        })
        .collect();
    Ok(SearchReport {
        query: input.query,
        purpose: input.purpose,
        staff_user: input.staff_user,
        patients,
    })
}

/// One checked answer: the profile name if shown, and each returned condition with why
/// it matched the query.
fn answer_view(query: &Normalized, a: &CheckedAnswer) -> Answer {
    let shown_name = a.records.iter().find_map(|r| match &r.body {
        Some(Body::Profile(p)) => Some(p.display_name.clone()),
        _ => None,
    });
    Answer {
        shown_name,
        reason: a.reason.clone(),
        records: a.records.iter().filter_map(|r| found(query, r)).collect(),
        access_block: a.access_block.to_string(),
        payment: a.payment.map(|h| h.to_string()),
        paid: a.paid,
    }
}

fn found(query: &Normalized, r: &Record) -> Option<FoundRecord> {
    let Some(Body::Condition(c)) = &r.body else {
        return None;
    };
    let why = crate::search::match_condition(query, &crate::search::normalize(&c.text));
    Some(FoundRecord {
        hash: hex::encode(commitment(r)),
        condition: c.text.clone(),
        status: c.status.clone(),
        onset: c.onset.clone(),
        code: why.as_ref().map(|m| m.code.clone()),
        why: why.map(|m| m.explanation),
    })
}
