//! `ivr report`: the contact-centre figures of a period.

use std::process::ExitCode;

use super::{collect, parse_instant, ReportOptions};
use crate::store::{now_unix_ms, Store};

/// Contact-centre figures of a period from the call store (see docs/reports.md).
///
/// Figures of the calls that started in the period: containment, transfers, abandonment,
/// speed of answer, handle time, service level, callbacks, top intents, what callers said that
/// was not understood, drop-off by node, QA by agent and outbound outcomes (see
/// docs/reports.md). Exit code 0 when printed, 2 when the store cannot be read.
///
/// Examples:
///   ivr report --since 2024-05-01 --until 2024-06-01 --store data/ivr.db
///   ivr report --since 7d --store data/ivr.db --sla 30s --format csv > week.csv
///   ivr report --since 24h --store postgres://ivr@db/ivr --format json
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ReportArgs {
    /// Calls that started at or after: YYYY-MM-DD (UTC), RFC 3339, or a span back (24h, 7d).
    #[arg(long)]
    pub since: String,
    /// Calls that started before this (same forms); default now.
    #[arg(long)]
    pub until: Option<String>,
    /// The store: a SQLite file (the engine's DATA/ivr.db) or a postgres:// URL.
    #[arg(long)]
    pub store: String,
    /// Service-level threshold: agent answers within this wait are on time (500ms, 20s, 1m).
    #[arg(long, default_value = "20s")]
    pub sla: String,
    /// Entries in the top lists.
    #[arg(long, default_value_t = ReportOptions::DEFAULT_TOP)]
    pub top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
}

/// How `ivr report` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Aligned text.
    Table,
    /// `section,item,metric,value` rows.
    Csv,
    /// One JSON object.
    Json,
}

/// Runs `ivr report`; returns the exit code.
pub fn main(args: ReportArgs) -> ExitCode {
    match report(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn report(args: &ReportArgs) -> Result<String, String> {
    let now = now_unix_ms();
    let since = parse_instant(&args.since, now).map_err(|e| format!("--since: {e}"))?;
    let until = match &args.until {
        Some(u) => parse_instant(u, now).map_err(|e| format!("--until: {e}"))?,
        None => now,
    };
    if until <= since {
        return Err("--until must be after --since".to_string());
    }
    let sla_ms = crate::qa::parse_duration_ms(&args.sla)
        .ok_or_else(|| format!("--sla {:?}: give a duration such as 20s or 500ms", args.sla))?;
    let options = ReportOptions {
        since_unix_ms: since,
        until_unix_ms: until,
        sla_ms,
        top: args.top,
    };
    let location = args.store.as_str();
    if !location.contains("://") && !std::path::Path::new(location).is_file() {
        return Err(format!(
            "{location} does not exist: give the engine's DATA/ivr.db"
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = runtime.block_on(async {
        let store = Store::open(location).await.map_err(|e| e.to_string())?;
        let report = collect(&store, &options).await.map_err(|e| e.to_string());
        store.close().await;
        report
    })?;
    Ok(match args.format {
        ReportFormat::Table => report.to_table(),
        ReportFormat::Csv => report.to_csv(),
        ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            s.push('\n');
            s
        }
    })
}
