//! The call center: the task that drives the ACD router ([`crate::acd`]) with real calls,
//! agents and clocks.
//!
//! ```text
//!  call task ──enqueue / ended──▶ ┌──────────────┐ ──Offer (screen pop)──▶ agent's Events stream
//!  AgentService ──login/accept──▶ │ center task  │ ──DialAgent / DropAgent──▶ SIP task ──INVITE──▶ agent phone
//!  SIP task ──leg ringing/answered▶│  (owns Acd)  │ ──AgentConnected / Hold / Announce──▶ call task
//!                                 └──────────────┘ ──snapshot──▶ wallboard watch channel
//! ```
//!
//! One task owns the router; everything reaches it through one channel, so the router needs
//! no lock and every decision is taken in order. The caller's call task owns all the media:
//! when the agent's phone answers, the SIP task hands the agent leg's RTP sockets to the
//! center, which gives them to the caller's task; that task then relays audio between the
//! two legs itself (decoding and encoding each 20 ms frame, so PCMU and PCMA legs meet), and
//! records caller and agent on the two channels of the recording.

mod callbacks;
pub mod config;
mod desk;
mod driver;
mod pop;

use std::sync::Arc;

use ivr_dialplans::interpreter::Handoff;
use ivr_media::sdp::Negotiated;
use tokio::sync::{mpsc, watch};

use crate::acd::{AgentId, ConfigErrors};
use crate::api::WallboardSnapshot;
use crate::call::CallEvent;
use crate::control::LiveCalls;
use crate::events::EventLog;
use crate::ports::RtpPorts;
use crate::signalling::Control;
use crate::store::HangupSide;

pub use config::{AcdSection, QueueFallback};

/// A caller the dial plan hands to a queue.
#[derive(Debug)]
pub struct QueuedCall {
    /// The engine's call id.
    pub call_id: String,
    /// Calling number.
    pub caller: String,
    /// Called number.
    pub called: String,
    /// The dial plan the caller went through.
    pub plan: String,
    /// The queue.
    pub queue: String,
    /// Higher is served first.
    pub priority: i32,
    /// Skills an agent needs.
    pub skills: Vec<String>,
    /// Everything said and done so far (sensitive values masked by the plan).
    pub handoff: Handoff,
    /// Slots the plan marks sensitive (their values in `handoff` are masked).
    pub sensitive: Vec<String>,
    /// The call task's commands.
    pub tx: mpsc::UnboundedSender<CallEvent>,
    /// For the engine's call back: the request it serves (the caller rejoins their place and
    /// the agent reserved for them is rung).
    pub callback: Option<String>,
}

/// The agent leg's media, handed from the SIP task to the caller's call task.
#[derive(Debug)]
pub struct AgentMedia {
    /// The agent.
    pub agent: AgentId,
    /// The leg's RTP and RTCP sockets.
    pub ports: RtpPorts,
    /// What the agent's phone answered.
    pub media: Negotiated,
}

/// What happened to the INVITE sent to an agent's phone.
#[derive(Debug)]
pub enum LegStatus {
    /// The phone rings (180/183).
    Ringing,
    /// The phone answered.
    Answered(Box<AgentMedia>),
    /// The phone refused or could not be reached (the final status, if any).
    Failed(Option<u16>),
}

type Job = Box<dyn FnOnce(&mut driver::Driver, std::time::Instant) + Send>;

/// Inputs of the center task.
pub(crate) enum Input {
    /// A caller joins a queue.
    Enqueue(Box<QueuedCall>),
    /// A caller's call ended (whatever its state).
    CallEnded {
        call_id: String,
        side: Option<HangupSide>,
        cause: String,
    },
    /// News of an agent leg.
    Leg {
        call_id: String,
        agent: AgentId,
        status: LegStatus,
    },
    /// Work from the API (runs on the task, answers by its own channel).
    Job(Job),
    /// A waiting caller asks to be called back.
    Callback { call_id: String, number: String },
    /// A call back could not be placed (busy, no answer, trunk down).
    CallbackFailed { key: String, reason: String },
}

/// A handle on the center task; cheap to clone.
#[derive(Clone)]
pub struct Center {
    tx: mpsc::UnboundedSender<Input>,
}

impl std::fmt::Debug for Center {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Center")
    }
}

/// Why the center could not start.
#[derive(Debug, thiserror::Error)]
pub enum CenterError {
    /// The `[acd]` section is inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
}

impl Center {
    /// Starts the center task. `control` reaches the SIP task (to ring agents' phones);
    /// `live` is read for the wallboard's call list; `callbacks` are the call-back requests
    /// saved before a restart.
    pub fn start(
        section: AcdSection,
        control: mpsc::UnboundedSender<Control>,
        events: EventLog,
        live: Arc<LiveCalls>,
        callbacks: Vec<crate::store::Callback>,
    ) -> Result<(Center, watch::Receiver<WallboardSnapshot>), CenterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (mut driver, board) =
            driver::Driver::new(section, control, events, live, tx.downgrade())?;
        driver.reload(callbacks, std::time::Instant::now());
        tokio::spawn(driver.run(rx));
        Ok((Center { tx }, board))
    }

    /// Puts a caller in a queue. When the center is gone the caller is told to fall back.
    pub fn enqueue(&self, call: QueuedCall) {
        if let Err(mpsc::error::SendError(Input::Enqueue(call))) =
            self.tx.send(Input::Enqueue(Box::new(call)))
        {
            let _ = call.tx.send(CallEvent::QueueFallback { voicemail: None });
        }
    }

    /// A caller's call ended.
    pub fn call_ended(&self, call_id: &str, side: Option<HangupSide>, cause: &str) {
        let _ = self.tx.send(Input::CallEnded {
            call_id: call_id.to_string(),
            side,
            cause: cause.to_string(),
        });
    }

    /// A waiting caller asks to be called back on `number`; the answer comes as
    /// [`CallEvent::CallbackBooked`].
    pub fn request_callback(&self, call_id: &str, number: String) {
        let _ = self.tx.send(Input::Callback {
            call_id: call_id.to_string(),
            number,
        });
    }

    /// News of the INVITE to an agent's phone.
    pub fn leg(&self, call_id: &str, agent: AgentId, status: LegStatus) {
        let _ = self.tx.send(Input::Leg {
            call_id: call_id.to_string(),
            agent,
            status,
        });
    }

    /// Runs `job` on the center task and returns its answer.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut driver::Driver, std::time::Instant) -> Result<T, crate::api::EngineError>
            + Send
            + 'static,
    ) -> Result<T, crate::api::EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |d, now| {
            let _ = tx.send(job(d, now));
        });
        self.tx
            .send(Input::Job(job))
            .map_err(|_| crate::api::EngineError::ShuttingDown)?;
        rx.await
            .map_err(|_| crate::api::EngineError::ShuttingDown)?
    }
}
