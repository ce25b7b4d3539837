//! The `ivr privacy …` and `ivr recording …` commands.
//!
//! Exit codes: 0 done, 2 refused or failed (the message says why). Every command names its
//! principal (`--principal`), who must hold a role in the `[api]` tokens of the configuration:
//! admin or supervisor to export, admin to erase. Each action is appended to the audit log
//! `DATA/audit.jsonl` with the principal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use super::rights::{self, RightsError};
use crate::api::Role;
use crate::config::{Config, PrivacyConfig};

/// `ivr privacy …`
#[derive(Debug, clap::Subcommand)]
pub enum PrivacyCommand {
    /// Export everything held about a caller as JSON: call records (as caller or called
    /// party) with their events, transcripts, QA results and recording list, and callbacks.
    ///
    /// Needs a principal with role admin or supervisor in the [api] tokens. Audited.
    ///
    /// Examples:
    ///   ivr privacy export --caller +8613800138000 --config /etc/ivr/ivr.toml --principal alice
    ///   ivr privacy export --caller +15551230000 --config ivr.toml --principal alice -o caller.json
    #[command(verbatim_doc_comment)]
    Export {
        /// The caller's number, exactly as stored (see `ivr calls --number`).
        #[arg(long)]
        caller: String,
        /// Write the JSON here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
    /// Erase what is held about a caller: recordings and voicemail, transcripts, event data,
    /// callbacks and QA results of their calls are deleted; the call records stay for
    /// statistics with the number replaced by an anonymous token (printed).
    ///
    /// Needs a principal with role admin in the [api] tokens. Audited (with the token, not the
    /// number).
    ///
    /// Examples:
    ///   ivr privacy erase --caller +8613800138000 --config /etc/ivr/ivr.toml --principal alice
    #[command(verbatim_doc_comment)]
    Erase {
        /// The caller's number, exactly as stored.
        #[arg(long)]
        caller: String,
        #[command(flatten)]
        target: Target,
    },
}

/// `ivr recording …`
#[derive(Debug, clap::Subcommand)]
pub enum RecordingCommand {
    /// Write a call's recording as a plain WAV file, decrypted with the configured keys.
    ///
    /// Needs a principal with role admin or supervisor in the [api] tokens. Audited.
    ///
    /// Examples:
    ///   ivr recording export 3f2a9c@10.0.0.5 -o call.wav --config /etc/ivr/ivr.toml --principal alice
    #[command(verbatim_doc_comment)]
    Export {
        /// The call id.
        call_id: String,
        /// The WAV file to write.
        #[arg(long, short)]
        output: PathBuf,
        /// Why (a ticket or request number), recorded in the audit log.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        target: Target,
    },
}

/// Where the data is and who acts.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The engine's configuration (TOML): data folder, store, [api] tokens, [privacy] keys.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Data folder (overrides the configuration's server.data).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The call store: a SQLite file or a postgres:// URL (default: DATA/ivr.db).
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Who runs the command (a principal of the [api] tokens); recorded in the audit log.
    #[arg(long)]
    principal: String,
}

/// What a command works on, resolved from the flags and the configuration file.
struct Resolved {
    data: PathBuf,
    store: String,
    api: Option<crate::api::ApiConfig>,
    privacy: PrivacyConfig,
}

impl Target {
    /// Reads the configuration without the engine's start-up checks (trunks, token variables):
    /// only the data folder, store, tokens and keys matter here.
    fn resolve(&self) -> Result<Resolved, String> {
        let (data, store, api, privacy) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let config: Config = toml::from_str(&text)
                    .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
                let base = path.parent().unwrap_or(Path::new("."));
                let data = base.join(&config.server.data);
                let store = config.store.url.as_ref().map(|u| {
                    if u.contains("://") {
                        u.clone()
                    } else {
                        base.join(u).display().to_string()
                    }
                });
                (Some(data), store, config.api, config.privacy)
            }
            None => (None, None, None, PrivacyConfig::default()),
        };
        let data =
            self.data.clone().or(data).ok_or(
                "give --config FILE (the engine's configuration) or --data DIR".to_string(),
            )?;
        let store = self
            .store
            .clone()
            .or(store)
            .unwrap_or_else(|| data.join("ivr.db").display().to_string());
        Ok(Resolved {
            data,
            store,
            api,
            privacy,
        })
    }
}

/// Runs `ivr privacy …`.
pub fn privacy(command: PrivacyCommand) -> ExitCode {
    match command {
        PrivacyCommand::Export {
            caller,
            output,
            target,
        } => run(|| export(&caller, output.as_deref(), &target)),
        PrivacyCommand::Erase { caller, target } => run(|| erase(&caller, &target)),
    }
}

/// Runs `ivr recording …`.
pub fn recording(command: RecordingCommand) -> ExitCode {
    match command {
        RecordingCommand::Export {
            call_id,
            output,
            reason,
            target,
        } => run(|| export_recording(&call_id, &output, reason, &target)),
    }
}

fn run(f: impl FnOnce() -> Result<(), String>) -> ExitCode {
    match f() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

async fn open_store(location: &str) -> Result<crate::store::Store, String> {
    if !location.contains("://") && !Path::new(location).is_file() {
        return Err(format!(
            "{location} does not exist: give the engine's store (DATA/ivr.db or --store URL)"
        ));
    }
    crate::store::Store::open(location)
        .await
        .map_err(|e| e.to_string())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// [`rights::authorise`]; a refusal of a principal is recorded in the audit log
/// (`details.refused`), as the API records its refusals.
fn authorise(
    r: &Resolved,
    target: &Target,
    allowed: &[Role],
    (what, action, audit_target): (&'static str, &str, &str),
) -> Result<Role, String> {
    match rights::authorise(r.api.as_ref(), &target.principal, allowed, what) {
        Ok(role) => Ok(role),
        Err(e @ RightsError::NotAuthorised { found, .. }) => {
            let role = found.map_or("none", Role::as_str);
            let recorded = rights::record(
                &r.data,
                &target.principal,
                role,
                action,
                audit_target,
                json!({"refused": true}),
            );
            match recorded {
                Ok(_) => Err(e.to_string()),
                Err(a) => Err(format!("{e}; and the refusal could not be audited: {a}")),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

fn export(caller: &str, output: Option<&Path>, target: &Target) -> Result<(), String> {
    let r = target.resolve()?;
    let audit_target = format!("caller:{}", crate::events::mask_number(caller));
    let role = authorise(
        &r,
        target,
        &[Role::Admin, Role::Supervisor],
        ("export a caller's data", "privacy.export", &audit_target),
    )?;
    let doc = runtime()?.block_on(async {
        let store = open_store(&r.store).await?;
        let doc = rights::export_caller(&store, &r.data, caller)
            .await
            .map_err(err);
        store.close().await;
        doc
    })?;
    let calls = doc["calls"].as_array().map_or(0, Vec::len);
    let text = serde_json::to_string_pretty(&doc).map_err(err)?;
    // Recorded before the data leaves the engine.
    rights::record(
        &r.data,
        &target.principal,
        role.as_str(),
        "privacy.export",
        &audit_target,
        json!({"calls": calls, "callbacks": doc["callbacks"].as_array().map_or(0, Vec::len)}),
    )
    .map_err(err)?;
    match output {
        Some(path) => {
            rights::write_private_file(path, format!("{text}\n").as_bytes()).map_err(err)?
        }
        None => println!("{text}"),
    }
    eprintln!("exported {calls} call(s)");
    Ok(())
}

fn erase(caller: &str, target: &Target) -> Result<(), String> {
    let r = target.resolve()?;
    let audit_target = format!("caller:{}", crate::events::mask_number(caller));
    let role = authorise(
        &r,
        target,
        &[Role::Admin],
        ("erase a caller's data", "privacy.erase", &audit_target),
    )?;
    let report = runtime()?.block_on(async {
        let store = open_store(&r.store).await?;
        let report = rights::erase_caller(&store, &r.data, caller)
            .await
            .map_err(err);
        store.close().await;
        report
    })?;
    let c = report.counts;
    let details = json!({
        "calls": c.calls,
        "turns": c.turns,
        "events": c.events,
        "callbacks": c.callbacks,
        "other_rows": c.other_rows,
        "files": report.files_deleted.len(),
        "event_log_lines": report.event_log_lines,
    });
    rights::record(
        &r.data,
        &target.principal,
        role.as_str(),
        "privacy.erase",
        &report.token,
        details.clone(),
    )
    .map_err(err)?;
    println!("{}", json!({"token": report.token, "erased": details}));
    Ok(())
}

fn export_recording(
    call_id: &str,
    output: &Path,
    reason: Option<String>,
    target: &Target,
) -> Result<(), String> {
    let r = target.resolve()?;
    let role = authorise(
        &r,
        target,
        &[Role::Admin, Role::Supervisor],
        ("export a recording", "recording.export", call_id),
    )?;
    let keyring = super::recording::load_keyring(&r.privacy).map_err(err)?;
    let (source, wav) = rights::read_call_recording(&r.data, call_id, keyring.as_ref())
        .map_err(|e: RightsError| e.to_string())?;
    let bytes = wav.len();
    // Recorded before the recording leaves the engine's folder.
    rights::record(
        &r.data,
        &target.principal,
        role.as_str(),
        "recording.export",
        call_id,
        json!({
            "file": source.strip_prefix(&r.data).unwrap_or(&source).display().to_string(),
            "bytes": bytes,
            "reason": reason,
        }),
    )
    .map_err(err)?;
    rights::write_private_file(output, &wav).map_err(err)?;
    eprintln!("{}: {bytes} bytes", output.display());
    Ok(())
}
