//! The dialer: `ivr serve` runs the store's campaigns.
//!
//! A supervising task looks at the store every second and starts a task for each campaign that
//! is `created` or `running` (so `ivr campaign create` and `ivr campaign resume`, run against
//! the same store, take effect while the engine runs). Each campaign task owns a [`Runner`]:
//! it takes the dials it is given, places each through the SIP task (`Originate`) and reports
//! how it ended — busy, no answer, refused with its code, unreachable, or answered, with the
//! slots the callee filled in (what they chose) and whether a machine answered. Pause, resume and
//! stop are read from the store too.
//!
//! When the engine drains (SIGTERM), calls stop being placed: an attempt the SIP task refused
//! for that reason is taken back (the contact is due again with the same attempt number). An
//! attempt cut off while ringing ends `unknown`, and one the engine died during stays
//! `dialing` until the next start settles it as `unknown`; either way a retry is a new attempt,
//! so nobody is called twice for the same attempt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use super::campaign::{Answered, Dial, Outcome, OutcomeKind, RunState};
use super::runner::{Runner, RunnerError};
use crate::api::{ApiCallEvent, OriginateOrder, WallboardSnapshot};
use crate::control::LiveCalls;
use crate::events::mask_number;
use crate::signalling::Control;
use crate::store::{CampaignState, Store};

/// How often the store is read for new campaigns and operators' changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What the dialer needs from the engine.
#[derive(Clone)]
pub struct Dialer {
    /// The store the campaigns are in.
    pub store: Store,
    /// The SIP task.
    pub control: mpsc::UnboundedSender<Control>,
    /// Call events (to follow answered calls to their end).
    pub live: Arc<LiveCalls>,
    /// The trunk calls go out through.
    pub trunk: String,
    /// How long a call may ring.
    pub ring_timeout: Duration,
    /// The engine is draining: no campaign starts or dials any more.
    pub draining: Arc<AtomicBool>,
    /// The call center's figures (for agent-assisted campaigns), when queues are configured.
    pub board: Option<watch::Receiver<WallboardSnapshot>>,
    /// The loaded dial plans: a campaign whose plan is not among them waits (its contacts keep
    /// their attempts) until a reload brings it.
    pub plans: Option<Arc<crate::plans::PlanRegistry>>,
}

/// How many calls of an agent-assisted campaign may be on their way to an agent (ringing, in
/// the plan, waiting in the queue): one per free agent of its queue, never more than `max`.
/// `None` when the queue does not exist: nothing is dialled.
pub fn progressive_limit(board: &WallboardSnapshot, queue: &str, max: usize) -> Option<usize> {
    let q = board.acd.queues.iter().find(|q| q.name.as_str() == queue)?;
    Some(q.available_agents.min(max))
}

/// One call not yet connected to an agent; counted in its campaign's gauge until it is, or
/// ends.
struct Unconnected(Option<Arc<AtomicUsize>>);

impl Unconnected {
    fn new(gauge: &Arc<AtomicUsize>) -> Unconnected {
        gauge.fetch_add(1, Ordering::Relaxed);
        Unconnected(Some(gauge.clone()))
    }

    fn connected(&mut self) {
        if let Some(g) = self.0.take() {
            g.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Unconnected {
    fn drop(&mut self) {
        self.connected();
    }
}

/// How one placed call ended, as the campaign task hears it.
enum Ended {
    /// It ended this way.
    Outcome {
        dial: Dial,
        outcome: Outcome,
        call_id: Option<String>,
    },
    /// The engine is draining: the call was not placed (the attempt is taken back).
    Draining(Dial),
}

impl Dialer {
    /// Runs the store's campaigns until [`Dialer::draining`] is set; the task ends once every
    /// call placed has been recorded.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.supervise())
    }

    async fn supervise(self) {
        let mut running: HashMap<i64, tokio::task::JoinHandle<bool>> = HashMap::new();
        // Campaigns whose task failed, and when to try them again.
        let mut broken: HashMap<i64, Instant> = HashMap::new();
        loop {
            let now = Instant::now();
            let finished: Vec<i64> = running
                .iter()
                .filter(|(_, task)| task.is_finished())
                .map(|(id, _)| *id)
                .collect();
            for id in finished {
                if let Some(task) = running.remove(&id) {
                    if !task.await.unwrap_or(false) {
                        broken.insert(id, now + Duration::from_secs(60));
                    }
                }
            }
            broken.retain(|_, until| *until > now);
            if self.draining.load(Ordering::Relaxed) || self.control.is_closed() {
                // Every campaign task records its calls' ends before it stops.
                for (_, task) in running {
                    let _ = task.await;
                }
                return;
            }
            match self.store.active_campaigns().await {
                Ok(ids) => {
                    for id in ids {
                        if running.contains_key(&id) || broken.contains_key(&id) {
                            continue;
                        }
                        let me = self.clone();
                        running.insert(
                            id,
                            tokio::spawn(async move {
                                match me.run(id).await {
                                    Ok(()) => true,
                                    Err(e) => {
                                        warn!(campaign = id, error = %e, "campaign stopped by an error; retried in a minute");
                                        false
                                    }
                                }
                            }),
                        );
                    }
                }
                Err(e) => warn!(error = %e, "cannot read the campaigns"),
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    }

    async fn run(&self, id: i64) -> Result<(), RunnerError> {
        let mut runner = Runner::start(self.store.clone(), id, Instant::now(), Utc::now()).await?;
        let config = runner.campaign().config().clone();
        info!(campaign = id, plan = %config.plan, queue = ?config.queue, "campaign running");
        if let (Some(queue), None) = (&config.queue, &self.board) {
            warn!(campaign = id, queue = %queue, "the campaign hands callees to a queue but no [acd] queues are configured: nothing is dialled");
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Ended>();
        let mut in_flight = 0usize;
        let unconnected = Arc::new(AtomicUsize::new(0));
        let mut plan_missing = false;
        let mut draining = false;
        let mut check = Instant::now();
        loop {
            let now = Instant::now();
            if now >= check {
                check = now + CHECK_EVERY;
                self.follow_operator(&mut runner, id).await?;
            }
            draining |= self.draining.load(Ordering::Relaxed);
            let plan_loaded = self.plan_loaded(&config.plan);
            if plan_loaded == plan_missing {
                plan_missing = !plan_loaded;
                if plan_missing {
                    warn!(campaign = id, plan = %config.plan, "the campaign's dial plan is not loaded: nobody is called until it is (add it to the plans folder and reload)");
                } else {
                    info!(campaign = id, plan = %config.plan, "the campaign's dial plan is loaded: dialling");
                }
            }
            if !draining && !plan_missing && runner.campaign().state() == RunState::Running {
                let cap = match (&config.queue, &self.board) {
                    (None, _) => usize::MAX,
                    (Some(queue), Some(board)) => {
                        progressive_limit(&board.borrow(), queue, config.max_concurrent)
                            .unwrap_or(0)
                    }
                    (Some(_), None) => 0,
                };
                while unconnected.load(Ordering::Relaxed) < cap {
                    let Some(dial) = runner.next_dial(Instant::now(), Utc::now()).await? else {
                        break;
                    };
                    in_flight += 1;
                    let pending = Unconnected::new(&unconnected);
                    self.place(id, &config, dial, pending, tx.clone());
                }
            }
            let idle = draining || runner.campaign().state() != RunState::Running;
            if in_flight == 0 && (runner.is_finished() || idle) {
                info!(campaign = id, state = ?runner.campaign().state(), "campaign task done");
                return Ok(());
            }
            let wake = runner
                .poll_timeout()
                .map_or(check, |t| t.min(check))
                .max(Instant::now() + Duration::from_millis(1));
            tokio::select! {
                ended = rx.recv() => {
                    let Some(ended) = ended else { return Ok(()) };
                    in_flight = in_flight.saturating_sub(1);
                    match ended {
                        Ended::Outcome { dial, outcome, call_id } => {
                            let decision = runner
                                .finish(dial.contact_id, dial.attempt, &outcome, call_id.as_deref(), Instant::now(), Utc::now())
                                .await?;
                            debug!(campaign = id, contact = dial.contact_id.0, ?decision, "attempt settled");
                        }
                        Ended::Draining(dial) => {
                            draining = true;
                            self.draining.store(true, Ordering::Relaxed);
                            runner.unplaced(&dial, Instant::now(), Utc::now()).await?;
                        }
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// Whether the dial plan named `plan` is loaded (always, without a plan registry).
    fn plan_loaded(&self, plan: &str) -> bool {
        self.plans
            .as_ref()
            .is_none_or(|r| r.current().plans().any(|p| p.name() == plan))
    }

    /// Applies a pause, resume or stop written to the store (`ivr campaign pause|resume|stop`).
    async fn follow_operator(&self, runner: &mut Runner, id: i64) -> Result<(), RunnerError> {
        let Some(record) = self.store.campaign(id).await? else {
            return Ok(());
        };
        let (now, wall) = (Instant::now(), Utc::now());
        match (record.state, runner.campaign().state()) {
            (CampaignState::Paused, RunState::Running) => runner.pause(now, wall).await?,
            (CampaignState::Running, RunState::Paused) => runner.resume(now, wall).await?,
            (CampaignState::Stopped, RunState::Running | RunState::Paused) => {
                runner.stop(now, wall).await?
            }
            _ => {}
        }
        Ok(())
    }

    /// Places one call and reports its end on `done`.
    fn place(
        &self,
        campaign: i64,
        config: &super::config::CampaignConfig,
        dial: Dial,
        pending: Unconnected,
        done: mpsc::UnboundedSender<Ended>,
    ) {
        let order = OriginateOrder {
            trunk: self.trunk.clone(),
            destination: dial.number.clone(),
            caller_id: config.caller_id.clone(),
            dial_plan: config.plan.clone(),
            variables: dial
                .vars
                .iter()
                .map(|(k, v)| {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    (k.clone(), text)
                })
                .collect(),
            timeout: self.ring_timeout,
            actor: format!("campaign {campaign}"),
            callback: None,
        };
        debug!(campaign, to = %mask_number(&dial.number), attempt = dial.attempt, "dialing");
        // Subscribed before the call exists, so none of its events can be missed.
        let feed = self.live.subscribe();
        let live = self.live.clone();
        let (progress, rx) = mpsc::channel(8);
        if self
            .control
            .send(Control::Originate { order, progress })
            .is_err()
        {
            let _ = done.send(Ended::Draining(dial));
            return;
        }
        tokio::spawn(async move {
            let ended = follow(dial, rx, feed, live, pending).await;
            let _ = done.send(ended);
        });
    }
}

/// Follows one placed call to its end.
async fn follow(
    dial: Dial,
    mut progress: mpsc::Receiver<ivr_proto::v1::OriginateProgress>,
    mut feed: broadcast::Receiver<ApiCallEvent>,
    live: Arc<LiveCalls>,
    mut pending: Unconnected,
) -> Ended {
    use ivr_proto::v1::originate_progress::Progress;
    let mut call_id: Option<String> = None;
    let mut vars = Map::new();
    let mut machine = false;
    let mut answered = false;
    let mut check = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            p = progress.recv(), if !answered => {
                let Some(p) = p else {
                    // The SIP task went away before the call was answered.
                    return Ended::Draining(dial);
                };
                if !p.call_id.is_empty() {
                    call_id = Some(p.call_id.clone());
                }
                match p.progress {
                    Some(Progress::Failed(f)) => {
                        let kind = match (f.reason.as_str(), f.sip_status) {
                            ("draining", _) => return Ended::Draining(dial),
                            // Cut off while ringing: they did not answer this time.
                            ("shutdown", _) => OutcomeKind::NoAnswer,
                            ("busy", _) => OutcomeKind::Busy,
                            ("no_answer", _) => OutcomeKind::NoAnswer,
                            (_, code) if code >= 300 => {
                                OutcomeKind::Rejected(u16::try_from(code).unwrap_or(0))
                            }
                            (reason, _) => OutcomeKind::Failed(reason.to_string()),
                        };
                        return Ended::Outcome { dial, outcome: Outcome::of(kind), call_id };
                    }
                    Some(Progress::Answered(_)) => answered = true,
                    _ => {}
                }
            }
            ev = feed.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        debug!(skipped = n, "the dialer's event feed lagged");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Some(id) = &call_id else { continue };
                if ev.call_id() != id {
                    continue;
                }
                match ev {
                    ApiCallEvent::Event(e) if e.name == "slot" => {
                        if let (Some(Value::String(slot)), Some(value)) =
                            (e.data.get("slot"), e.data.get("value"))
                        {
                            vars.insert(slot.clone(), value.clone());
                        }
                    }
                    ApiCallEvent::Event(e) if e.name == "var" => {
                        if let (Some(Value::String(name)), Some(value)) =
                            (e.data.get("name"), e.data.get("value"))
                        {
                            vars.insert(name.clone(), value.clone());
                        }
                    }
                    ApiCallEvent::Event(e) if e.name == "agent_connected" => pending.connected(),
                    ApiCallEvent::Event(e) if e.name == "amd" => {
                        machine = e.data.get("verdict").and_then(Value::as_str) == Some("machine");
                    }
                    ApiCallEvent::Finished { .. } if answered => break,
                    _ => {}
                }
            }
            _ = check.tick(), if answered => {
                // In case the end was lost to a lagging feed.
                let active = call_id
                    .as_ref()
                    .is_some_and(|id| live.list().iter().any(|c| &c.call_id == id));
                if !active {
                    break;
                }
            }
        }
    }
    let who = if machine {
        Answered::Machine
    } else {
        Answered::Human
    };
    Ended::Outcome {
        dial,
        outcome: Outcome {
            kind: OutcomeKind::Answered(who),
            vars_from_plan: vars,
        },
        call_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::{Acd, AcdConfig, AgentProfile, Enqueue, QueueConfig, QueueName};

    fn board(available: usize, waiting: usize) -> WallboardSnapshot {
        let mut acd: Acd<()> = Acd::new(AcdConfig {
            queues: vec![(QueueName::from("sales"), QueueConfig::default())],
            ..AcdConfig::default()
        })
        .expect("valid");
        let now = Instant::now();
        for i in 0..available + waiting {
            acd.login(
                AgentProfile {
                    id: format!("a{i}").as_str().into(),
                    skills: Vec::new(),
                    queues: vec![QueueName::from("sales")],
                },
                now,
            )
            .expect("login");
        }
        // Each waiting caller takes one agent (reserved for its offer), leaving `available`.
        for c in 0..waiting {
            acd.enqueue(
                Enqueue {
                    call: crate::acd::CallId(c as u64),
                    queue: QueueName::from("sales"),
                    priority: 0,
                    skills: Vec::new(),
                    context: (),
                },
                now,
            )
            .expect("enqueue");
        }
        WallboardSnapshot {
            acd: acd.snapshot(now),
            ..WallboardSnapshot::default()
        }
    }

    #[test]
    fn an_agent_assisted_campaign_dials_one_call_per_free_agent() {
        assert_eq!(progressive_limit(&board(3, 0), "sales", 20), Some(3));
        assert_eq!(
            progressive_limit(&board(2, 1), "sales", 20),
            Some(2),
            "an agent ringing for a waiting caller is not free"
        );
        assert_eq!(
            progressive_limit(&board(3, 0), "sales", 2),
            Some(2),
            "max_concurrent caps it"
        );
        assert_eq!(progressive_limit(&board(0, 0), "sales", 20), Some(0));
        assert_eq!(
            progressive_limit(&board(0, 0), "support", 20),
            None,
            "unknown queue"
        );
    }
}
