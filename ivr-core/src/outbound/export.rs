//! A campaign's results as CSV, read from the store a page at a time (constant memory).
//!
//! Columns: `contact_id, number, name, timezone, status, attempts, last_outcome, sip_code`,
//! then one column per variable asked for (read from what the dial plan reported, e.g.
//! `confirmed`), then `plan_vars`: every variable the plan reported, as JSON.

use std::io::Write;

use serde_json::Value;
use thiserror::Error;

use crate::store::{Store, StoreError};

/// Contacts read per page.
const PAGE: u32 = 1000;

/// What can stop an export.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written.
    #[error("cannot write the results: {0}")]
    Write(#[from] csv::Error),
    /// The output could not be flushed.
    #[error("cannot write the results: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes campaign `campaign_id`'s contacts and results to `out` as CSV, with a column per
/// name in `var_columns`; returns the number of rows written.
pub async fn export_results<W: Write>(
    store: &Store,
    campaign_id: i64,
    out: W,
    var_columns: &[String],
) -> Result<u64, ExportError> {
    let mut writer = csv::Writer::from_writer(out);
    let mut header = vec![
        "contact_id",
        "number",
        "name",
        "timezone",
        "status",
        "attempts",
        "last_outcome",
        "sip_code",
    ];
    header.extend(var_columns.iter().map(String::as_str));
    header.push("plan_vars");
    writer.write_record(&header)?;
    let mut after = 0;
    let mut written = 0;
    let mut record: Vec<String> = Vec::with_capacity(header.len());
    loop {
        let page = store.campaign_results(campaign_id, after, PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        for c in &page {
            let vars = c
                .result
                .as_ref()
                .and_then(|r| r.get("vars"))
                .and_then(Value::as_object);
            record.clear();
            record.push(c.id.to_string());
            record.push(c.number.clone());
            record.push(c.name.clone().unwrap_or_default());
            record.push(c.timezone.clone().unwrap_or_default());
            record.push(c.status.as_str().to_string());
            record.push(c.attempts.to_string());
            record.push(c.last_outcome.map(|o| o.as_str()).unwrap_or("").to_string());
            record.push(c.sip_code.map(|s| s.to_string()).unwrap_or_default());
            for column in var_columns {
                record.push(match vars.and_then(|v| v.get(column)) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                });
            }
            record.push(
                vars.map(|v| Value::Object(v.clone()).to_string())
                    .unwrap_or_default(),
            );
            writer.write_record(&record)?;
            written += 1;
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    writer.flush()?;
    Ok(written)
}
