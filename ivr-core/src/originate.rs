//! `ivr originate`: places one outbound call through a running engine (its gRPC
//! `AdminService.Originate`) and prints the call's progress.

use std::process::ExitCode;
use std::time::Duration;

use ivr_proto::v1::admin_service_client::AdminServiceClient;
use ivr_proto::v1::originate_progress::Progress;
use ivr_proto::v1::OriginateRequest;

/// `ivr originate` arguments.
#[derive(Debug, clap::Args)]
pub struct OriginateArgs {
    /// The number to call (E.164, for example +14155550100).
    #[arg(long)]
    pub to: String,
    /// The dial plan the callee hears, by name.
    #[arg(long)]
    pub plan: String,
    /// The trunk to call through (with a `[trunks.outbound]` section).
    #[arg(long)]
    pub trunk: String,
    /// The calling number to present; the trunk's `caller_id` by default.
    #[arg(long, default_value = "")]
    pub from: String,
    /// A dial-plan variable, `name=value` (repeatable): available as `vars.name`.
    #[arg(long = "var")]
    pub vars: Vec<String>,
    /// Give up when not answered within this time.
    #[arg(long, default_value = "30s", value_parser = crate::config::parse_duration)]
    pub timeout: Duration,
    /// The engine's gRPC API.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub grpc: String,
    /// An admin bearer token (from the engine's `[api] tokens`).
    #[arg(long)]
    pub token: String,
}

/// Runs `ivr originate`: exit 0 when the call was answered, 1 when it failed, 2 on a usage or
/// connection problem.
pub fn run(args: OriginateArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ivr originate: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(originate(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("ivr originate: {e}");
            ExitCode::from(2)
        }
    }
}

async fn originate(args: OriginateArgs) -> Result<bool, String> {
    let mut variables = std::collections::HashMap::new();
    for v in &args.vars {
        let (k, val) = v
            .split_once('=')
            .ok_or_else(|| format!("--var `{v}`: write name=value"))?;
        variables.insert(k.trim().to_string(), val.to_string());
    }
    let mut admin = AdminServiceClient::connect(args.grpc.clone())
        .await
        .map_err(|e| format!("cannot reach the engine's API at {}: {e}", args.grpc))?;
    let mut req = tonic::Request::new(OriginateRequest {
        trunk: args.trunk,
        destination: args.to,
        caller_id: args.from,
        dial_plan: args.plan,
        variables,
        timeout_ms: u64::try_from(args.timeout.as_millis()).unwrap_or(u64::MAX),
        actor: String::new(),
    });
    let token = format!("Bearer {}", args.token)
        .parse()
        .map_err(|_| "the token has characters a header cannot carry".to_string())?;
    req.metadata_mut().insert("authorization", token);
    let mut stream = admin
        .originate(req)
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    while let Some(msg) = stream
        .message()
        .await
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))?
    {
        match msg.progress {
            Some(Progress::Created(_)) => println!("created {}", msg.call_id),
            Some(Progress::Ringing(_)) => println!("ringing"),
            Some(Progress::Answered(_)) => {
                println!("answered: the dial plan runs");
                return Ok(true);
            }
            Some(Progress::Failed(f)) => {
                match f.sip_status {
                    0 => println!("failed: {}", f.reason),
                    code => println!("failed: {} ({code})", f.reason),
                }
                return Ok(false);
            }
            None => {}
        }
    }
    println!("failed: the engine ended the progress stream");
    Ok(false)
}
