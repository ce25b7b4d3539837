//! A minimal agent desktop for the engine's gRPC API (`ivr.v1.AgentService`).
//!
//! It logs an agent in with their phone's SIP address, opens the event stream, becomes
//! available, prints each offer's screen pop and accepts it (the engine then rings the phone and
//! bridges the caller), and when the call ends records the wrap-up with a disposition. After
//! `--calls` calls it logs out.
//!
//! ```text
//! agent-client --grpc http://127.0.0.1:50051 --token $AGENT_TOKEN \
//!     --agent ann --contact sip:ann@10.0.0.15:5060 --queue support --calls 1
//! ```

use std::process::ExitCode;

use clap::Parser;
use ivr_proto::v1::agent_event::Event;
use ivr_proto::v1::agent_service_client::AgentServiceClient;
use ivr_proto::v1::{
    AcceptRequest, AgentState, CompleteWrapUpRequest, EventsRequest, LoginRequest, LogoutRequest,
    SetStateRequest, Skill,
};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::Request;

#[derive(Parser)]
#[command(
    version,
    about = "A minimal agent desktop: log in, take calls, wrap them up"
)]
struct Args {
    /// The engine's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    grpc: String,
    /// The agent's bearer token (from the engine's `[api] tokens`).
    #[arg(long)]
    token: String,
    /// The agent's id.
    #[arg(long)]
    agent: String,
    /// The agent's phone (SIP URI).
    #[arg(long)]
    contact: String,
    /// Queues to serve.
    #[arg(long = "queue", required = true)]
    queues: Vec<String>,
    /// Skills as `name=level`.
    #[arg(long = "skill")]
    skills: Vec<String>,
    /// The disposition recorded at wrap-up.
    #[arg(long, default_value = "resolved")]
    disposition: String,
    /// Calls to take before logging out (0: until interrupted).
    #[arg(long, default_value_t = 0)]
    calls: u32,
}

fn authed<T>(msg: T, token: &MetadataValue<tonic::metadata::Ascii>) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("authorization", token.clone());
    r
}

fn skill(text: &str) -> Result<Skill, String> {
    let (name, level) = text
        .split_once('=')
        .ok_or_else(|| format!("skill `{text}`: write name=level, for example spanish=7"))?;
    let level = level
        .parse()
        .map_err(|_| format!("skill `{text}`: the level must be a number from 1 to 10"))?;
    Ok(Skill {
        name: name.to_string(),
        level,
    })
}

async fn run(args: Args) -> Result<(), String> {
    let token: MetadataValue<_> = format!("Bearer {}", args.token)
        .parse()
        .map_err(|_| "the token has characters a header cannot carry".to_string())?;
    let skills = args
        .skills
        .iter()
        .map(|s| skill(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut desk: AgentServiceClient<Channel> = AgentServiceClient::connect(args.grpc.clone())
        .await
        .map_err(|e| format!("cannot reach {}: {e}", args.grpc))?;
    let agent = args.agent.clone();
    let status = |e: tonic::Status| format!("{:?}: {}", e.code(), e.message());

    desk.login(authed(
        LoginRequest {
            agent_id: agent.clone(),
            sip_contact: args.contact.clone(),
            skills,
            queues: args.queues.clone(),
            display_name: String::new(),
        },
        &token,
    ))
    .await
    .map_err(status)?;
    println!("logged in as {agent} with {}", args.contact);
    let mut events = desk
        .events(authed(
            EventsRequest {
                agent_id: agent.clone(),
            },
            &token,
        ))
        .await
        .map_err(status)?
        .into_inner();
    desk.set_state(authed(
        SetStateRequest {
            agent_id: agent.clone(),
            state: AgentState::Available as i32,
            reason: String::new(),
        },
        &token,
    ))
    .await
    .map_err(status)?;
    println!("available");

    let mut handled = 0;
    while let Some(msg) = events.message().await.map_err(status)? {
        match msg.event {
            Some(Event::Offer(offer)) => {
                println!(
                    "offer {} from {} via {} ({} waited {} s)",
                    offer.offer_id,
                    offer.caller_number,
                    offer.dial_plan,
                    offer.queue,
                    offer.waited_ms / 1000
                );
                println!("  path: {}", offer.node_path.join(" > "));
                for i in &offer.intents {
                    println!("  intent: {} ({:.2})", i.name, i.score);
                }
                for s in &offer.slots {
                    println!("  slot: {} = {}", s.name, s.value);
                }
                for t in &offer.transcript {
                    let who = if t.who == ivr_proto::v1::Speaker::Caller as i32 {
                        "caller"
                    } else {
                        "ivr"
                    };
                    println!("  {who}: {}", t.text);
                }
                let accepted = desk
                    .accept(authed(
                        AcceptRequest {
                            agent_id: agent.clone(),
                            offer_id: offer.offer_id.clone(),
                        },
                        &token,
                    ))
                    .await;
                match accepted {
                    Ok(r) => println!("accepted {}", r.into_inner().call_id),
                    Err(e) => println!("offer {} is gone: {}", offer.offer_id, e.message()),
                }
            }
            Some(Event::Connected(c)) => println!("connected {}", c.call_id),
            Some(Event::Ended(e)) => {
                println!(
                    "ended {} by {} ({}), talked {} s",
                    e.call_id,
                    e.hangup_side,
                    e.hangup_cause,
                    e.talk_ms / 1000
                );
                if e.hangup_cause == "agent_unreachable" {
                    continue;
                }
                let after = desk
                    .complete_wrap_up(authed(
                        CompleteWrapUpRequest {
                            agent_id: agent.clone(),
                            call_id: e.call_id.clone(),
                            disposition: args.disposition.clone(),
                            notes: String::new(),
                        },
                        &token,
                    ))
                    .await
                    .map_err(status)?;
                let state = AgentState::try_from(after.into_inner().state)
                    .map_or("unknown", |s| s.as_str_name());
                println!("wrapped up {} as {} ({state})", e.call_id, args.disposition);
                handled += 1;
                if args.calls > 0 && handled >= args.calls {
                    break;
                }
            }
            Some(Event::StateChanged(s)) if s.state == AgentState::Paused as i32 => {
                println!("paused: {}", s.reason);
            }
            _ => {}
        }
    }
    desk.logout(authed(LogoutRequest { agent_id: agent }, &token))
        .await
        .map_err(status)?;
    println!("logged out after {handled} call(s)");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent-client: {e}");
            ExitCode::FAILURE
        }
    }
}
