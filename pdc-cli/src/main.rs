//! `pdc`: the command-line client of a Sec-Net PDC node, over the node's HTTP API.
//!
//! Finds the node from `--data-dir`/`PDC_DATA_DIR` (its `api.addr` or config and its
//! `api.token`), or from `--api`/`PDC_API` and `PDC_TOKEN`. Tables by default, `--json`
//! for scripts.
//!
//! # Layout
//! - [`pdc_cli::client`] (the library half): the typed HTTP client, one method per API call, returning the
//!   [`pdc_proto::api`] views the daemon serialises.
//! - `output`: tables, `--json`, names beside fingerprints.
//! - one module per area: `records`, `consent`, `ledger`, `network` (peers and search),
//!   `rewards` (rewards and audit); each turns a command into calls and a table.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pdc_proto::api::{Purpose, Scope};

mod consent;
mod ledger;
mod network;
mod output;
mod records;
mod rewards;

use output::Out;
use pdc_cli::client::Client;

/// Talk to a Sec-Net PDC node.
#[derive(Parser, Debug)]
#[command(name = "pdc", version, about)]
pub(crate) struct Cli {
    /// The node's data directory (to find its address and token).
    #[arg(long, global = true, env = "PDC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// API base URL, e.g. http://127.0.0.1:7070 (default: from the data directory).
    #[arg(long, global = true, env = "PDC_API")]
    api: Option<String>,
    /// API token (default: DATA_DIR/api.token).
    #[arg(long, global = true, env = "PDC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the node's identity and counts.
    Status,
    /// Add, list, show or remove records.
    #[command(subcommand)]
    Record(RecordCmd),
    /// Import a FHIR R4 Bundle (JSON file).
    Import {
        /// The bundle file.
        file: PathBuf,
    },
    /// Export this node's records as a FHIR R4 Bundle.
    Export {
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Grant, revoke or list consents.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Inspect the ledger.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Balances of every account (confirmed and pending), in credits.
    Balances,
    /// Fork proofs: accounts frozen for signing two blocks at one seq.
    Forks,
    /// Hospital: search every consenting patient for a disease.
    Search {
        /// Disease words, e.g. "diabetes" or "heart attack".
        query: String,
        /// Why you ask.
        #[arg(long, value_enum, ignore_case = true, default_value_t = Purpose::Treatment)]
        purpose: Purpose,
        /// Staff member making the search (recorded in every access).
        #[arg(long, env = "PDC_STAFF", default_value_t = std::env::var("USER").unwrap_or_default())]
        staff: String,
        /// Ask only this patient (key or registered name).
        #[arg(long)]
        patient: Option<String>,
    },
    /// Peers this node knows: name, role, addresses, connected, chain head, last seen.
    Peers {
        /// Dial this peer now (a multiaddr ending in /p2p/<peer id>).
        #[arg(long)]
        connect: Option<String>,
    },
    /// Patient: rewards earned (total, confirmed, pending) and per access.
    Rewards,
    /// Who asked for what, when, the decision and why (patient), or your own requests
    /// (hospital).
    Audit,
}

#[derive(Subcommand, Debug)]
pub(crate) enum LedgerCmd {
    /// The head (seq, hash) of every account's chain.
    Heads,
    /// Every block of one account's chain.
    Chain {
        /// The account (64 hex digits).
        author: String,
    },
    /// One block.
    Show {
        /// Block hash (64 hex digits).
        hash: String,
    },
    /// Re-check every stored block and chain link; report the first bad one.
    Verify,
}

#[derive(Subcommand, Debug)]
pub(crate) enum RecordCmd {
    /// Add a record.
    #[command(subcommand)]
    Add(AddCmd),
    /// List records.
    List,
    /// Show one record in full.
    Show {
        /// Record id.
        id: String,
    },
    /// Delete a record.
    Rm {
        /// Record id.
        id: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AddCmd {
    /// A condition, in your own words.
    Condition {
        /// e.g. "type 2 diabetes".
        text: String,
        /// active, resolved, inactive, remission, recurrence, relapse, unknown.
        #[arg(long)]
        status: Option<String>,
        /// Onset date, e.g. 2019-05-01.
        #[arg(long)]
        onset: Option<String>,
    },
    /// A free-text note.
    Note {
        /// The note.
        text: String,
        /// A title.
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Your profile (one per node).
    Profile {
        /// Your name.
        name: String,
        /// Name shown to hospitals instead of your name.
        #[arg(long, default_value = "")]
        pseudonym: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long, default_value = "")]
        birth_date: String,
        /// Gender.
        #[arg(long, default_value = "")]
        gender: String,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum ConsentCmd {
    /// Allow a hospital to read your records (written to the ledger).
    Grant {
        /// The grantee: its key (64 hex digits) or its registered name, e.g. Hospital1.
        grantee: String,
        /// Purpose; repeat for several (default from the node's config).
        #[arg(long = "purpose", value_enum, ignore_case = true)]
        purposes: Vec<Purpose>,
        /// What the grantee may read (default: all).
        #[arg(long, value_enum)]
        scope: Option<Scope>,
        /// Days until the grant expires; 0 = never (default from the node's config).
        #[arg(long)]
        days: Option<u64>,
        /// Price per access in credits, e.g. 0.5 (default from the node's config).
        #[arg(long)]
        price: Option<f64>,
    },
    /// Revoke a grant.
    Revoke {
        /// Grant id (from `pdc consent list`).
        grant_id: String,
    },
    /// List grants.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", pdc_proto::report::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// One command: resolve the node, call it, print the answer.
fn run(cli: Cli) -> anyhow::Result<()> {
    let c = Client::resolve(
        cli.data_dir.clone(),
        cli.api.as_deref(),
        cli.token.as_deref(),
    )?;
    let out = Out { json: cli.json };
    match cli.command {
        Command::Status => records::status(&c, out),
        Command::Record(cmd) => records::run(&c, out, cmd),
        Command::Import { file } => records::import(&c, out, &file),
        Command::Export { output } => records::export(&c, output.as_deref()),
        Command::Consent(cmd) => consent::run(&c, out, cmd),
        Command::Ledger(cmd) => ledger::run(&c, out, cmd),
        Command::Balances => ledger::balances(&c, out),
        Command::Forks => ledger::forks(&c, out),
        Command::Search {
            query,
            purpose,
            staff,
            patient,
        } => network::search(&c, out, query, purpose, staff, patient),
        Command::Peers { connect } => network::peers(&c, out, connect),
        Command::Rewards => rewards::rewards(&c, out),
        Command::Audit => rewards::audit(&c, out),
    }
}
