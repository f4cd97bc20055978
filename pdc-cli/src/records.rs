//! `pdc status`, `pdc record ...`, `pdc import`, `pdc export`.

use std::path::Path;

use anyhow::Context;
use pdc_proto::api::{RecordBody, RecordInput, short_key};

use crate::output::{Out, table};
use pdc_cli::client::Client;

use crate::{AddCmd, RecordCmd};

pub(crate) fn status(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.status()?;
    out.print(&v, |v| {
        format!(
            "name:      {}\nrole:      {}\naccount:   {} ({})\npeer id:   {}\nrecords:   {}\nconsents:  {} live of {}\nuptime:    {}s\nversion:   {}\n",
            v.name,
            v.role,
            v.account,
            v.fingerprint,
            v.peer_id,
            v.records,
            v.consents_live,
            v.consents_total,
            v.uptime_secs,
            v.version
        )
    });
    Ok(())
}

pub(crate) fn run(c: &Client, out: Out, cmd: RecordCmd) -> anyhow::Result<()> {
    match cmd {
        RecordCmd::Add(add) => {
            let v = c.add_record(&input(add))?;
            out.print(&v, |v| {
                format!("added {} {} (hash {})\n", v.kind, v.id, v.hash)
            });
        }
        RecordCmd::List => {
            let v = c.records()?;
            out.print(&v, |v| {
                let rows: Vec<Vec<String>> = v
                    .records
                    .iter()
                    .map(|r| {
                        vec![
                            r.id.clone(),
                            r.kind.clone(),
                            r.summary.clone(),
                            short_key(&r.hash),
                            r.created.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "KIND", "SUMMARY", "HASH", "CREATED"], &rows)
            });
        }
        RecordCmd::Show { id } => {
            let v = c.record(&id)?;
            out.print(&v, |v| {
                let mut t = format!(
                    "id:       {}\nkind:     {}\nhash:     {}\ncreated:  {}\n",
                    v.id, v.kind, v.hash, v.created
                );
                for (k, val) in body_fields(&v.body) {
                    if !val.is_empty() {
                        t.push_str(&format!("{:<9} {val}\n", format!("{k}:")));
                    }
                }
                t
            });
        }
        RecordCmd::Rm { id } => {
            let v = c.delete_record(&id)?;
            out.print(&v, |v| format!("deleted {}\n", v.deleted));
        }
    }
    Ok(())
}

fn input(add: AddCmd) -> RecordInput {
    match add {
        AddCmd::Condition {
            text,
            status,
            onset,
        } => RecordInput::Condition {
            text,
            status,
            onset,
        },
        AddCmd::Note { text, title } => RecordInput::Note { title, text },
        AddCmd::Profile {
            name,
            pseudonym,
            birth_date,
            gender,
        } => RecordInput::Profile {
            display_name: name,
            pseudonym,
            birth_date,
            gender,
        },
    }
}

/// A record's fields as (name, text), in the JSON's (alphabetical) order.
fn body_fields(b: &RecordBody) -> Vec<(&'static str, String)> {
    let mut f: Vec<(&'static str, String)> = match b {
        RecordBody::Profile {
            display_name,
            pseudonym,
            birth_date,
            gender,
        } => vec![
            ("display_name", display_name.clone()),
            ("pseudonym", pseudonym.clone()),
            ("birth_date", birth_date.clone()),
            ("gender", gender.clone()),
        ],
        RecordBody::Condition {
            text,
            status,
            onset,
            code_system,
            code,
            icd10_codes,
        } => vec![
            ("text", text.clone()),
            ("status", status.clone()),
            ("onset", onset.clone()),
            ("code_system", code_system.clone()),
            ("code", code.clone()),
            (
                "icd10_codes",
                if icd10_codes.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(icd10_codes).unwrap_or_default()
                },
            ),
        ],
        RecordBody::Note { title, text } => vec![("title", title.clone()), ("text", text.clone())],
        RecordBody::Fhir { resource_type } => vec![("resource_type", resource_type.clone())],
        RecordBody::Empty {} => vec![],
    };
    f.sort_by_key(|(k, _)| *k);
    f
}

pub(crate) fn import(c: &Client, out: Out, file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let v = c.fhir_import(&bytes)?;
    out.print(&v, |v| {
        format!(
            "imported {} records from {}: profile {}, conditions {}, other resources {}; skipped {} already present\n",
            v.imported,
            file.display(),
            v.profile,
            v.conditions,
            v.other_resources,
            v.skipped_duplicates
        )
    });
    Ok(())
}

pub(crate) fn export(c: &Client, output: Option<&Path>) -> anyhow::Result<()> {
    let v = c.fhir_export()?;
    let text = serde_json::to_string_pretty(&v)?;
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
            let entries = v
                .get("entry")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len);
            eprintln!("wrote {entries} entries to {}", p.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}
