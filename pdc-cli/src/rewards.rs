//! `pdc rewards` and `pdc audit`.

use pdc_proto::api::short_key;

use pdc_cli::client::Client;

use crate::output::{Out, credits, named, table};

pub(crate) fn rewards(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.rewards()?;
    out.print(&v, |v| {
        let rows: Vec<Vec<String>> = v
            .accesses
            .iter()
            .map(|a| {
                vec![
                    a.time.clone(),
                    named(&a.requester_name, &a.requester_fingerprint),
                    a.staff_user.clone(),
                    a.query.clone(),
                    credits(a.price),
                    a.status.clone(),
                ]
            })
            .collect();
        format!(
            "total {} credits (confirmed {}, pending {})\n",
            credits(v.total),
            credits(v.confirmed),
            credits(v.pending)
        ) + &table(
            &["TIME", "REQUESTER", "STAFF", "QUERY", "REWARD", "STATUS"],
            &rows,
        )
    });
    Ok(())
}

pub(crate) fn audit(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.audit()?;
    out.print(&v, |v| {
        let rows: Vec<Vec<String>> = v
            .accesses
            .iter()
            .map(|a| {
                vec![
                    a.time.clone(),
                    named(&a.requester_name, &a.requester_fingerprint),
                    a.staff_user.clone(),
                    a.query.clone(),
                    a.decision.clone(),
                    a.reason.clone(),
                    short_key(&a.block),
                ]
            })
            .collect();
        table(
            &[
                "TIME",
                "REQUESTER",
                "STAFF",
                "QUERY",
                "DECISION",
                "REASON",
                "BLOCK",
            ],
            &rows,
        )
    });
    Ok(())
}
