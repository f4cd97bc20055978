//! Records as the API shows and accepts them, the FHIR import report, local search.

use serde::{Deserialize, Serialize};

// ----- records ------------------------------------------------------------------------

/// A record as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    /// Record id.
    pub id: String,
    /// `profile`, `condition`, `note`, `fhir` or `empty`.
    pub kind: String,
    /// One line for tables.
    pub summary: String,
    /// The record's salted commitment (hex): blake3(salt ‖ body), see `records`.
    pub hash: String,
    /// Creation time, epoch ms.
    pub created_ms: u64,
    /// Last change, epoch ms.
    pub updated_ms: u64,
    /// Creation time, RFC 3339.
    pub created: String,
    /// The record's content.
    pub body: RecordBody,
    /// The imported FHIR resource, when the full record was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir: Option<serde_json::Value>,
}

/// A record's content; the JSON has the fields of one variant (no tag: `kind` beside it
/// says which).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordBody {
    /// The patient's profile.
    Profile {
        /// Real name.
        display_name: String,
        /// Name shown to hospitals.
        pseudonym: String,
        /// Birth date.
        birth_date: String,
        /// Gender.
        gender: String,
    },
    /// A condition.
    Condition {
        /// As the patient wrote it.
        text: String,
        /// Clinical status.
        status: String,
        /// Onset date.
        onset: String,
        /// Imported code system.
        code_system: String,
        /// Imported code.
        code: String,
        /// ICD-10-CM codes from the disease search.
        icd10_codes: Vec<String>,
    },
    /// A note.
    Note {
        /// Title.
        title: String,
        /// Text.
        text: String,
    },
    /// Another imported FHIR resource.
    Fhir {
        /// Its FHIR resource type.
        resource_type: String,
    },
    /// No content.
    Empty {},
}

/// `GET /records`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordList {
    /// Every record of the node.
    pub records: Vec<RecordView>,
}

/// `POST /records`, `PUT /records/{id}`: a record as the API accepts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RecordInput {
    /// A condition in the patient's words.
    Condition {
        /// The words.
        text: String,
        /// Clinical status; absent = active.
        #[serde(default)]
        status: Option<String>,
        /// Onset date.
        #[serde(default)]
        onset: Option<String>,
    },
    /// A free-text note.
    Note {
        /// Title.
        #[serde(default)]
        title: String,
        /// Text.
        #[serde(default)]
        text: String,
    },
    /// The profile (one per node).
    Profile {
        /// Real name.
        display_name: String,
        /// Name shown to hospitals instead.
        #[serde(default)]
        pseudonym: String,
        /// Birth date.
        #[serde(default)]
        birth_date: String,
        /// Gender.
        #[serde(default)]
        gender: String,
    },
}

/// `DELETE /records/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// The id of the deleted record.
    pub deleted: String,
}

/// `POST /fhir/import`: what an import stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Records stored.
    pub imported: usize,
    /// Of which profiles.
    pub profile: usize,
    /// Of which conditions.
    pub conditions: usize,
    /// Of which other FHIR resources.
    pub other_resources: usize,
    /// Records already present, not stored again.
    pub skipped_duplicates: usize,
}

/// `GET /search/local?q=`: this node's own conditions ranked against a query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalSearchView {
    /// Best first.
    pub hits: Vec<LocalHit>,
}

/// One matching condition of the node's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocalHit {
    /// The record.
    pub record_id: String,
    /// Its condition text.
    pub condition: String,
    /// Match score.
    pub score: f32,
    /// ICD-10-CM code.
    pub code: String,
    /// Title of the code.
    pub title: String,
    /// Why it matched.
    pub explanation: String,
    /// The record's salted commitment (hex).
    pub hash: String,
}
