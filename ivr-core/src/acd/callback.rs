//! Callback requests that outlive a restart: export them before stopping, import them after
//! starting, and each keeps its place in line (by how long it had waited).

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::AcdError;
use super::ids::{CallId, QueueName, SkillRequirement};
use super::queue::WaitKey;
use super::router::{Acd, CallEntry, Leg, Phase};

/// A callback request as stored across restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackRecord<C> {
    /// The call's id.
    pub call: CallId,
    /// The queue it waits in.
    pub queue: QueueName,
    /// The number to call back.
    pub number: String,
    /// Its priority.
    pub priority: i32,
    /// The skills it needs.
    pub skills: Vec<SkillRequirement>,
    /// How long it had waited (since the caller first arrived) when exported, in milliseconds.
    pub waited_ms: u64,
    /// The handoff context.
    pub context: C,
}

impl<C: Clone> Acd<C> {
    /// Every pending callback request, in serving order per queue. Requests being placed
    /// right now are included (as waiting) so a restart cannot lose them.
    pub fn export_callbacks(&self, now: Instant) -> Vec<CallbackRecord<C>> {
        let mut out: Vec<(u32, WaitKey, CallbackRecord<C>)> = self
            .calls
            .iter()
            .filter_map(|(id, e)| {
                let Leg::Callback(number) = &e.leg else {
                    return None;
                };
                let queue = self.queues.get(e.queue as usize)?.name.clone();
                let waited = now.saturating_duration_since(e.key.arrived);
                Some((
                    e.queue,
                    e.key,
                    CallbackRecord {
                        call: *id,
                        queue,
                        number: number.clone(),
                        priority: e.key.priority.0,
                        skills: e.requirements.clone(),
                        waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                        context: e.context.clone(),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|(q, k, _)| (*q, *k));
        out.into_iter().map(|(_, _, r)| r).collect()
    }

    /// Restores exported callback requests; each keeps its place by the time it had waited
    /// (ignoring the queue's open flag and length limit, since they were admitted before).
    /// Returns the records that could not be restored, with why.
    pub fn import_callbacks(
        &mut self,
        records: Vec<CallbackRecord<C>>,
        now: Instant,
    ) -> Vec<(CallbackRecord<C>, AcdError)> {
        let mut refused = Vec::new();
        for r in records {
            match self.import_one(&r, now) {
                Ok(()) => {}
                Err(e) => refused.push((r, e)),
            }
        }
        refused
    }

    fn import_one(&mut self, r: &CallbackRecord<C>, now: Instant) -> Result<(), AcdError> {
        if self.calls.contains_key(&r.call) || self.talking.contains_key(&r.call) {
            return Err(AcdError::DuplicateCall(r.call));
        }
        let q = *self
            .queue_ids
            .get(&r.queue)
            .ok_or_else(|| AcdError::UnknownQueue(r.queue.clone()))?;
        let needs = self.needs(&r.skills)?;
        self.seq += 1;
        let key = WaitKey {
            priority: Reverse(r.priority),
            arrived: now
                .checked_sub(Duration::from_millis(r.waited_ms))
                .unwrap_or(now),
            seq: self.seq,
        };
        self.calls.insert(
            r.call,
            CallEntry {
                queue: q,
                key,
                requirements: r.skills.clone(),
                needs,
                context: r.context.clone(),
                leg: Leg::Callback(r.number.clone()),
                phase: Phase::Waiting,
                declined: Vec::new(),
                next_announce: None,
                overflow_at: None,
                max_wait_at: None,
                timer: None,
            },
        );
        if let Some(queue) = self.queues.get_mut(q as usize) {
            queue.waiting.insert(key, r.call);
            queue.callbacks += 1;
        }
        self.mark_queue(q);
        self.route_call(r.call, now);
        Ok(())
    }
}
