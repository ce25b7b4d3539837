//! The `ivr` command.
//!
//! Exit codes: 0 success, 1 a clean "no" (problems found), 2 an error (bad config, cannot bind).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ivr_core::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "ivr",
    version,
    about = "A voice IVR and call-center engine",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer calls from SIP trunks.
    ///
    /// Without --config the engine runs on its embedded defaults: SIP on 127.0.0.1:5060 (UDP and
    /// TCP), calls accepted from loopback only, the bundled demo prompt.
    ///
    /// Examples:
    ///   ivr serve
    ///   ivr serve --config examples/ivr.toml
    ///   ivr serve --config /etc/ivr/ivr.toml --sip 0.0.0.0:5060 --data /var/lib/ivr
    ///
    /// SIGTERM stops new calls (503) and lets active calls finish up to server.drain_timeout; a
    /// second SIGTERM ends them at once.
    #[command(verbatim_doc_comment)]
    Serve {
        /// Configuration file (TOML). See docs/configuration.md.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// SIP listen address for UDP and TCP (port 0 picks a free port).
        #[arg(long, value_name = "ADDR:PORT")]
        sip: Option<std::net::SocketAddr>,
        /// gRPC listen address.
        #[arg(long, value_name = "ADDR:PORT")]
        grpc: Option<std::net::SocketAddr>,
        /// Data folder (event log, recordings).
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Dial-plan folder.
        #[arg(long, value_name = "DIR")]
        plans: Option<PathBuf>,
        /// Log format on stderr.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            sip,
            grpc,
            data,
            plans,
            log_format,
        } => {
            init_logging(log_format);
            let overrides = Overrides {
                sip,
                grpc,
                data,
                plans,
            };
            let loaded = match &config {
                Some(path) => Config::load(path, &overrides),
                None => Config::embedded(&overrides),
            };
            let config = match loaded {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            match runtime.block_on(ivr_core::serve::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
