//! The node's identity and counts.

use pdc_proto::api::StatusView;

use super::Result;
use crate::node::Node;
use crate::records::now_ms;

/// `pdc status`: who this node is, what it holds, how long it has run.
pub async fn status(node: &Node) -> Result<StatusView> {
    let records = node.records().list().await?;
    let now = now_ms();
    let consents = node.ledger().read(|l| l.grants_by_patient(&node.account()));
    let live = consents.iter().filter(|g| g.is_live(now)).count();
    Ok(StatusView {
        name: node.config().name.clone(),
        role: node.config().role.as_str().to_string(),
        account: node.identity().account_hex(),
        fingerprint: node.account().fingerprint(),
        peer_id: node.identity().peer_id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        uptime_secs: node.started().elapsed().as_secs(),
        records: records.len(),
        consents_live: live,
        consents_total: consents.len(),
        data_dir: node.config().data_dir.display().to_string(),
        network_id: node.genesis().network_id().to_string(),
        network: hex::encode(node.genesis().hash()),
        chain_seq: node
            .ledger()
            .read(|l| l.head(&node.account()).map_or(0, |h| h.seq)),
    })
}

/// The node's gauges in the Prometheus text format.
pub async fn metrics_text(node: &Node) -> Result<String> {
    let records = node.records().list().await?.len();
    let consents = node
        .ledger()
        .read(|l| l.grants_by_patient(&node.account()).len());
    Ok(format!(
        "# HELP pdc_records Records held by this node.\n# TYPE pdc_records gauge\npdc_records {records}\n\
         # HELP pdc_consents Consent grants, live or not.\n# TYPE pdc_consents gauge\npdc_consents {consents}\n\
         # HELP pdc_uptime_seconds Seconds since start.\n# TYPE pdc_uptime_seconds counter\npdc_uptime_seconds {}\n",
        node.started().elapsed().as_secs()
    ))
}
