//! Load tool for the call center of a running engine (its gRPC API); `bench/center.sh` runs it.
//!
//! * `wallboard`: opens `--streams` supervisor Wallboard streams (each on its own connection),
//!   logs `--agents` agents in, then toggles one agent between Available and Paused
//!   `--toggles` times, one toggle every `--interval-ms`, and measures for every toggle how long
//!   each stream took to show it (from just before the SetState request). Prints one JSON line:
//!   percentiles over every (toggle, stream) pair, and over every toggle's slowest stream.
//! * `agents`: logs one agent in per `--contacts` entry (a SIP URI: the agent's phone), makes
//!   them available, accepts every offer and completes every wrap-up at once, until
//!   `--duration-s` passes or Ctrl-C; prints one JSON line with the counts.
//!
//! The token must have role supervisor or admin (it acts for every agent).
//!
//! ```text
//! center-bench wallboard --grpc http://127.0.0.1:50051 --token $SUPERVISOR_TOKEN \
//!     --streams 100 --agents 50 --toggles 200 --interval-ms 200
//! center-bench agents --grpc http://127.0.0.1:50051 --token $SUPERVISOR_TOKEN \
//!     --contacts sip:p0@127.0.0.1:5070,sip:p1@127.0.0.1:5071 --duration-s 120
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use ivr_proto::v1::agent_event::Event;
use ivr_proto::v1::agent_service_client::AgentServiceClient;
use ivr_proto::v1::supervisor_service_client::SupervisorServiceClient;
use ivr_proto::v1::{
    AcceptRequest, AgentState, CompleteWrapUpRequest, EventsRequest, LoginRequest, SetStateRequest,
    WallboardRequest,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

#[derive(Parser)]
#[command(about = "Load tool for the engine's call center (gRPC)")]
struct Args {
    /// The engine's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// A bearer token with role supervisor or admin.
    #[arg(long)]
    token: String,
    /// The queue the agents serve.
    #[arg(long, default_value = "support")]
    queue: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Wallboard fan-out: how long a state change takes to reach every stream.
    Wallboard {
        /// Wallboard streams, each on its own connection.
        #[arg(long, default_value_t = 100)]
        streams: usize,
        /// Agents logged in (the first one is toggled).
        #[arg(long, default_value_t = 20)]
        agents: usize,
        /// State changes.
        #[arg(long, default_value_t = 100)]
        toggles: usize,
        /// Time between state changes.
        #[arg(long, default_value_t = 250)]
        interval_ms: u64,
    },
    /// Agents who take every call offered to them.
    Agents {
        /// The agents' phones, comma-separated SIP URIs (one agent each).
        #[arg(long, value_delimiter = ',', required = true)]
        contacts: Vec<String>,
        /// Agent ids are this prefix and a number.
        #[arg(long, default_value = "bench-agent-")]
        prefix: String,
        /// Stop after this many seconds (0: until Ctrl-C).
        #[arg(long, default_value_t = 0)]
        duration_s: u64,
    },
}

/// What went wrong, said once on stderr.
type Failure = String;

fn authed<T>(msg: T, token: &MetadataValue<Ascii>) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("authorization", token.clone());
    r
}

async fn connect(grpc: &str) -> Result<Channel, Failure> {
    Endpoint::from_shared(grpc.to_string())
        .map_err(|e| format!("--grpc {grpc} is not a URL: {e}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {grpc}: {e}"))
}

/// Logs `agent` in at `contact` (Paused, reason `login`).
async fn log_in(
    desk: &mut AgentServiceClient<Channel>,
    token: &MetadataValue<Ascii>,
    agent: &str,
    contact: &str,
    queue: &str,
) -> Result<(), Failure> {
    desk.login(authed(
        LoginRequest {
            agent_id: agent.into(),
            sip_contact: contact.into(),
            queues: vec![queue.into()],
            skills: vec![],
            display_name: agent.into(),
        },
        token,
    ))
    .await
    .map_err(|e| format!("log {agent} in: {}", e.message()))?;
    Ok(())
}

async fn set_state(
    desk: &mut AgentServiceClient<Channel>,
    token: &MetadataValue<Ascii>,
    agent: &str,
    state: AgentState,
    reason: &str,
) -> Result<(), Failure> {
    desk.set_state(authed(
        SetStateRequest {
            agent_id: agent.into(),
            state: state as i32,
            reason: reason.into(),
        },
        token,
    ))
    .await
    .map_err(|e| format!("set {agent} {state:?}: {}", e.message()))?;
    Ok(())
}

/// One sighting of the toggled agent on a stream.
#[derive(Clone)]
struct Seen {
    at: Instant,
    state: i32,
    reason: String,
}

/// The `q`-quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (q * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

fn summary(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{{\"n\": {}, \"p50_ms\": {:.1}, \"p95_ms\": {:.1}, \"p99_ms\": {:.1}, \"max_ms\": {:.1}}}",
        v.len(),
        quantile(v, 0.5),
        quantile(v, 0.95),
        quantile(v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

async fn wallboard(
    args: &Args,
    streams: usize,
    agents: usize,
    toggles: usize,
    interval: Duration,
) -> Result<(), Failure> {
    let token: MetadataValue<Ascii> = format!("Bearer {}", args.token)
        .parse()
        .map_err(|_| "--token holds characters a header cannot carry".to_string())?;
    let mut desk = AgentServiceClient::new(connect(&args.grpc).await?);
    let agents = agents.max(1);
    for i in 0..agents {
        let id = format!("wb-{i}");
        // Nobody calls in this mode; the contact is never rung.
        log_in(
            &mut desk,
            &token,
            &id,
            &format!("sip:{id}@127.0.0.1:9"),
            &args.queue,
        )
        .await?;
    }
    let target = "wb-0".to_string();

    // The streams: each records every sighting of the target agent.
    let logs: Vec<Arc<Mutex<Vec<Seen>>>> = (0..streams)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    let snapshots = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for log in &logs {
        let mut board = SupervisorServiceClient::new(connect(&args.grpc).await?);
        let mut stream = board
            .wallboard(authed(
                WallboardRequest {
                    queues: vec![],
                    include_calls: false,
                },
                &token,
            ))
            .await
            .map_err(|e| format!("open a wallboard: {}", e.message()))?
            .into_inner();
        let (log, target, snapshots) = (log.clone(), target.clone(), snapshots.clone());
        tasks.push(tokio::spawn(async move {
            while let Ok(Some(update)) = stream.message().await {
                let at = Instant::now();
                if update.snapshot {
                    snapshots.fetch_add(1, Ordering::Relaxed);
                }
                for a in update.agents.iter().filter(|a| a.agent_id == target) {
                    if let Ok(mut l) = log.lock() {
                        l.push(Seen {
                            at,
                            state: a.state,
                            reason: a.reason.clone(),
                        });
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (snapshots.load(Ordering::Relaxed) as usize) < streams {
        if Instant::now() >= deadline {
            return Err("not every wallboard stream sent its snapshot within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Toggle: even toggles make the agent Available, odd ones Paused with reason `t<N>`.
    let mut sent = Vec::with_capacity(toggles);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    for i in 0..toggles {
        tick.tick().await;
        let (state, reason) = if i % 2 == 0 {
            (AgentState::Available, String::new())
        } else {
            (AgentState::Paused, format!("t{i}"))
        };
        let at = Instant::now();
        set_state(&mut desk, &token, &target, state, &reason).await?;
        sent.push((at, state as i32, reason));
    }
    let toggling = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in &tasks {
        t.abort();
    }

    // A toggle shows on a stream at the stream's first sighting, after it was sent, of its state
    // (and, for Paused, its reason). A stream that skipped it (showing only a later toggle's
    // Available) counts the later sighting: the delay until the stream was right again.
    let mut each = Vec::new();
    let mut slowest = Vec::new();
    let mut missed = 0usize;
    let logs: Vec<Vec<Seen>> = logs
        .iter()
        .map(|l| l.lock().map(|l| l.clone()).unwrap_or_default())
        .collect();
    for (at, state, reason) in &sent {
        let mut worst: Option<f64> = None;
        let mut complete = true;
        for log in &logs {
            let hit = log.iter().find(|s| {
                s.at >= *at
                    && s.state == *state
                    && (*state != AgentState::Paused as i32 || s.reason == *reason)
            });
            match hit {
                Some(s) => {
                    let d = s.at.duration_since(*at).as_secs_f64() * 1000.0;
                    each.push(d);
                    worst = Some(worst.map_or(d, |w: f64| w.max(d)));
                }
                None => {
                    missed += 1;
                    complete = false;
                }
            }
        }
        if let (true, Some(w)) = (complete, worst) {
            slowest.push(w);
        }
    }
    let within = |v: &[f64], ms: f64| v.iter().filter(|d| **d <= ms).count();
    println!(
        "{{\"mode\": \"wallboard\", \"streams\": {streams}, \"agents\": {agents}, \"toggles\": {toggles}, \
         \"interval_ms\": {}, \"toggling_s\": {:.1}, \"missed\": {missed}, \
         \"each_within_250ms\": {}, \"all_streams_within_250ms\": {}, \
         \"each\": {}, \"slowest_stream\": {}}}",
        interval.as_millis(),
        toggling.as_secs_f64(),
        within(&each, 250.0),
        within(&slowest, 250.0),
        summary(&mut each),
        summary(&mut slowest)
    );
    Ok(())
}

#[derive(Default)]
struct Counts {
    offers: AtomicU64,
    accepted: AtomicU64,
    connected: AtomicU64,
    ended: AtomicU64,
    wrapped: AtomicU64,
    errors: AtomicU64,
}

async fn agent(
    grpc: String,
    token: MetadataValue<Ascii>,
    id: String,
    contact: String,
    queue: String,
    counts: Arc<Counts>,
) -> Result<(), Failure> {
    let mut desk = AgentServiceClient::new(connect(&grpc).await?);
    log_in(&mut desk, &token, &id, &contact, &queue).await?;
    let mut events = desk
        .events(authed(
            EventsRequest {
                agent_id: id.clone(),
            },
            &token,
        ))
        .await
        .map_err(|e| format!("open {id}'s events: {}", e.message()))?
        .into_inner();
    set_state(&mut desk, &token, &id, AgentState::Available, "").await?;
    while let Ok(Some(msg)) = events.message().await {
        match msg.event {
            Some(Event::Offer(o)) => {
                counts.offers.fetch_add(1, Ordering::Relaxed);
                let r = desk
                    .accept(authed(
                        AcceptRequest {
                            agent_id: id.clone(),
                            offer_id: o.offer_id,
                        },
                        &token,
                    ))
                    .await;
                let n = if r.is_ok() {
                    &counts.accepted
                } else {
                    &counts.errors
                };
                n.fetch_add(1, Ordering::Relaxed);
            }
            Some(Event::Connected(_)) => {
                counts.connected.fetch_add(1, Ordering::Relaxed);
            }
            Some(Event::Ended(_)) => {
                counts.ended.fetch_add(1, Ordering::Relaxed);
            }
            Some(Event::WrapUpStarted(w)) => {
                let r = desk
                    .complete_wrap_up(authed(
                        CompleteWrapUpRequest {
                            agent_id: id.clone(),
                            call_id: w.call_id,
                            disposition: "bench".into(),
                            notes: String::new(),
                        },
                        &token,
                    ))
                    .await;
                let n = if r.is_ok() {
                    &counts.wrapped
                } else {
                    &counts.errors
                };
                n.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
    Ok(())
}

async fn agents(
    args: &Args,
    contacts: &[String],
    prefix: &str,
    duration: Option<Duration>,
) -> Result<(), Failure> {
    let token: MetadataValue<Ascii> = format!("Bearer {}", args.token)
        .parse()
        .map_err(|_| "--token holds characters a header cannot carry".to_string())?;
    let counts = Arc::new(Counts::default());
    let mut tasks = tokio::task::JoinSet::new();
    for (i, contact) in contacts.iter().enumerate() {
        tasks.spawn(agent(
            args.grpc.clone(),
            token.clone(),
            format!("{prefix}{i}"),
            contact.clone(),
            args.queue.clone(),
            counts.clone(),
        ));
    }
    eprintln!("{} agents logging in", contacts.len());
    let stop = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut failure = None;
    tokio::select! {
        _ = stop => {}
        _ = tokio::signal::ctrl_c() => {}
        Some(Ok(Err(e))) = tasks.join_next() => failure = Some(e),
    }
    tasks.abort_all();
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "{{\"mode\": \"agents\", \"agents\": {}, \"offers\": {}, \"accepted\": {}, \"connected\": {}, \
         \"ended\": {}, \"wrapped_up\": {}, \"errors\": {}}}",
        contacts.len(),
        n(&counts.offers),
        n(&counts.accepted),
        n(&counts.connected),
        n(&counts.ended),
        n(&counts.wrapped),
        n(&counts.errors)
    );
    failure.map_or(Ok(()), Err)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.mode {
        Mode::Wallboard {
            streams,
            agents,
            toggles,
            interval_ms,
        } => {
            wallboard(
                &args,
                *streams,
                *agents,
                *toggles,
                Duration::from_millis(*interval_ms),
            )
            .await
        }
        Mode::Agents {
            contacts,
            prefix,
            duration_s,
        } => {
            let duration = (*duration_s > 0).then(|| Duration::from_secs(*duration_s));
            agents(&args, contacts, prefix, duration).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("center-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
