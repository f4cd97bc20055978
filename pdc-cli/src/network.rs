//! `pdc peers [--connect ADDR]` and a hospital's `pdc search`.

use pdc_proto::api::{ConnectInput, PatientOutcome, Purpose, SearchInput, short_key};

use pdc_cli::client::Client;

use crate::output::{Out, credits, named, table};

pub(crate) fn search(
    c: &Client,
    out: Out,
    query: String,
    purpose: Purpose,
    staff: String,
    patient: Option<String>,
) -> anyhow::Result<()> {
    let input = SearchInput {
        query,
        purpose: purpose.as_str().to_string(),
        staff_user: staff,
        patient,
    };
    let v = c.search(&input)?;
    out.print(&v, |v| {
        let mut t = String::new();
        for p in &v.patients {
            let who = format!("{} {}", p.name, p.fingerprint);
            match &p.outcome {
                PatientOutcome::Answered(a) => {
                    t.push_str(&format!(
                        "{who}: {} record(s), access block {}, paid {}\n",
                        a.records.len(),
                        short_key(&a.access_block),
                        credits(a.paid)
                    ));
                    for r in &a.records {
                        t.push_str(&format!(
                            "    {}  hash {}\n      {}\n",
                            r.condition,
                            r.hash,
                            r.why.as_deref().unwrap_or_default()
                        ));
                    }
                }
                other => t.push_str(&format!("{who}: {}: {}\n", other.status(), other.reason())),
            }
        }
        if t.is_empty() {
            t.push_str("no patient has granted this node access for that purpose\n");
        }
        t
    });
    Ok(())
}

pub(crate) fn peers(c: &Client, out: Out, connect: Option<String>) -> anyhow::Result<()> {
    if let Some(addr) = connect {
        let v = c.connect(&ConnectInput { addr })?;
        out.print(&v, |v| format!("dialing {}\n", v.dialing));
        return Ok(());
    }
    let v = c.peers()?;
    out.print(&v, |v| {
        let rows: Vec<Vec<String>> = v
            .peers
            .iter()
            .map(|p| {
                vec![
                    short_key(&p.peer_id),
                    named(&p.name, p.fingerprint.as_deref().unwrap_or_default()),
                    p.role.clone().unwrap_or_default(),
                    p.addresses.join(","),
                    if p.connected { "yes" } else { "no" }.to_string(),
                    p.chain_head
                        .as_ref()
                        .map(|h| h.seq.to_string())
                        .unwrap_or_default(),
                    p.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect();
        table(
            &[
                "PEER",
                "NAME",
                "ROLE",
                "ADDRESSES",
                "CONNECTED",
                "HEAD",
                "LAST SEEN",
            ],
            &rows,
        )
    });
    Ok(())
}
