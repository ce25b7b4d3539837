//! `ivr qa`: re-score stored calls against a rule file.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{run, Rules, RunSummary};
use crate::report::parse_instant;
use crate::store::{now_unix_ms, Store};

/// The `ivr qa` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum QaCommand {
    /// Score stored calls against a rule file and save the results.
    ///
    /// Every finished call that started in the period is scored; results replace earlier
    /// results of the same rule file (a changed file scores anew). Exit code 0 when done, 2 when
    /// the rules or the store cannot be read.
    ///
    /// Examples:
    ///   ivr qa run --since 2024-05-01 --rules examples/qa/rules.yaml --store data/ivr.db
    ///   ivr qa run --since 7d --rules qa.yaml --store postgres://ivr@db/ivr --format json
    ///   ivr qa run --since 2024-05-01 --until 2024-06-01 --rules qa.yaml --store data/ivr.db
    #[command(verbatim_doc_comment)]
    Run(RunArgs),
}

/// Arguments of `ivr qa run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Calls that started at or after: YYYY-MM-DD (UTC), RFC 3339, or a span back (24h, 7d).
    #[arg(long)]
    pub since: String,
    /// Calls that started before this (same forms); default now.
    #[arg(long)]
    pub until: Option<String>,
    /// The rule file (YAML). See docs/qa.md.
    #[arg(long)]
    pub rules: PathBuf,
    /// The store: a SQLite file (the engine's DATA/ivr.db) or a postgres:// URL.
    #[arg(long)]
    pub store: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SummaryFormat,
}

/// How `ivr qa run` prints its summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Aligned text.
    Table,
    /// One JSON object.
    Json,
}

/// Runs an `ivr qa` subcommand; returns the exit code.
pub fn main(command: QaCommand) -> ExitCode {
    match command {
        QaCommand::Run(args) => match run_command(&args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn run_command(args: &RunArgs) -> Result<String, String> {
    let now = now_unix_ms();
    let since = parse_instant(&args.since, now).map_err(|e| format!("--since: {e}"))?;
    let until = match &args.until {
        Some(u) => Some(parse_instant(u, now).map_err(|e| format!("--until: {e}"))?),
        None => None,
    };
    let rules = Rules::load(&args.rules).map_err(|e| e.to_string())?;
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
    let summary = runtime.block_on(async {
        let store = Store::open(location).await.map_err(|e| e.to_string())?;
        let summary = run(&store, &rules, since, until, now)
            .await
            .map_err(|e| e.to_string());
        store.close().await;
        summary
    })?;
    Ok(match args.format {
        SummaryFormat::Json => {
            let mut s = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
            s.push('\n');
            s
        }
        SummaryFormat::Table => table(&summary),
    })
}

/// The summary as text.
pub fn table(s: &RunSummary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let avg = s
        .average_score
        .map_or_else(|| "-".to_string(), |a| format!("{a:.1}"));
    let _ = writeln!(
        out,
        "rules {}: {} call(s) scored, average score {avg}, {} without findings",
        s.rules_fingerprint, s.calls, s.clean_calls
    );
    let width = s
        .by_rule
        .iter()
        .map(|r| r.rule_id.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "\n{:<width$}  {:<8}  {:>5}",
        "rule", "severity", "calls"
    );
    for r in &s.by_rule {
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:>5}",
            r.rule_id,
            r.severity.as_str(),
            r.calls
        );
    }
    if !s.by_severity.is_empty() {
        let worst: Vec<String> = s
            .by_severity
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "\ncalls by worst finding: {}", worst.join(", "));
    }
    if !s.lowest.is_empty() {
        let _ = writeln!(out, "\nlowest scores:");
        for c in &s.lowest {
            let _ = writeln!(out, "  {:>3}  {}", c.score, c.call_id);
        }
    }
    out
}
