//! Store-backed tests of the outbound module on real SQLite files: import, a whole campaign
//! on virtual time, a restart with attempts left `dialing`, export, and the throughput figures.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc, Weekday};
use serde_json::{json, Map};

use super::*;
use crate::store::{AttemptOutcome, ContactStatus, NewCampaign, Store};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("ivr.db").to_str().unwrap())
        .await
        .unwrap();
    (dir, store)
}

fn all_week() -> CallingWindow {
    CallingWindow {
        start: chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        end: chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap(),
        days: vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ],
    }
}

async fn create(store: &Store, config: &CampaignConfig) -> i64 {
    store
        .create_campaign(&NewCampaign {
            name: "test".into(),
            plan: config.plan.clone(),
            config: serde_json::to_value(config).unwrap(),
            created_at_unix_ms: 0,
        })
        .await
        .unwrap()
}

async fn import_csv(store: &Store, id: i64, csv: &str, dnc: Option<&DncList>) -> ImportReport {
    let rows = read_contacts(io::Cursor::new(csv.to_string().into_bytes()), Format::Csv).unwrap();
    import(store, id, rows, dnc, ImportOptions::default(), 0)
        .await
        .unwrap()
}

#[tokio::test]
async fn import_reports_rejected_lines_dnc_and_duplicates_and_stores_the_rest() {
    let (_dir, store) = temp_store().await;
    let id = create(
        &store,
        &CampaignConfig {
            plan: "p".into(),
            ..CampaignConfig::default()
        },
    )
    .await;
    let mut dnc = DncList::default();
    assert!(dnc.insert("+1 555 010 0003"));
    let report = import_csv(
        &store,
        id,
        "number,name,timezone,appointment\n\
         +15550100001,Ann,Europe/Paris,Mon 10:00\n\
         555-0100,Bob,,Tue 11:00\n\
         +15550100003,Cid,,Wed 09:00\n\
         +1 555 010 0001,Ann again,,Thu 12:00\n\
         +15550100005,Eve,Nowhere/Land,Fri 08:00\n\
         +15550100006,Fay\n\
         +15550100007,Gus,Asia/Shanghai,Sat 10:30\n",
        Some(&dnc),
    )
    .await;
    assert_eq!(report.rows, 7);
    assert_eq!(report.imported, 2);
    assert_eq!(report.skipped_dnc, 1);
    assert_eq!(report.skipped_duplicate, 1);
    assert_eq!(report.rejected, 3);
    let lines: Vec<u64> = report.rejections.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 6, 7]);
    let stored = store.campaign_results(id, 0, 100).await.unwrap();
    let numbers: Vec<&str> = stored.iter().map(|c| c.number.as_str()).collect();
    assert_eq!(numbers, vec!["+15550100001", "+15550100007"]);
    assert_eq!(stored[0].vars["appointment"], "Mon 10:00");
    assert_eq!(
        stored[0].name.as_deref(),
        Some("Ann"),
        "the first row of a number wins"
    );
    assert_eq!(stored[1].timezone.as_deref(), Some("Asia/Shanghai"));
    assert!(stored
        .iter()
        .all(|c| c.status == ContactStatus::Pending && c.attempts == 0));
}

/// Generates `n` CSV contact rows on the fly: the file never exists in memory.
struct GeneratedCsv {
    n: u64,
    next: u64,
    pending: Vec<u8>,
    pos: usize,
}

impl GeneratedCsv {
    fn new(n: u64) -> Self {
        GeneratedCsv {
            n,
            next: 0,
            pending: b"number,name,timezone,appointment\n".to_vec(),
            pos: 0,
        }
    }
}

impl Read for GeneratedCsv {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.pending.len() {
            if self.next >= self.n {
                return Ok(0);
            }
            self.pending.clear();
            self.pos = 0;
            let i = self.next;
            self.next += 1;
            let tz = ["Europe/Paris", "America/New_York", "Asia/Shanghai", ""][(i % 4) as usize];
            self.pending.extend_from_slice(
                format!(
                    "+1555{i:07},Person {i},{tz},2024-05-{:02} 10:00\n",
                    i % 28 + 1
                )
                .as_bytes(),
            );
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[tokio::test]
async fn a_200k_row_import_streams_in_bounded_batches() {
    let (_dir, store) = temp_store().await;
    let id = create(
        &store,
        &CampaignConfig {
            plan: "p".into(),
            ..CampaignConfig::default()
        },
    )
    .await;
    let rows = read_contacts(GeneratedCsv::new(200_000), Format::Csv).unwrap();
    let options = ImportOptions {
        batch_size: 1000,
        max_reported: 10,
    };
    let started = Instant::now();
    let report = import(&store, id, rows, None, options, 0).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.rows, 200_000);
    assert_eq!(report.imported, 200_000);
    assert_eq!(report.batches, 200, "one transaction per 1,000 rows");
    assert_eq!(report.largest_batch, 1000, "never more than a batch held");
    let progress = store.campaign_progress(id).await.unwrap();
    assert_eq!(progress.contacts, 200_000);
    println!(
        "campaign import: 200,000 CSV rows in {:.2} s = {:.0} rows/s (SQLite file, batches of 1,000)",
        elapsed.as_secs_f64(),
        200_000.0 / elapsed.as_secs_f64()
    );
}

/// The dialer's side of a simulation: calls end after a fixed time with an outcome chosen
/// per contact and attempt.
struct Dialer {
    calls: BTreeMap<(Instant, u64), Dial>,
    seq: u64,
    /// Every (contact, attempt) ever dialed, to prove none is dialed twice.
    dialed: HashSet<(ContactId, u32)>,
}

impl Dialer {
    fn new() -> Self {
        Dialer {
            calls: BTreeMap::new(),
            seq: 0,
            dialed: HashSet::new(),
        }
    }

    fn place(&mut self, dial: Dial, now: Instant) {
        assert!(
            self.dialed.insert((dial.contact_id, dial.attempt)),
            "attempt {} of contact {} dialed twice",
            dial.attempt,
            dial.contact_id
        );
        self.seq += 1;
        self.calls
            .insert((now + Duration::from_secs(40), self.seq), dial);
    }
}

/// What contact `number` answers on `attempt`: by the last digit of the number.
fn scripted(number: &str, attempt: u32) -> Outcome {
    let last = number.bytes().last().unwrap_or(b'0') - b'0';
    let kind = match (last % 5, attempt) {
        (0, _) => OutcomeKind::Answered(Answered::Human),
        (1, 1) => OutcomeKind::Busy,
        (1, _) => OutcomeKind::Answered(Answered::Human),
        (2, _) => OutcomeKind::NoAnswer,
        (3, _) => OutcomeKind::Rejected(404),
        _ => OutcomeKind::Answered(Answered::Machine),
    };
    let mut vars = Map::new();
    if matches!(kind, OutcomeKind::Answered(Answered::Human)) {
        vars.insert("confirmed".into(), json!(last.is_multiple_of(2)));
    }
    Outcome {
        kind,
        vars_from_plan: vars,
    }
}

/// Drives a runner and the dialer on virtual time until the campaign is finished or
/// `limit` passes. Returns the virtual time reached.
async fn drive(
    runner: &mut Runner,
    dialer: &mut Dialer,
    numbers: &HashMap<ContactId, String>,
    t0: (Instant, DateTime<Utc>),
    mut now: Instant,
    limit: Duration,
) -> Instant {
    let wall_at = |t: Instant| t0.1 + chrono::Duration::from_std(t - t0.0).unwrap();
    let mut steps = 0;
    while !runner.is_finished() && now - t0.0 < limit {
        steps += 1;
        assert!(steps < 100_000, "livelock");
        while let Some(dial) = runner.next_dial(now, wall_at(now)).await.unwrap() {
            dialer.place(dial, now);
        }
        let next_end = dialer.calls.keys().next().map(|k| k.0);
        let next = [runner.poll_timeout(), next_end]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { break };
        now = now.max(next);
        while let Some(entry) = dialer.calls.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let dial = entry.remove();
            let outcome = scripted(&numbers[&dial.contact_id], dial.attempt);
            runner
                .finish(
                    dial.contact_id,
                    dial.attempt,
                    &outcome,
                    Some(&format!("call-{}-{}", dial.contact_id, dial.attempt)),
                    now,
                    wall_at(now),
                )
                .await
                .unwrap();
        }
    }
    now
}

fn sim_config() -> CampaignConfig {
    let mut config = CampaignConfig {
        plan: "reminder".into(),
        caller_id: "+15550100000".into(),
        max_concurrent: 5,
        calls_per_second: 2.0,
        window: all_week(),
        buffer: 8,
        ..CampaignConfig::default()
    };
    config.retry.busy = RetryRule::fixed(3, Duration::from_secs(300));
    config.retry.no_answer = RetryRule::fixed(3, Duration::from_secs(600));
    config.retry.machine = RetryRule::fixed(2, Duration::from_secs(900));
    config
}

async fn fifty_contacts(
    store: &Store,
    config: &CampaignConfig,
) -> (i64, HashMap<ContactId, String>) {
    let id = create(store, config).await;
    let mut csv = String::from("number,name\n");
    for i in 0..50 {
        csv += &format!("+1555010{i:04},Person {i}\n");
    }
    let report = import_csv(store, id, &csv, None).await;
    assert_eq!(report.imported, 50);
    let numbers = store
        .campaign_results(id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (ContactId(c.id), c.number))
        .collect();
    (id, numbers)
}

#[tokio::test]
async fn a_fifty_contact_campaign_runs_to_completion_with_every_outcome_recorded() {
    let (dir, store) = temp_store().await;
    let config = sim_config();
    let (id, numbers) = fifty_contacts(&store, &config).await;
    let t0 = (Instant::now(), utc("2024-03-06T12:00:00Z"));
    let mut runner = Runner::start(store.clone(), id, t0.0, t0.1).await.unwrap();
    let mut dialer = Dialer::new();
    let end = drive(
        &mut runner,
        &mut dialer,
        &numbers,
        t0,
        t0.0,
        Duration::from_secs(86_400),
    )
    .await;
    assert!(runner.is_finished(), "finished after {:?}", end - t0.0);

    // By last digit % 5: 0 human (10 contacts, 1 call each), 1 busy then human (10 × 2),
    // 2 no answer ×3 then give up (10 × 3), 3 404 → give up (10 × 1), 4 machine ×2 → done.
    let p = store.campaign_progress(id).await.unwrap();
    assert_eq!(p.contacts, 50);
    assert_eq!(
        (p.completed, p.gave_up, p.pending, p.dialing),
        (30, 20, 0, 0)
    );
    assert_eq!(p.attempts, 10 + 20 + 30 + 10 + 20);
    assert_eq!(p.outcomes["answered_human"], 20);
    assert_eq!(p.outcomes["busy"], 10);
    assert_eq!(p.outcomes["no_answer"], 30);
    assert_eq!(p.outcomes["rejected"], 10);
    assert_eq!(p.outcomes["answered_machine"], 20);
    assert_eq!(
        store.campaign(id).await.unwrap().unwrap().state,
        crate::store::CampaignState::Completed
    );
    let c = runner.campaign().progress();
    assert_eq!(
        (c.dialed, c.completed, c.gave_up, c.retries),
        (90, 30, 20, 40)
    );

    // The busy contact's retry came five minutes after its first call ended.
    let busy = numbers.iter().find(|(_, n)| n.ends_with('1')).unwrap().0;
    let attempts = store.attempts(busy.0).await.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Busy);
    assert_eq!(attempts[1].outcome, AttemptOutcome::AnsweredHuman);
    assert!(attempts[1].started_at_unix_ms - attempts[0].ended_at_unix_ms.unwrap() >= 300_000);
    assert_eq!(
        attempts[1].call_id.as_deref(),
        Some(&*format!("call-{busy}-2"))
    );

    // Export: one row per contact, the plan's `confirmed` as a column.
    let path = dir.path().join("results.csv");
    let file = std::fs::File::create(&path).unwrap();
    let written = export::export_results(&store, id, file, &["confirmed".to_string()])
        .await
        .unwrap();
    assert_eq!(written, 50);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[8], "confirmed");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 50);
    let row_of = |suffix: &str| {
        rows.iter()
            .find(|r| r[1].ends_with(suffix))
            .unwrap()
            .clone()
    };
    let human = row_of("0010");
    assert_eq!(
        (&human[4], &human[6], &human[8]),
        ("completed", "answered_human", "true")
    );
    let rejected = row_of("0013");
    assert_eq!(
        (&rejected[4], &rejected[7], &rejected[8]),
        ("gave_up", "404", "")
    );
    let unanswered = row_of("0012");
    assert_eq!((&unanswered[4], &unanswered[5]), ("gave_up", "3"));
}

#[tokio::test]
async fn a_restart_never_redials_an_attempt_left_dialing() {
    let (_dir, store) = temp_store().await;
    let mut config = sim_config();
    config.retry.unknown = RetryRule::fixed(2, Duration::from_secs(60));
    let (id, numbers) = fifty_contacts(&store, &config).await;
    let t0 = (Instant::now(), utc("2024-03-06T12:00:00Z"));
    let mut dialer = Dialer::new();

    // First run: five calls handed out (the concurrency limit), then the process dies.
    let mut first = Runner::start(store.clone(), id, t0.0, t0.1).await.unwrap();
    let mut now = t0.0;
    for _ in 0..20 {
        let wall = t0.1 + chrono::Duration::from_std(now - t0.0).unwrap();
        while let Some(dial) = first.next_dial(now, wall).await.unwrap() {
            dialer.place(dial, now);
        }
        now += Duration::from_millis(500);
    }
    let interrupted: Vec<Dial> = dialer.calls.values().cloned().collect();
    assert_eq!(interrupted.len(), 5);
    drop(first);
    dialer.calls.clear(); // their results never arrive

    let p = store.campaign_progress(id).await.unwrap();
    assert_eq!((p.dialing, p.outcomes["dialing"]), (5, 5));

    // Second run: the interrupted attempts become `unknown`; the store refuses them again.
    let wall = t0.1 + chrono::Duration::from_std(now - t0.0).unwrap();
    let mut second = Runner::start(store.clone(), id, now, wall).await.unwrap();
    let p = store.campaign_progress(id).await.unwrap();
    assert_eq!((p.dialing, p.outcomes["unknown"]), (0, 5));
    assert!(!p.outcomes.contains_key("dialing"));
    for d in &interrupted {
        assert!(!store
            .begin_attempt(id, d.contact_id.0, d.attempt, 0)
            .await
            .unwrap());
        let contact = store
            .campaign_contact(d.contact_id.0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(contact.status, ContactStatus::Pending);
        assert_eq!(contact.last_outcome, Some(AttemptOutcome::Unknown));
    }

    // Run to the end: each interrupted contact is called again with attempt 2, a minute later
    // (the unknown rule), and no (contact, attempt) is ever dialed twice (Dialer asserts it).
    drive(
        &mut second,
        &mut dialer,
        &numbers,
        t0,
        now,
        Duration::from_secs(86_400),
    )
    .await;
    assert!(second.is_finished());
    for d in &interrupted {
        let attempts = store.attempts(d.contact_id.0).await.unwrap();
        assert_eq!(attempts[0].attempt_no, 1);
        assert_eq!(attempts[0].outcome, AttemptOutcome::Unknown);
        assert_eq!(attempts[1].attempt_no, 2, "a fresh attempt number");
        assert!(attempts[1].started_at_unix_ms - attempts[0].ended_at_unix_ms.unwrap() >= 60_000);
    }
    let p = store.campaign_progress(id).await.unwrap();
    assert_eq!(p.pending + p.dialing, 0);
}

#[tokio::test]
async fn with_the_default_unknown_rule_an_interrupted_contact_is_not_called_again() {
    let (_dir, store) = temp_store().await;
    let config = sim_config(); // unknown: 1 attempt
    let (id, _) = fifty_contacts(&store, &config).await;
    let t0 = (Instant::now(), utc("2024-03-06T12:00:00Z"));
    let mut first = Runner::start(store.clone(), id, t0.0, t0.1).await.unwrap();
    let dial = first.next_dial(t0.0, t0.1).await.unwrap().unwrap();
    drop(first);
    let _second = Runner::start(store.clone(), id, t0.0, t0.1).await.unwrap();
    let contact = store
        .campaign_contact(dial.contact_id.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.status, ContactStatus::GaveUp);
    assert_eq!(contact.result.unwrap()["outcome"], "unknown");
}

#[tokio::test]
async fn contacts_outside_their_window_are_deferred_in_the_store_until_it_opens() {
    let (_dir, store) = temp_store().await;
    let config = CampaignConfig {
        window: CallingWindow {
            days: all_week().days,
            ..CallingWindow::default() // 09:00–20:00
        },
        ..sim_config()
    };
    let id = create(&store, &config).await;
    import_csv(
        &store,
        id,
        "number,timezone,name\n+15550100001,America/New_York,Ann\n+8613800000002,Asia/Shanghai,Dai\n",
        None,
    )
    .await;
    let t0 = (Instant::now(), utc("2024-03-06T02:00:00Z")); // 10:00 Shanghai, 21:00 New York
    let mut runner = Runner::start(store.clone(), id, t0.0, t0.1).await.unwrap();
    let dial = runner.next_dial(t0.0, t0.1).await.unwrap().unwrap();
    assert_eq!(dial.number, "+8613800000002");
    assert_eq!(dial.vars["name"], "Dai", "the name is a plan variable");
    assert!(runner.next_dial(t0.0, t0.1).await.unwrap().is_none());
    let ny = store.campaign_results(id, 0, 10).await.unwrap()[0].clone();
    assert_eq!(ny.status, ContactStatus::Pending);
    assert_eq!(
        ny.next_attempt_at_unix_ms,
        utc("2024-03-06T14:00:00Z").timestamp_millis()
    );
    // The scheduler wakes when New York opens (12 hours on).
    let wake = runner.poll_timeout().unwrap();
    assert_eq!(wake - t0.0, Duration::from_secs(12 * 3600));
}

#[test]
fn scheduler_decisions_per_second() {
    // Figures for docs/BENCHMARKS.md: a dial handed out and its result decided, on virtual time.
    let config = CampaignConfig {
        plan: "p".into(),
        max_concurrent: 1000,
        calls_per_second: 10_000.0,
        window: all_week(),
        buffer: 1000,
        ..CampaignConfig::default()
    };
    let t0 = Instant::now();
    let wall0 = utc("2024-03-06T12:00:00Z");
    let mut c = Campaign::new(config, t0, wall0).unwrap();
    let (mut now, mut wall) = (t0, wall0);
    let mut next_id = 1;
    let started = Instant::now();
    let mut decisions = 0u64;
    while decisions < 200_000 {
        if let Some(req) = c.poll_page(now, wall) {
            let page = (0..req.limit)
                .map(|_| {
                    next_id += 1;
                    Contact {
                        id: ContactId(next_id),
                        number: format!("+1555{next_id:07}"),
                        timezone: Some(chrono_tz::Europe::Paris),
                        attempts: 0,
                        vars: Map::new(),
                    }
                })
                .collect();
            c.handle_page(page, None, now, wall);
        }
        if let Some(d) = c.poll_dial(now, wall) {
            let outcome = Outcome::of(if d.contact_id.0 % 3 == 0 {
                OutcomeKind::Busy
            } else {
                OutcomeKind::Answered(Answered::Human)
            });
            c.handle_result(d.contact_id, d.attempt, &outcome, now, wall)
                .unwrap();
            decisions += 2;
        }
        now += Duration::from_micros(100);
        wall += chrono::Duration::microseconds(100);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "campaign scheduler: {decisions} decisions (dial + result) in {secs:.3} s = {:.0} decisions/s",
        decisions as f64 / secs
    );
    assert!(c.progress().dialed >= 100_000);
}
