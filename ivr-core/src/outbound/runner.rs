//! [`Runner`]: the scheduler joined to the store. It feeds the scheduler pages of due
//! contacts, records each attempt as `dialing` before handing it out, writes results and
//! deferrals, and recovers attempts interrupted by a restart.
//!
//! The engine that places calls (`ivr serve`) owns a `Runner` and loops: take dials with
//! [`Runner::next_dial`] and place them, report each end with [`Runner::finish`], and sleep
//! until [`Runner::poll_timeout`] or the next result, whichever comes first.

use std::time::Instant;

use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{json, Value};
use thiserror::Error;

use super::campaign::{
    Answered, Campaign, CampaignError, Contact, ContactId, Decision, Dial, Outcome, OutcomeKind,
    RunState,
};
use super::config::CampaignConfig;
use crate::store::{
    AttemptOutcome, AttemptResult, CampaignContact, CampaignState, ContactStatus, ContactUpdate,
    Store, StoreError,
};

/// What can stop a [`Runner`].
#[derive(Debug, Error)]
pub enum RunnerError {
    /// No campaign with this id.
    #[error("there is no campaign {id} in the store at {store}; list campaigns with `ivr campaign status`")]
    NoSuchCampaign {
        /// The id asked for.
        id: i64,
        /// The store's location.
        store: String,
    },
    /// The stored configuration is not one this version reads.
    #[error("campaign {id}'s stored configuration cannot be read: {why}")]
    BadConfig {
        /// The campaign.
        id: i64,
        /// Why.
        why: String,
    },
    /// The scheduler refused an input.
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored campaign being run.
#[derive(Debug)]
pub struct Runner {
    store: Store,
    id: i64,
    campaign: Campaign,
}

impl Runner {
    /// Loads campaign `id`, settles attempts a previous run left `dialing` (each becomes
    /// `unknown` and the `unknown` retry rule decides, with a fresh attempt number — the
    /// interrupted attempt is never placed again), and marks the campaign running (a paused
    /// or stopped campaign stays so).
    pub async fn start(
        store: Store,
        id: i64,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Runner, RunnerError> {
        let record = store
            .campaign(id)
            .await?
            .ok_or_else(|| RunnerError::NoSuchCampaign {
                id,
                store: store.location().to_string(),
            })?;
        let config: CampaignConfig =
            serde_json::from_value(record.config).map_err(|e| RunnerError::BadConfig {
                id,
                why: e.to_string(),
            })?;
        let mut campaign = Campaign::new(config, now, wall)?;
        let wall_ms = wall.timestamp_millis();
        for contact in store.recover_dialing(id, wall_ms).await? {
            let tz = contact.timezone.as_deref().and_then(|t| t.parse().ok());
            let decision =
                campaign.decide_recovered(contact.attempts, &OutcomeKind::Unknown, tz, now, wall);
            let outcome = Outcome::of(OutcomeKind::Unknown);
            let update = contact_update(&decision, &outcome, contact.attempts);
            store.update_contact(contact.id, &update, wall_ms).await?;
        }
        match record.state {
            CampaignState::Created | CampaignState::Running => {
                store
                    .set_campaign_state(id, CampaignState::Running, wall_ms)
                    .await?;
            }
            CampaignState::Paused => campaign.pause(now, wall),
            CampaignState::Stopped | CampaignState::Completed => campaign.stop(now, wall),
        }
        Ok(Runner {
            store,
            id,
            campaign,
        })
    }

    /// The campaign's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The scheduler (configuration, counters, state).
    pub fn campaign(&self) -> &Campaign {
        &self.campaign
    }

    /// The next call to place now, already recorded as `dialing` in the store; `None` when
    /// nothing may start now (see [`Runner::poll_timeout`]). Fetches due contacts and writes
    /// deferrals on the way. When the campaign has finished, marks it completed.
    pub async fn next_dial(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Option<Dial>, RunnerError> {
        let wall_ms = wall.timestamp_millis();
        loop {
            self.write_deferrals(wall_ms).await?;
            if let Some(dial) = self.campaign.poll_dial(now, wall) {
                let begun = self
                    .store
                    .begin_attempt(self.id, dial.contact_id.0, dial.attempt, wall_ms)
                    .await;
                match begun {
                    Ok(true) => return Ok(Some(dial)),
                    // Begun before (another runner, or a stale page): never dial it twice.
                    Ok(false) => {
                        self.campaign
                            .cancel_dial(dial.contact_id, dial.attempt, now, wall)?;
                        continue;
                    }
                    Err(e) => {
                        self.campaign
                            .cancel_dial(dial.contact_id, dial.attempt, now, wall)?;
                        return Err(e.into());
                    }
                }
            }
            if let Some(request) = self.campaign.poll_page(now, wall) {
                let due_by = request.due_by.timestamp_millis();
                let limit = u32::try_from(request.limit).unwrap_or(u32::MAX);
                let rows = self
                    .store
                    .ready_contacts(self.id, due_by, request.after.0, limit)
                    .await?;
                let next_due = if rows.len() < request.limit {
                    self.store
                        .next_due(self.id, due_by)
                        .await?
                        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                } else {
                    None
                };
                let contacts = rows.into_iter().map(contact_of).collect();
                self.campaign.handle_page(contacts, next_due, now, wall);
                continue;
            }
            self.complete_if_finished(wall).await?;
            return Ok(None);
        }
    }

    /// Records the end of a dial from [`Runner::next_dial`] and what becomes of the contact
    /// (retry at a time, completed, given up), in one transaction.
    pub async fn finish(
        &mut self,
        contact: ContactId,
        attempt: u32,
        outcome: &Outcome,
        call_id: Option<&str>,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Decision, RunnerError> {
        let decision = self
            .campaign
            .handle_result(contact, attempt, outcome, now, wall)?;
        let result = AttemptResult {
            contact_id: contact.0,
            attempt_no: attempt,
            ended_at_unix_ms: wall.timestamp_millis(),
            outcome: attempt_outcome(&outcome.kind),
            sip_code: match outcome.kind {
                OutcomeKind::Rejected(code) => Some(code),
                _ => None,
            },
            call_id: call_id.map(str::to_string),
            contact: contact_update(&decision, outcome, attempt),
        };
        self.store.record_attempt_result(&result).await?;
        self.complete_if_finished(wall).await?;
        Ok(decision)
    }

    /// Takes back a dial from [`Runner::next_dial`] that was never placed (the engine is
    /// shutting down): the contact is due again with the same attempt number, as if it had not
    /// been handed out.
    pub async fn unplaced(
        &mut self,
        dial: &Dial,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<(), RunnerError> {
        self.campaign
            .cancel_dial(dial.contact_id, dial.attempt, now, wall)?;
        self.store
            .unbegin_attempt(
                self.id,
                dial.contact_id.0,
                dial.attempt,
                wall.timestamp_millis(),
            )
            .await?;
        Ok(())
    }

    /// When to call [`Runner::next_dial`] again if no result arrives first.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.campaign.poll_timeout()
    }

    /// Whether the campaign is over (see [`Campaign::is_finished`]).
    pub fn is_finished(&self) -> bool {
        self.campaign.is_finished()
    }

    /// Pauses: no new calls until [`Runner::resume`].
    pub async fn pause(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), RunnerError> {
        self.campaign.pause(now, wall);
        self.set_state(CampaignState::Paused, wall).await
    }

    /// Resumes after a pause.
    pub async fn resume(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), RunnerError> {
        self.campaign.resume(now, wall);
        self.set_state(CampaignState::Running, wall).await
    }

    /// Stops for good; calls in progress are still reported with [`Runner::finish`].
    pub async fn stop(&mut self, now: Instant, wall: DateTime<Utc>) -> Result<(), RunnerError> {
        self.campaign.stop(now, wall);
        self.set_state(CampaignState::Stopped, wall).await
    }

    /// Marks the campaign completed once every contact is settled.
    async fn complete_if_finished(&mut self, wall: DateTime<Utc>) -> Result<(), RunnerError> {
        if self.campaign.is_finished() && self.campaign.state() == RunState::Running {
            self.set_state(CampaignState::Completed, wall).await?;
        }
        Ok(())
    }

    async fn set_state(
        &self,
        state: CampaignState,
        wall: DateTime<Utc>,
    ) -> Result<(), RunnerError> {
        self.store
            .set_campaign_state(self.id, state, wall.timestamp_millis())
            .await?;
        Ok(())
    }

    async fn write_deferrals(&mut self, wall_ms: i64) -> Result<(), RunnerError> {
        while let Some(d) = self.campaign.poll_deferral() {
            let update = ContactUpdate {
                status: ContactStatus::Pending,
                next_attempt_at_unix_ms: d.until.timestamp_millis(),
                result: None,
            };
            self.store
                .update_contact(d.contact_id.0, &update, wall_ms)
                .await?;
        }
        Ok(())
    }
}

/// A stored contact as the scheduler takes it: its name becomes `vars.name` (unless a
/// column already is), and an unreadable time zone falls back to the campaign's default (the
/// import validated it).
pub fn contact_of(row: CampaignContact) -> Contact {
    let mut vars = row.vars;
    if let Some(name) = row.name {
        vars.entry("name").or_insert(Value::String(name));
    }
    Contact {
        id: ContactId(row.id),
        timezone: row.timezone.as_deref().and_then(|t| t.parse().ok()),
        number: row.number,
        attempts: row.attempts,
        vars,
    }
}

/// The store's name for an outcome.
pub fn attempt_outcome(kind: &OutcomeKind) -> AttemptOutcome {
    match kind {
        OutcomeKind::Answered(Answered::Human) => AttemptOutcome::AnsweredHuman,
        OutcomeKind::Answered(Answered::Machine) => AttemptOutcome::AnsweredMachine,
        OutcomeKind::Busy => AttemptOutcome::Busy,
        OutcomeKind::NoAnswer => AttemptOutcome::NoAnswer,
        OutcomeKind::Rejected(_) => AttemptOutcome::Rejected,
        OutcomeKind::Failed(_) => AttemptOutcome::Failed,
        OutcomeKind::Unknown => AttemptOutcome::Unknown,
    }
}

/// The contact's new row after `decision`; a settled contact keeps the outcome, attempt
/// count and the plan's variables as its result.
fn contact_update(decision: &Decision, outcome: &Outcome, attempt: u32) -> ContactUpdate {
    let result = || {
        let mut r = json!({
            "outcome": attempt_outcome(&outcome.kind).as_str(),
            "attempts": attempt,
            "vars": Value::Object(outcome.vars_from_plan.clone()),
        });
        match &outcome.kind {
            OutcomeKind::Rejected(code) => r["sip_code"] = json!(code),
            OutcomeKind::Failed(why) => r["reason"] = json!(why),
            _ => {}
        }
        r
    };
    match decision {
        Decision::Retry { at, .. } => ContactUpdate {
            status: ContactStatus::Pending,
            next_attempt_at_unix_ms: at.timestamp_millis(),
            result: None,
        },
        Decision::Completed => ContactUpdate {
            status: ContactStatus::Completed,
            next_attempt_at_unix_ms: 0,
            result: Some(result()),
        },
        Decision::GaveUp => ContactUpdate {
            status: ContactStatus::GaveUp,
            next_attempt_at_unix_ms: 0,
            result: Some(result()),
        },
    }
}
