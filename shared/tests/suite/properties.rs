//! Property tests over random start times, zones, quiet hours and sequences of saves, moves,
//! cancellations, patient actions and time passing.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use rappel::domain::*;
use rappel::rules::{self, Refusal};
use rappel::services::PatientAction;
use rappel::testing::{appointment, Harness};

const ZONES: [Tz; 8] = [
    chrono_tz::America::Toronto,
    chrono_tz::America::Vancouver,
    chrono_tz::America::St_Johns,
    chrono_tz::America::Halifax,
    chrono_tz::Europe::Paris,
    chrono_tz::Asia::Kolkata,
    chrono_tz::Australia::Lord_Howe,
    chrono_tz::UTC,
];

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2026-01-01 .. 2031-01-01, to the minute: every DST change of five years.
    (0i64..(5 * 366 * 24 * 60)).prop_map(|m| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(m))
}

fn quiet_hours() -> impl Strategy<Value = QuietHours> {
    (0u32..24 * 60, 0u32..24 * 60).prop_map(|(s, e)| QuietHours {
        start: LocalTime(NaiveTime::from_hms_opt(s / 60, s % 60, 0).unwrap()),
        end: LocalTime(NaiveTime::from_hms_opt(e / 60, e % 60, 0).unwrap()),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The reminder is inside [T−48 h, T−24 h], outside quiet hours, and no open minute of the
    /// window is nearer T−36 h; when there is none, every minute of the window is quiet.
    #[test]
    fn the_reminder_is_in_its_window_outside_quiet_hours_and_nearest_to_t_minus_36h(
        start in instant(), zone in prop::sample::select(ZONES.to_vec()), quiet in quiet_hours()
    ) {
        let earliest = start - Duration::hours(48);
        let latest = start - Duration::hours(24);
        let target = start - Duration::hours(36);
        match rules::reminder_time(start, &quiet, zone) {
            Some(at) => {
                prop_assert!(at >= earliest && at <= latest, "{at} outside the window of {start}");
                prop_assert!(!quiet.contains(at, zone), "{at} is quiet");
                let distance = (at - target).abs();
                let mut m = target - distance + Duration::minutes(1);
                while m < target + distance {
                    prop_assert!(m < earliest || m > latest || quiet.contains(m, zone), "{m} is open and nearer than {at}");
                    m += Duration::minutes(1);
                }
            }
            None => {
                let mut m = earliest;
                while m <= latest {
                    prop_assert!(quiet.contains(m, zone), "{m} is open but no reminder was placed");
                    m += Duration::minutes(1);
                }
            }
        }
    }

    /// Every window agrees with docs/BEHAVIOUR.md §2.1, to the second.
    #[test]
    fn the_windows_agree_with_the_contract(start in instant(), offset in -3000i64..3000, allowed: bool) {
        let now = start + Duration::seconds(offset * 60 + offset % 60);
        prop_assert_eq!(rules::check_confirm(now, start).is_ok(), start - Duration::hours(48) <= now && now < start);
        prop_assert_eq!(rules::check_cancel(now, start, allowed).is_ok(), allowed && now < start - Duration::hours(24));
        prop_assert_eq!(rules::check_arrive(now, start, allowed).is_ok(), allowed && start - Duration::minutes(30) <= now && now <= start);
        if !allowed {
            prop_assert_eq!(rules::check_cancel(now, start, allowed), Err(Refusal::CancellationNotAllowed));
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A new revision, moved by this many hours (0: same time), booked or cancelled.
    Save {
        move_hours: i64,
        cancelled: bool,
        rename: bool,
    },
    Act(PatientAction),
    /// Time passes by this many minutes (firing schedules on the way).
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (-30i64..30, prop::bool::weighted(0.2), any::<bool>()).prop_map(|(move_hours, cancelled, rename)| Step::Save {
            move_hours,
            cancelled,
            rename
        }),
        prop::sample::select(vec![
            PatientAction::Confirm,
            PatientAction::Cancel,
            PatientAction::Arrive
        ])
        .prop_map(Step::Act),
        (1i64..(30 * 60)).prop_map(Step::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the EMR and the patient do, in any order: nothing is sent for an appointment
    /// whose start has passed, no kind goes out twice for one revision, every reminder lands in
    /// its window outside quiet hours, and no text goes out in quiet hours.
    #[test]
    fn sequences_of_saves_actions_and_waiting_keep_the_rules(
        first_hours in 1i64..(6 * 24), steps in prop::collection::vec(step(), 1..14), sms: bool
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let now0 = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
            let mut h = Harness::new(now0).await;
            h.set_type("FU", Communications::Full).await;
            h.configure(|s| {
                s.sms_enabled = sms;
                s.allow_patient_cancellation = true;
                s.allow_arrival_checkin = true;
            })
            .await;
            let id = AppointmentId::parse("P1").unwrap();
            let mut start = now0 + Duration::hours(first_hours);
            let mut revision = 1;
            h.rappel.save_appointment(&h.clinic, id.clone(), appointment(revision, start, "FU")).await.unwrap();
            let quiet = h.clinic.settings.quiet_hours;
            let zone = h.clinic.settings.tz();
            let mut seen = 0;
            for step in steps {
                let starts_before = start;
                match step {
                    Step::Save { move_hours, cancelled, rename } => {
                        revision += 1;
                        start += Duration::hours(move_hours);
                        let mut content = appointment(revision, start, "FU");
                        if cancelled {
                            content.status = AppointmentStatus::Cancelled;
                        }
                        if rename {
                            content.patient.first_name = Text::parse("Autre").unwrap();
                        }
                        h.rappel.save_appointment(&h.clinic, id.clone(), content).await.unwrap();
                    }
                    Step::Act(action) => {
                        let token = h.rappel.store.appointment(&h.clinic.id, &id).await.unwrap().unwrap().token;
                        let _ = h.rappel.patient_act(&token, action).await;
                    }
                    Step::Wait(minutes) => {
                        h.advance(Duration::minutes(minutes)).await;
                    }
                }
                let sent = h.sent();
                for entry in &sent[seen..] {
                    let at = DateTime::parse_from_rfc3339(&entry.at).unwrap().with_timezone(&Utc);
                    // A message about this appointment goes out only while it is in the future
                    // (the start as it stood before this step or after it, for a move).
                    assert!(at < starts_before.max(start), "{} {} sent at {at}, start {start}", entry.channel, entry.kind);
                    if entry.channel == "sms" {
                        assert!(!quiet.contains(at, zone), "a text at {at}, in quiet hours");
                    }
                    if entry.kind == "reminder" {
                        assert!(at >= start - Duration::hours(48) && at <= start - Duration::hours(24), "reminder at {at} for {start}");
                        assert!(!quiet.contains(at, zone), "reminder at {at}, in quiet hours");
                    }
                }
                seen = sent.len();
            }
            let messages = h.rappel.store.messages(&h.clinic.id, &id).await.unwrap();
            let sent_keys: Vec<&str> = messages.iter().filter(|m| m.status == MessageStatus::Sent).map(|m| m.key.as_str()).collect();
            let mut unique = sent_keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), sent_keys.len(), "a kind went out twice for one revision");
            assert_eq!(sent_keys.len(), h.sent().len(), "every outbox entry is one recorded message");
        });
    }
}
