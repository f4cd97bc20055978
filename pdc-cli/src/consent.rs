//! `pdc consent grant|revoke|list`.

use anyhow::bail;
use pdc_proto::api::{GrantInput, MICROS_PER_CREDIT};

use crate::output::{Out, credits, named, table};
use pdc_cli::client::Client;

use crate::ConsentCmd;

pub(crate) fn run(c: &Client, out: Out, cmd: ConsentCmd) -> anyhow::Result<()> {
    match cmd {
        ConsentCmd::Grant {
            grantee,
            purposes,
            scope,
            days,
            price,
        } => {
            let price = match price {
                Some(p) if !p.is_finite() || p < 0.0 => {
                    bail!("--price must be a non-negative number of credits")
                }
                Some(p) => Some((p * MICROS_PER_CREDIT as f64).round() as u64),
                None => None,
            };
            let input = GrantInput {
                grantee,
                purposes: purposes.iter().map(|p| p.as_str().to_string()).collect(),
                scope: scope.map(|s| s.as_str().to_string()),
                expires_in_days: days,
                not_after_ms: None,
                price,
            };
            let v = c.grant(&input)?;
            out.print(&v, |v| {
                format!(
                    "granted {} to {} {} for {} until {} at {} credits per access\n",
                    v.grant_id,
                    v.grantee_name,
                    v.grantee_fingerprint,
                    v.purposes.join(","),
                    v.expires,
                    credits(v.price)
                )
            });
        }
        ConsentCmd::Revoke { grant_id } => {
            let v = c.revoke(&grant_id)?;
            out.print(&v, |v| match v {
                Some(g) => format!(
                    "revoked {} (was for {} {})\n",
                    g.grant_id, g.grantee_name, g.grantee_fingerprint
                ),
                None => format!("revoked {grant_id}\n"),
            });
        }
        ConsentCmd::List => {
            let v = c.consents()?;
            out.print(&v, |v| {
                let rows: Vec<Vec<String>> = v
                    .consents
                    .iter()
                    .map(|g| {
                        vec![
                            g.grant_id.clone(),
                            named(&g.patient_name, &g.patient_fingerprint),
                            named(&g.grantee_name, &g.grantee_fingerprint),
                            g.purposes.join(","),
                            g.scope.clone(),
                            g.expires.clone(),
                            credits(g.price),
                            g.state.as_str().to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "GRANT", "PATIENT", "GRANTEE", "PURPOSES", "SCOPE", "EXPIRES", "PRICE",
                        "STATE",
                    ],
                    &rows,
                )
            });
        }
    }
    Ok(())
}
