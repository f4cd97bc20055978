//! `pdc ledger heads|chain|show|verify`, `pdc balances`, `pdc forks`.

use anyhow::bail;
use pdc_proto::api::short_key;

use crate::output::{Out, credits, table, who};
use pdc_cli::client::Client;

use crate::LedgerCmd;

pub(crate) fn run(c: &Client, out: Out, cmd: LedgerCmd) -> anyhow::Result<()> {
    match cmd {
        LedgerCmd::Heads => {
            let v = c.heads()?;
            out.print(&v, |v| {
                let rows: Vec<Vec<String>> = v
                    .heads
                    .iter()
                    .map(|h| {
                        vec![
                            who(&h.name, &h.fingerprint, &h.author),
                            h.seq.to_string(),
                            h.hash.clone(),
                        ]
                    })
                    .collect();
                table(&["ACCOUNT", "SEQ", "HEAD"], &rows)
            });
        }
        LedgerCmd::Chain { author } => {
            let v = c.chain(&author)?;
            out.print(&v, |v| {
                let rows: Vec<Vec<String>> = v
                    .blocks
                    .iter()
                    .map(|b| {
                        vec![
                            b.seq.to_string(),
                            short_key(&b.hash),
                            b.time.clone(),
                            b.body.type_name().to_string(),
                            credits(b.balance_after),
                        ]
                    })
                    .collect();
                table(&["SEQ", "HASH", "TIME", "KIND", "BALANCE"], &rows)
            });
        }
        LedgerCmd::Show { hash } => {
            // A block is read whole: the table form is its JSON too.
            let v = c.block(&hash)?;
            out.print(&v, |v| {
                serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
            });
        }
        LedgerCmd::Verify => {
            let v = c.verify()?;
            out.print(&v, |v| match &v.first_bad {
                None => format!(
                    "ok: {} blocks, {} fork proofs, {} chain links verified\n",
                    v.blocks, v.fork_proofs, v.chain_links
                ),
                Some(bad) => format!("BAD: {bad}\n"),
            });
            if !v.ok {
                bail!("the ledger did not verify");
            }
        }
    }
    Ok(())
}

pub(crate) fn balances(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.balances()?;
    out.print(&v, |v| {
        let rows: Vec<Vec<String>> = v
            .balances
            .iter()
            .map(|b| {
                vec![
                    who(&b.name, &b.fingerprint, &b.account),
                    credits(b.confirmed),
                    credits(b.pending),
                    b.total_credits.clone(),
                ]
            })
            .collect();
        table(&["ACCOUNT", "CONFIRMED", "PENDING", "TOTAL"], &rows)
    });
    Ok(())
}

pub(crate) fn forks(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.forks()?;
    out.print(&v, |v| {
        let rows: Vec<Vec<String>> = v
            .forks
            .iter()
            .map(|f| {
                vec![
                    who(&f.name, &f.fingerprint, &f.author),
                    f.seq.to_string(),
                    f.frozen_at.to_string(),
                ]
            })
            .collect();
        table(&["ACCOUNT", "FORK SEQ", "FROZEN AT SEQ"], &rows)
    });
    Ok(())
}
