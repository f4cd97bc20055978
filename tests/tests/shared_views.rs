//! The CLI and the daemon share their view types (`pdc_proto::api`): this file fails to
//! compile if the CLI's client and the daemon's service disagree on one, and at run time
//! it checks that the client reads every field the real daemon serves.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use pdc_cli::client::Client;
use pdc_daemon::node::Node;
use pdc_daemon::service;
use pdc_proto::api::{
    AuditView, BalancesView, BlockView, ChainView, CheckInput, CheckView, ConnectInput,
    ConsentList, Deleted, Dialing, ForksView, GrantInput, GrantView, HeadsView, ImportReport,
    PeersView, RecordInput, RecordList, RecordView, RewardsView, SearchInput, SearchReport,
    StatusView, VerifyView,
};
use pdc_tests::NodeProc;
use serde::Serialize;
use serde_json::Value;

/// A view type, as one side names it.
struct View<T>(PhantomData<T>);

/// What a service operation returns (`A`: `Node`, or `Arc<Node>` for the search).
fn served<A: 'static, T, F, Fut>(_: F) -> View<T>
where
    F: FnOnce(&'static A) -> Fut,
    Fut: Future<Output = service::Result<T>>,
{
    View(PhantomData)
}

/// What an infallible async service view returns.
fn served_async<T, F, Fut>(_: F) -> View<T>
where
    F: FnOnce(&'static Node) -> Fut,
    Fut: Future<Output = T>,
{
    View(PhantomData)
}

/// What a synchronous service view returns.
fn served_now<T, F: FnOnce(&'static Node) -> T>(_: F) -> View<T> {
    View(PhantomData)
}

impl<T> View<service::Result<T>> {
    /// The view inside a fallible synchronous operation.
    fn ok(self) -> View<T> {
        View(PhantomData)
    }
}

/// What the CLI's client reads.
fn read<T, F: FnOnce(&Client) -> anyhow::Result<T>>(_: F) -> View<T> {
    View(PhantomData)
}

/// Compiles only if both sides name the same type.
fn agree<T>(_daemon: View<T>, _cli: View<T>) {}

fn note() -> RecordInput {
    RecordInput::Note {
        title: String::new(),
        text: String::new(),
    }
}

fn search() -> SearchInput {
    SearchInput {
        query: String::new(),
        purpose: String::new(),
        staff_user: String::new(),
        patient: None,
    }
}

/// Its point is that it type-checks; running it does nothing.
#[test]
fn daemon_and_cli_agree_on_every_view() {
    agree::<StatusView>(served(service::node::status), read(Client::status));
    agree::<RecordList>(served(service::records::list), read(Client::records));
    agree::<RecordView>(
        served(|n: &'static Node| service::records::show(n, "")),
        read(|c| c.record("")),
    );
    agree::<RecordView>(
        served(|n: &'static Node| service::records::add(n, note())),
        read(|c| c.add_record(&note())),
    );
    agree::<Deleted>(
        served(|n: &'static Node| service::records::delete(n, "")),
        read(|c| c.delete_record("")),
    );
    agree::<ImportReport>(
        served(|n: &'static Node| service::records::fhir_import(n, Vec::new())),
        read(|c| c.fhir_import(&[])),
    );
    agree::<ConsentList>(served_now(service::consent::list), read(Client::consents));
    agree::<GrantView>(
        served(|n: &'static Node| service::consent::grant(n, GrantInput::default())),
        read(|c| c.grant(&GrantInput::default())),
    );
    agree::<Option<GrantView>>(
        served(|n: &'static Node| service::consent::revoke(n, "")),
        read(|c| c.revoke("")),
    );
    agree::<CheckView>(
        served_now(|n| service::consent::check(n, check())).ok(),
        read(|c| c.check(&check())),
    );
    agree::<HeadsView>(served_now(service::ledger::heads), read(Client::heads));
    agree::<ChainView>(
        served_now(|n| service::ledger::chain(n, "")).ok(),
        read(|c| c.chain("")),
    );
    agree::<BlockView>(
        served_now(|n| service::ledger::block(n, "")).ok(),
        read(|c| c.block("")),
    );
    agree::<VerifyView>(served(service::ledger::verify), read(Client::verify));
    agree::<BalancesView>(
        served_now(service::ledger::balances),
        read(Client::balances),
    );
    agree::<ForksView>(served_now(service::ledger::forks), read(Client::forks));
    agree::<SearchReport>(
        served(|n: &'static Arc<Node>| service::search::search_patients(n, search())),
        read(|c| c.search(&search())),
    );
    agree::<PeersView>(served_async(service::network::peers), read(Client::peers));
    agree::<Dialing>(
        served(|n: &'static Node| {
            service::network::connect(
                n,
                ConnectInput {
                    addr: String::new(),
                },
            )
        }),
        read(|c| {
            c.connect(&ConnectInput {
                addr: String::new(),
            })
        }),
    );
    agree::<RewardsView>(served_now(service::rewards::rewards), read(Client::rewards));
    agree::<AuditView>(served_now(service::audit::audit), read(Client::audit));
}

fn check() -> CheckInput {
    CheckInput {
        requester: String::new(),
        purpose: String::new(),
    }
}

/// The client's view, written back as JSON, equals the daemon's JSON: no field dropped,
/// renamed or retyped on the way.
fn same_json<T: Serialize>(what: &str, typed: anyhow::Result<T>, raw: (u16, Value)) {
    let typed = typed.unwrap_or_else(|e| panic!("{what}: the client could not read it: {e:#}"));
    assert_eq!(raw.0, 200, "{what}: {}", raw.1);
    assert_eq!(
        serde_json::to_value(&typed).expect("json"),
        raw.1,
        "{what}: the client's view differs from what the daemon sent"
    );
}

#[test]
fn the_cli_client_reads_every_field_the_daemon_serves() {
    let mut alice = NodeProc::init("patient", "Alice");
    alice.start();
    let c = Client::new(&alice.api, &alice.token);
    let note = c
        .add_record(&RecordInput::Note {
            title: "t".into(),
            text: "x".into(),
        })
        .expect("add a note");
    c.add_record(&RecordInput::Condition {
        text: "type 2 diabetes".into(),
        status: None,
        onset: Some("2019-05-01".into()),
    })
    .expect("add a condition");
    let hospital = "ab".repeat(32);
    let grant = c
        .grant(&GrantInput {
            grantee: hospital.clone(),
            purposes: vec!["treatment".into()],
            ..GrantInput::default()
        })
        .expect("grant");
    assert_eq!(grant.grantee, hospital);

    let get = |path: &str| alice.http("GET", &format!("/api/v1{path}"), None);
    same_json("records", c.records(), get("/records"));
    same_json(
        "record",
        c.record(&note.id),
        get(&format!("/records/{}", note.id)),
    );
    same_json("consents", c.consents(), get("/consents"));
    same_json("heads", c.heads(), get("/ledger/heads"));
    let me = c.status().expect("status").account;
    same_json("chain", c.chain(&me), get(&format!("/ledger/chain/{me}")));
    same_json(
        "block",
        c.block(&grant.block),
        get(&format!("/ledger/block/{}", grant.block)),
    );
    same_json("balances", c.balances(), get("/balances"));
    same_json("forks", c.forks(), get("/forks"));
    same_json("rewards", c.rewards(), get("/rewards"));
    same_json("audit", c.audit(), get("/audit"));
    same_json(
        "verify",
        c.verify(),
        alice.http("POST", "/api/v1/ledger/verify", None),
    );
    // Status carries the uptime, which moves between two reads.
    let mut typed = serde_json::to_value(c.status().expect("status")).expect("json");
    let (code, mut raw) = get("/status");
    assert_eq!(code, 200);
    for v in [&mut typed, &mut raw] {
        v["uptime_secs"] = Value::Null;
    }
    assert_eq!(typed, raw, "status");
}
