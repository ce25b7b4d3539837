//! `ivr campaign`: create a campaign from a contacts file, show its progress, export results.
//!
//! Exit codes: 0 success (a campaign created with some rows rejected is a success: the
//! report lists them), 2 an error (unreadable file, bad option, store unavailable).

use std::fs::File;
use std::io::{BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::config::{self, CallingWindow, CampaignConfig, RetryRule};
use super::contacts::{self, DncList, Format, ImportOptions, ImportReport};
use super::export::export_results;
use crate::store::{now_unix_ms, CampaignState, NewCampaign, Store};

/// The `ivr campaign` subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign: import contacts (CSV or JSON) into the store with the schedule.
    ///
    /// The CSV header names a `number` column (E.164: +, country code, number) and optionally
    /// `name` and `timezone` (IANA); other columns become dial-plan variables (vars.COLUMN).
    /// Prints the campaign id and the import report; malformed rows are listed by line and
    /// left out, the rest are imported. `ivr serve` runs the campaign.
    ///
    /// Examples:
    ///   ivr campaign create --name may-reminders --plan reminder --contacts may.csv --store data/ivr.db
    ///   ivr campaign create --name survey --plan nps --contacts people.jsonl --dnc optout.txt \
    ///       --rate 5 --concurrent 50 --window 10:00-19:00 --days mon-fri --store data/ivr.db
    ///   ivr campaign create --name r --plan reminder --contacts c.csv --retry busy=3x5m \
    ///       --retry no_answer=4x30m*2 --timezone Europe/Paris --store data/ivr.db
    #[command(verbatim_doc_comment)]
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// The dial plan run on answered calls.
        #[arg(long)]
        plan: String,
        /// The contacts: FILE.csv, or FILE.json / FILE.jsonl (an array or one object per line).
        #[arg(long, value_name = "FILE")]
        contacts: PathBuf,
        /// Do-not-call list: one number per line; those contacts are skipped.
        #[arg(long, value_name = "FILE")]
        dnc: Option<PathBuf>,
        /// Call starts per second, evenly spaced (or N/m, N/h).
        #[arg(long, default_value = "10")]
        rate: String,
        /// The most calls at once.
        #[arg(long, default_value_t = 20)]
        concurrent: usize,
        /// Calling window in each contact's local time.
        #[arg(long, default_value = "09:00-20:00", value_name = "HH:MM-HH:MM")]
        window: String,
        /// Days calls are made (mon-fri, mon,wed,sat, all).
        #[arg(long, default_value = "mon-sat")]
        days: String,
        /// Time zone of contacts that give none (IANA name).
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Retry rule OUTCOME=ATTEMPTSxDELAY[*FACTOR] (busy, no_answer, machine, failed,
        /// rejected, unknown); repeat for several.
        #[arg(long, value_name = "RULE")]
        retry: Vec<String>,
        /// The number shown to callees.
        #[arg(long, default_value = "")]
        caller_id: String,
        /// Agent-assisted dialing: the queue the plan hands answered people to; calls in
        /// flight never exceed its free agents.
        #[arg(long, value_name = "QUEUE")]
        queue: Option<String>,
        /// The store: a SQLite file (the engine's DATA/ivr.db) or a postgres:// URL.
        #[arg(long)]
        store: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: OutputFormat,
    },
    /// Show a campaign's progress: contacts by status, attempts by outcome.
    ///
    /// Examples:
    ///   ivr campaign status 3 --store data/ivr.db
    ///   ivr campaign status 3 --store data/ivr.db --format json
    ///   ivr campaign status 3 --store data/ivr.db --follow    # until it completes or stops
    #[command(verbatim_doc_comment)]
    Status {
        /// The campaign id.
        id: i64,
        /// The store.
        #[arg(long)]
        store: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: OutputFormat,
        /// Keep printing the progress whenever it changes (checked every second) until the
        /// campaign is completed or stopped.
        #[arg(long)]
        follow: bool,
    },
    /// Pause a campaign: a running `ivr serve` places no new calls (calls in progress finish).
    ///
    /// Example:
    ///   ivr campaign pause 3 --store data/ivr.db
    #[command(verbatim_doc_comment)]
    Pause {
        /// The campaign id.
        id: i64,
        /// The store.
        #[arg(long)]
        store: String,
    },
    /// Resume a paused campaign.
    Resume {
        /// The campaign id.
        id: i64,
        /// The store.
        #[arg(long)]
        store: String,
    },
    /// Stop a campaign for good (calls in progress finish; no contact is called again).
    Stop {
        /// The campaign id.
        id: i64,
        /// The store.
        #[arg(long)]
        store: String,
    },
    /// Write a campaign's results as CSV, one row per contact.
    ///
    /// Examples:
    ///   ivr campaign export 3 --store data/ivr.db -o results.csv
    ///   ivr campaign export 3 --store data/ivr.db -o - --column confirmed --column choice
    #[command(verbatim_doc_comment)]
    Export {
        /// The campaign id.
        id: i64,
        /// The store.
        #[arg(long)]
        store: String,
        /// The CSV file to write (`-` for standard output).
        #[arg(long, short)]
        output: PathBuf,
        /// A variable the dial plan reported, as its own column; repeat for several.
        #[arg(long, value_name = "VAR")]
        column: Vec<String>,
    },
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    Human,
    /// One JSON object.
    Json,
}

/// Runs a `campaign` subcommand.
pub fn run(command: CampaignCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match command {
            CampaignCommand::Create {
                name,
                plan,
                contacts,
                dnc,
                rate,
                concurrent,
                window,
                days,
                timezone,
                retry,
                caller_id,
                queue,
                store,
                format,
            } => {
                let mut config = build_config(
                    plan, caller_id, &rate, concurrent, &window, &days, &timezone, &retry,
                )?;
                config.queue = queue;
                create(&store, &name, config, &contacts, dnc.as_deref(), format).await
            }
            CampaignCommand::Status {
                id,
                store,
                format,
                follow: false,
            } => status(&store, id, format).await,
            CampaignCommand::Status {
                id,
                store,
                format,
                follow: true,
            } => follow_status(&store, id, format).await,
            CampaignCommand::Pause { id, store } => {
                set_state(&store, id, CampaignState::Paused).await
            }
            CampaignCommand::Resume { id, store } => {
                set_state(&store, id, CampaignState::Running).await
            }
            CampaignCommand::Stop { id, store } => {
                set_state(&store, id, CampaignState::Stopped).await
            }
            CampaignCommand::Export {
                id,
                store,
                output,
                column,
            } => export(&store, id, &output, &column).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_config(
    plan: String,
    caller_id: String,
    rate: &str,
    concurrent: usize,
    window: &str,
    days: &str,
    timezone: &str,
    retry: &[String],
) -> Result<CampaignConfig, String> {
    let mut problems = Vec::new();
    let mut config = CampaignConfig {
        plan,
        caller_id,
        max_concurrent: concurrent,
        ..CampaignConfig::default()
    };
    match config::parse_rate(rate) {
        Ok(r) => config.calls_per_second = r,
        Err(e) => problems.push(e),
    }
    match CallingWindow::parse_span(window) {
        Ok((start, end)) => {
            config.window.start = start;
            config.window.end = end;
        }
        Err(e) => problems.push(e),
    }
    match CallingWindow::parse_days(days) {
        Ok(d) => config.window.days = d,
        Err(e) => problems.push(e),
    }
    match config::parse_timezone(timezone) {
        Ok(tz) => config.default_timezone = tz,
        Err(e) => problems.push(e),
    }
    for rule in retry {
        match RetryRule::parse(rule) {
            Ok((class, rule)) => config.retry.set(class, rule),
            Err(e) => problems.push(e),
        }
    }
    problems.extend(config.problems());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\nerror: "))
    }
}

async fn create(
    location: &str,
    name: &str,
    config: CampaignConfig,
    contacts_path: &Path,
    dnc_path: Option<&Path>,
    format: OutputFormat,
) -> Result<(), String> {
    let shown = contacts_path.display();
    let file_format = Format::from_path(contacts_path).ok_or_else(|| {
        format!("{shown}: cannot tell the format; name the file .csv, .json or .jsonl")
    })?;
    let file = File::open(contacts_path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    // The header is read before the campaign exists, so a file without `number` creates none.
    let rows = contacts::read_contacts(file, file_format).map_err(|e| format!("{shown}: {e}"))?;
    let (dnc, dnc_bad) = match dnc_path {
        Some(path) => {
            let file = File::open(path)
                .map_err(|e| format!("cannot open the do-not-call list {}: {e}", path.display()))?;
            let (list, bad) = DncList::read(BufReader::new(file))
                .map_err(|e| format!("cannot read the do-not-call list {}: {e}", path.display()))?;
            (Some(list), bad)
        }
        None => (None, Vec::new()),
    };
    let store = Store::open(location).await.map_err(|e| e.to_string())?;
    let config_json = serde_json::to_value(&config).map_err(|e| e.to_string())?;
    let now = now_unix_ms();
    let id = store
        .create_campaign(&NewCampaign {
            name: name.to_string(),
            plan: config.plan.clone(),
            config: config_json,
            created_at_unix_ms: now,
        })
        .await
        .map_err(|e| e.to_string())?;
    let imported = contacts::import(
        &store,
        id,
        rows,
        dnc.as_ref(),
        ImportOptions::default(),
        now,
    )
    .await;
    let report = match imported {
        Ok(r) => r,
        Err(e) => {
            // Keep what was imported for inspection, but never run a half-imported campaign.
            let _ = store
                .set_campaign_state(id, CampaignState::Stopped, now_unix_ms())
                .await;
            store.close().await;
            return Err(format!(
                "{shown}: {e}\ncampaign {id} was left stopped with the contacts read before \
                 the error; fix the file and create the campaign again"
            ));
        }
    };
    store.close().await;
    print_report(id, name, &config, &report, &dnc_bad, format);
    Ok(())
}

fn print_report(
    id: i64,
    name: &str,
    config: &CampaignConfig,
    report: &ImportReport,
    dnc_bad: &[contacts::Rejection],
    format: OutputFormat,
) {
    match format {
        OutputFormat::Json => {
            let out = json!({
                "id": id,
                "name": name,
                "plan": config.plan,
                "rows": report.rows,
                "imported": report.imported,
                "rejected": report.rejected,
                "rejections": report.rejections.iter()
                    .map(|r| json!({"line": r.line, "reason": r.reason.to_string()}))
                    .collect::<Vec<_>>(),
                "skipped_dnc": report.skipped_dnc,
                "skipped_duplicate": report.skipped_duplicate,
                "dnc_unreadable_lines": dnc_bad.iter().map(|r| r.line).collect::<Vec<_>>(),
            });
            println!("{out}");
        }
        OutputFormat::Human => {
            println!("campaign {id} created: {name} (plan {})", config.plan);
            println!(
                "{} imported, {} rejected, {} skipped (do-not-call), {} skipped (duplicate number)",
                report.imported, report.rejected, report.skipped_dnc, report.skipped_duplicate
            );
            for r in &report.rejections {
                println!("  {r}");
            }
            if report.rejected > report.rejections.len() as u64 {
                println!(
                    "  … and {} more rejected rows",
                    report.rejected - report.rejections.len() as u64
                );
            }
            for r in dnc_bad {
                println!("  do-not-call list {r} (ignored)");
            }
        }
    }
}

async fn open_existing(location: &str) -> Result<Store, String> {
    if !location.contains("://") && !Path::new(location).is_file() {
        return Err(format!(
            "{location} does not exist: give the engine's DATA/ivr.db"
        ));
    }
    Store::open(location).await.map_err(|e| e.to_string())
}

/// Pause, resume or stop: the state is written to the store, where a running engine reads it
/// within a second. A completed or stopped campaign stays so.
async fn set_state(location: &str, id: i64, to: CampaignState) -> Result<(), String> {
    let store = open_existing(location).await?;
    let campaign = store
        .campaign(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no campaign {id} in {location}"))?;
    let from = campaign.state;
    let allowed = match to {
        CampaignState::Paused => matches!(from, CampaignState::Created | CampaignState::Running),
        CampaignState::Running => from == CampaignState::Paused,
        CampaignState::Stopped => {
            !matches!(from, CampaignState::Completed | CampaignState::Stopped)
        }
        _ => false,
    };
    if !allowed {
        store.close().await;
        return Err(format!(
            "campaign {id} is {}; it cannot become {}",
            from.as_str(),
            to.as_str()
        ));
    }
    store
        .set_campaign_state(id, to, now_unix_ms())
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    println!("campaign {id}: {} → {}", from.as_str(), to.as_str());
    Ok(())
}

/// Prints the status each time it changes, until the campaign is completed or stopped.
async fn follow_status(location: &str, id: i64, format: OutputFormat) -> Result<(), String> {
    let mut last = None;
    loop {
        let (campaign, p) = load_status(location, id).await?;
        let state = campaign.state;
        let now = Some((state, p.clone()));
        if now != last {
            print_status(&campaign, &p, format);
            last = now;
        }
        if matches!(state, CampaignState::Completed | CampaignState::Stopped) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// A campaign and its progress, read from the store.
async fn load_status(
    location: &str,
    id: i64,
) -> Result<(crate::store::CampaignRecord, crate::store::CampaignProgress), String> {
    let store = open_existing(location).await?;
    let campaign = store
        .campaign(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no campaign {id} in {location}"))?;
    let p = store
        .campaign_progress(id)
        .await
        .map_err(|e| e.to_string())?;
    store.close().await;
    Ok((campaign, p))
}

async fn status(location: &str, id: i64, format: OutputFormat) -> Result<(), String> {
    let (campaign, p) = load_status(location, id).await?;
    print_status(&campaign, &p, format);
    Ok(())
}

fn print_status(
    campaign: &crate::store::CampaignRecord,
    p: &crate::store::CampaignProgress,
    format: OutputFormat,
) {
    match format {
        OutputFormat::Json => {
            let out = json!({
                "id": campaign.id,
                "name": campaign.name,
                "plan": campaign.plan,
                "state": campaign.state.as_str(),
                "created_at_unix_ms": campaign.created_at_unix_ms,
                "progress": p,
                "config": campaign.config,
            });
            println!("{out}");
        }
        OutputFormat::Human => {
            println!(
                "campaign {} {} (plan {}): {}",
                campaign.id,
                campaign.name,
                campaign.plan,
                campaign.state.as_str()
            );
            println!(
                "contacts {}: {} pending, {} dialing, {} completed, {} gave up",
                p.contacts, p.pending, p.dialing, p.completed, p.gave_up
            );
            let outcomes: Vec<String> =
                p.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if outcomes.is_empty() {
                println!("attempts 0");
            } else {
                println!("attempts {}: {}", p.attempts, outcomes.join(", "));
            }
        }
    }
}

async fn export(location: &str, id: i64, output: &Path, columns: &[String]) -> Result<(), String> {
    let store = open_existing(location).await?;
    if store
        .campaign(id)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!("there is no campaign {id} in {location}"));
    }
    let rows = if output == Path::new("-") {
        let stdout = std::io::stdout();
        export_results(&store, id, stdout.lock(), columns).await
    } else {
        let file =
            File::create(output).map_err(|e| format!("cannot create {}: {e}", output.display()))?;
        export_results(&store, id, std::io::BufWriter::new(file), columns).await
    }
    .map_err(|e| e.to_string())?;
    store.close().await;
    if output != Path::new("-") {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "{rows} contacts written to {}", output.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_options_build_the_configuration_or_report_every_problem() {
        let config = build_config(
            "reminder".into(),
            "+15550100000".into(),
            "30/m",
            5,
            "10:00-18:30",
            "mon-fri",
            "Europe/Paris",
            &["busy=5x2m".into(), "no_answer=4x30m*2".into()],
        )
        .unwrap();
        assert_eq!(config.calls_per_second, 0.5);
        assert_eq!(config.window.days.len(), 5);
        assert_eq!(config.default_timezone, chrono_tz::Europe::Paris);
        assert_eq!(config.retry.busy.max_attempts, 5);
        assert_eq!(config.retry.no_answer.factor, 2.0);

        let err = build_config(
            String::new(),
            String::new(),
            "fast",
            0,
            "18:00-09:00",
            "someday",
            "Mars/Base",
            &["busy=lots".into()],
        )
        .unwrap_err();
        for needle in [
            "fast",
            "18:00-09:00",
            "someday",
            "Mars/Base",
            "busy=lots",
            "--plan",
            "--concurrent",
        ] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
    }
}
