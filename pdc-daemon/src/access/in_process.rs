//! A [`DataTransport`] without a network, for tests and benchmarks: the requester's
//! request goes straight to the patient's [`Node`] in the same process, which answers
//! through the real [`answer`], with the requester's account as the authenticated one.
//! Everything a search does around the transport (who is asked, the per-patient
//! timeout, the concurrency bound, checking and paying the answers) is the fan-out's
//! own code, so it runs unchanged over this transport.

use std::collections::HashMap;
use std::sync::Arc;

use pdc_proto::wire::{DataRequest, DataResponse};

use super::{DataTransport, answer_or_refuse};
use crate::ledger::AccountId;
use crate::node::Node;

/// In-process requests from one requester to the patients' nodes it holds, for tests and
/// benchmarks: no network. A patient without a node here is unreachable, as an offline
/// peer is over libp2p.
#[derive(Clone)]
pub struct InProcess {
    /// The authenticated account every request comes from, as the Noise-authenticated
    /// connection gives it on the network.
    requester: AccountId,
    nodes: HashMap<AccountId, Arc<Node>>,
}

impl InProcess {
    /// A transport for requests made by `requester`, reaching no patient yet.
    pub fn new(requester: AccountId) -> Self {
        Self {
            requester,
            nodes: HashMap::new(),
        }
    }

    /// Makes `node` reachable under its own account.
    #[must_use]
    pub fn with(mut self, node: Arc<Node>) -> Self {
        self.nodes.insert(node.account(), node);
        self
    }

    /// Makes every node of `nodes` reachable under its own account.
    #[must_use]
    pub fn with_all(self, nodes: impl IntoIterator<Item = Arc<Node>>) -> Self {
        nodes.into_iter().fold(self, Self::with)
    }

    /// The account the requests come from.
    pub fn requester(&self) -> AccountId {
        self.requester
    }
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut reachable: Vec<String> = self.nodes.keys().map(|a| a.fingerprint()).collect();
        reachable.sort();
        f.debug_struct("InProcess")
            .field("requester", &self.requester.fingerprint())
            .field("reachable", &reachable)
            .finish()
    }
}

impl DataTransport for InProcess {
    async fn request(&self, patient: AccountId, req: DataRequest) -> Result<DataResponse, String> {
        let node = self.nodes.get(&patient).ok_or_else(|| {
            format!(
                "patient {} is not reachable in this process",
                patient.fingerprint()
            )
        })?;
        Ok(answer_or_refuse(node, self.requester, req).await)
    }
}
