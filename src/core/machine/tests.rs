//! The state machine's rules, one test per rule, plus a long random walk that checks the
//! invariants hold for any input order.

use super::*;
use crate::core::classify::ClassifierSpec;

const UPS: &str = "1Z5R89390357567127";
const S10: &str = "RR123456785CN";
const USPS: &str = "9400111201080805483016";
const EAN: &str = "4006381333931";

fn machine() -> PackMachine {
    machine_with(MachineConfig::default())
}

fn machine_with(config: MachineConfig) -> PackMachine {
    let classifier = Classifier::new(ClassifierSpec::default()).expect("default spec");
    PackMachine::new(config, classifier)
}

fn scan(m: &mut PackMachine, text: &str, at: i64) -> Vec<Action> {
    m.handle(Input::Scan {
        scanner: "sc".into(),
        barcode: Barcode::plain(text),
        at: Timestamp(at),
        new_session_id: format!("s{at}"),
    })
}

fn weigh(m: &mut PackMachine, grams: f64, stable: bool, at: i64) -> Vec<Action> {
    m.handle(Input::Weight {
        scale: "scale".into(),
        reading: ScaleReading::weight(grams, Unit::G, stable),
        at: Timestamp(at),
    })
}

fn events(actions: &[Action]) -> Vec<&EventBody> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(e) => Some(&e.body),
            _ => None,
        })
        .collect()
}

fn types(actions: &[Action]) -> Vec<&'static str> {
    events(actions).iter().map(|b| b.type_name()).collect()
}

fn completed(actions: &[Action]) -> Option<(Option<f64>, Vec<String>, CloseReason, i64)> {
    events(actions).into_iter().find_map(|b| match b {
        EventBody::SessionCompleted {
            weight_g,
            items,
            reason,
            duration_ms,
            ..
        } => Some((*weight_g, items.clone(), *reason, *duration_ms)),
        _ => None,
    })
}

fn captured(actions: &[Action]) -> Option<f64> {
    events(actions).into_iter().find_map(|b| match b {
        EventBody::WeightCaptured { weight_g, .. } => Some(*weight_g),
        _ => None,
    })
}

#[test]
fn order_scan_opens_a_session_with_its_scan_and_event() {
    let mut m = machine();
    let a = scan(&mut m, UPS, 1000);
    assert_eq!(
        a[0],
        Action::OpenSession {
            id: "s1000".into(),
            order: UPS.into(),
            matched_by: "ups".into(),
            kind: SessionKind::Pack,
            started_at: Timestamp(1000),
        }
    );
    assert!(matches!(
        &a[1],
        Action::RecordScan { role: ScanRole::Order, session_id: Some(id), .. } if id == "s1000"
    ));
    let Action::Emit(e) = &a[2] else {
        panic!("an event: {a:?}")
    };
    assert_eq!(e.order.as_deref(), Some(UPS));
    assert_eq!(e.mode, Mode::Pack);
    assert_eq!(e.body.type_name(), "session.started");
    assert_eq!(a.len(), 3);
    assert_eq!(m.open_session().map(|s| s.order.as_str()), Some(UPS));
}

#[test]
fn scans_while_open_are_items_and_done_completes_with_them() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, EAN, 100);
    assert_eq!(types(&a), ["item.scanned"]);
    assert!(matches!(
        events(&a)[0],
        EventBody::ItemScanned { item_count: 1, gtin: Some(g), .. } if g == "04006381333931"
    ));
    scan(&mut m, "SKU-RED-M", 200);
    let a = scan(&mut m, "PW-DONE", 5000);
    assert_eq!(types(&a), ["session.completed"]);
    let (weight, items, reason, duration) = completed(&a).expect("completed");
    assert_eq!(weight, None);
    assert_eq!(items, [EAN, "SKU-RED-M"]);
    assert_eq!(reason, CloseReason::DoneCommand);
    assert_eq!(duration, 5000);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::CloseSession {
            outcome: Outcome::Completed,
            at: Timestamp(5000),
            ..
        }
    )));
    assert!(m.open_session().is_none());
}

#[test]
fn an_item_with_no_open_session_is_unrecognized_and_recorded() {
    let mut m = machine();
    let a = scan(&mut m, EAN, 0);
    assert!(matches!(
        &a[0],
        Action::RecordScan {
            session_id: None,
            role: ScanRole::Unrecognized,
            ..
        }
    ));
    assert!(matches!(
        events(&a)[0],
        EventBody::ScanUnrecognized {
            reason: UnrecognizedReason::NoOpenSession,
            ..
        }
    ));
    assert!(m.open_session().is_none());
}

#[test]
fn done_or_cancel_without_a_session_change_nothing() {
    let mut m = machine();
    for cmd in ["PW-DONE", "PW-CANCEL"] {
        let a = scan(&mut m, cmd, 0);
        assert!(matches!(
            events(&a)[0],
            EventBody::ScanUnrecognized {
                reason: UnrecognizedReason::CommandWithoutSession,
                ..
            }
        ));
        assert!(!a.iter().any(|x| matches!(x, Action::CloseSession { .. })));
    }
}

#[test]
fn cancel_cancels_and_the_same_order_may_start_again_at_once() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    scan(&mut m, EAN, 10);
    let a = scan(&mut m, "PW-CANCEL", 20);
    assert_eq!(types(&a), ["session.cancelled"]);
    assert!(a.iter().any(|x| matches!(
        x,
        Action::CloseSession {
            outcome: Outcome::Cancelled,
            reason: CloseReason::CancelCommand,
            ..
        }
    )));
    let a = scan(&mut m, UPS, 30);
    assert_eq!(types(&a), ["session.started"]);
}

#[test]
fn the_next_order_completes_the_open_one_first() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, S10, 900);
    assert_eq!(types(&a), ["session.completed", "session.started"]);
    assert!(matches!(
        a[0],
        Action::CloseSession {
            reason: CloseReason::NextOrder,
            ..
        }
    ));
    let Action::Emit(done) = &a[1] else {
        panic!("event")
    };
    assert_eq!(done.order.as_deref(), Some(UPS));
    assert_eq!(m.open_session().map(|s| s.order.as_str()), Some(S10));
}

#[test]
fn the_same_order_again_is_a_duplicate_while_open_and_within_the_window() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, UPS, 500);
    assert_eq!(types(&a), ["scan.duplicate"]);
    assert!(matches!(
        &a[0],
        Action::RecordScan {
            role: ScanRole::Duplicate,
            ..
        }
    ));
    scan(&mut m, "PW-DONE", 1000);
    let a = scan(&mut m, UPS, 1000 + 10_000);
    assert_eq!(types(&a), ["scan.duplicate"], "inside the 10 s window");
    assert!(m.open_session().is_none());
    let a = scan(&mut m, UPS, 1000 + 10_001);
    assert_eq!(types(&a), ["session.started"], "after the window: a repack");
}

#[test]
fn a_duplicate_keeps_the_session_alive() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    scan(&mut m, UPS, 400_000);
    assert_eq!(m.next_deadline(), Some(Timestamp(1_000_000)));
}

#[test]
fn idle_timeout_completes_at_the_moment_the_session_went_idle() {
    let mut m = machine();
    assert_eq!(m.next_deadline(), None);
    scan(&mut m, UPS, 0);
    scan(&mut m, EAN, 1000);
    assert_eq!(m.next_deadline(), Some(Timestamp(601_000)));
    assert!(
        m.handle(Input::Tick {
            at: Timestamp(600_999)
        })
        .is_empty()
    );
    // Noticed late (a restart three days later): still ends at the deadline.
    let a = m.handle(Input::Tick {
        at: Timestamp(259_200_000),
    });
    let (_, items, reason, duration) = completed(&a).expect("completed");
    assert_eq!(reason, CloseReason::IdleTimeout);
    assert_eq!(items, [EAN]);
    assert_eq!(duration, 601_000);
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn first_stable_nonzero_weight_after_the_scan_is_captured_once() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    assert_eq!(
        captured(&weigh(&mut m, 0.0, true, 100)),
        None,
        "empty scale"
    );
    assert_eq!(
        captured(&weigh(&mut m, 800.0, false, 200)),
        None,
        "settling"
    );
    assert_eq!(captured(&weigh(&mut m, 812.5, true, 300)), Some(812.5));
    assert_eq!(captured(&weigh(&mut m, 900.0, false, 400)), None);
    assert_eq!(
        captured(&weigh(&mut m, 905.0, true, 500)),
        None,
        "only the first"
    );
    let (weight, ..) = completed(&scan(&mut m, "PW-DONE", 600)).expect("completed");
    assert_eq!(weight, Some(812.5));
}

#[test]
fn a_load_resting_before_the_scan_is_never_captured() {
    let mut m = machine();
    // Parcel 1 is weighed, then stays on the scale while parcel 2's waybill is scanned.
    scan(&mut m, UPS, 0);
    weigh(&mut m, 1200.0, false, 100);
    assert_eq!(captured(&weigh(&mut m, 1200.0, true, 200)), Some(1200.0));
    let a = scan(&mut m, S10, 300);
    assert_eq!(types(&a), ["session.completed", "session.started"]);
    for t in [400, 600, 800] {
        assert_eq!(
            captured(&weigh(&mut m, 1200.0, true, t)),
            None,
            "previous parcel"
        );
    }
    // Parcel 1 comes off, parcel 2 goes on.
    weigh(&mut m, 0.0, true, 900);
    weigh(&mut m, 640.0, false, 1000);
    assert_eq!(captured(&weigh(&mut m, 650.0, true, 1100)), Some(650.0));
}

#[test]
fn a_weight_read_before_any_session_is_not_carried_into_one() {
    let mut m = machine();
    weigh(&mut m, 300.0, true, 0);
    scan(&mut m, UPS, 10);
    assert_eq!(captured(&weigh(&mut m, 300.0, true, 20)), None);
    weigh(&mut m, 300.0, false, 30);
    assert_eq!(captured(&weigh(&mut m, 300.0, true, 40)), Some(300.0));
}

#[test]
fn a_scale_that_never_settles_gives_no_weight() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    for t in 1..200 {
        let grams = 500.0 + (t % 7) as f64;
        assert!(weigh(&mut m, grams, false, t * 50).is_empty());
    }
    let (weight, ..) = completed(&scan(&mut m, "PW-DONE", 10_000)).expect("completed");
    assert_eq!(weight, None);
}

#[test]
fn weights_below_the_minimum_and_out_of_range_readings_are_not_captured() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    assert_eq!(captured(&weigh(&mut m, 4.9, true, 10)), None);
    assert!(
        m.handle(Input::Weight {
            scale: "scale".into(),
            reading: ScaleReading::Overload,
            at: Timestamp(20)
        })
        .is_empty()
    );
    assert!(
        m.handle(Input::Weight {
            scale: "scale".into(),
            reading: ScaleReading::Underload,
            at: Timestamp(30)
        })
        .is_empty()
    );
    assert_eq!(captured(&weigh(&mut m, -50.0, true, 40)), None);
    assert_eq!(captured(&weigh(&mut m, 5.0, true, 50)), Some(5.0));
}

#[test]
fn stable_for_requires_the_load_to_stay() {
    let mut m = machine_with(MachineConfig {
        stable_for_ms: 500,
        ..MachineConfig::default()
    });
    scan(&mut m, UPS, 0);
    weigh(&mut m, 650.0, false, 50);
    assert_eq!(captured(&weigh(&mut m, 700.0, true, 100)), None);
    assert_eq!(captured(&weigh(&mut m, 700.0, true, 599)), None);
    assert_eq!(captured(&weigh(&mut m, 700.0, true, 600)), Some(700.0));
}

#[test]
fn an_interruption_resets_how_long_the_load_has_been_stable() {
    let mut m = machine_with(MachineConfig {
        stable_for_ms: 500,
        ..MachineConfig::default()
    });
    scan(&mut m, UPS, 0);
    weigh(&mut m, 700.0, true, 100);
    weigh(&mut m, 700.0, false, 400);
    assert_eq!(captured(&weigh(&mut m, 700.0, true, 700)), None);
    assert_eq!(captured(&weigh(&mut m, 700.0, true, 1200)), Some(700.0));
}

#[test]
fn returns_mode_makes_unboxing_sessions_and_the_events_say_so() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, "PW-MODE-RETURNS", 100);
    assert_eq!(types(&a), ["session.completed", "station.mode_changed"]);
    assert!(a.contains(&Action::SetMode(Mode::Returns)));
    assert!(a.iter().any(|x| matches!(
        x,
        Action::CloseSession {
            reason: CloseReason::ModeChange,
            ..
        }
    )));
    assert_eq!(m.mode(), Mode::Returns);
    // The just-completed order may be scanned as a return at once: a mode change is a new context.
    let a = scan(&mut m, UPS, 200);
    assert!(matches!(
        a[0],
        Action::OpenSession {
            kind: SessionKind::Unboxing,
            ..
        }
    ));
    let Action::Emit(e) = &a[2] else {
        panic!("event")
    };
    assert_eq!(e.mode, Mode::Returns);
    assert!(matches!(
        e.body,
        EventBody::SessionStarted {
            kind: SessionKind::Unboxing,
            ..
        }
    ));
}

#[test]
fn switching_to_the_current_mode_changes_nothing() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, "PW-MODE-PACK", 10);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(matches!(
        &a[0],
        Action::RecordScan {
            role: ScanRole::Command,
            ..
        }
    ));
    assert!(m.open_session().is_some());
}

#[test]
fn invalid_scans_are_reported_escaped_and_change_nothing() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, "AB\u{7}C", 10);
    assert_eq!(types(&a), ["scan.unrecognized"]);
    assert!(matches!(
        events(&a)[0],
        EventBody::ScanUnrecognized { code, reason: UnrecognizedReason::Invalid, detail: Some(_), .. }
            if code == "AB\\x07C"
    ));
    assert!(m.open_session().is_some_and(|s| s.items.is_empty()));
    let long = "9".repeat(10_000);
    let a = scan(&mut m, &long, 20);
    let EventBody::ScanUnrecognized { code, .. } = events(&a)[0] else {
        panic!("unrecognized")
    };
    assert_eq!(code.len(), ECHO_MAX_CHARS);
}

#[test]
fn a_product_barcode_is_never_an_order_even_if_it_passes_a_carrier_check() {
    let mut m = machine();
    scan(&mut m, USPS, 0);
    // 12 digits that are also a valid FedEx Express number, read as UPC-A.
    let a = m.handle(Input::Scan {
        scanner: "sc".into(),
        barcode: Barcode::from_frame("]E0986578788855", true),
        at: Timestamp(10),
        new_session_id: "x".into(),
    });
    assert_eq!(types(&a), ["item.scanned"]);
}

#[test]
fn device_events_carry_the_open_order() {
    let mut m = machine();
    let a = m.handle(Input::Device {
        device: "scale".into(),
        kind: DeviceKind::Scale,
        status: DeviceStatus::Connected {
            port: "/dev/ttyUSB0".into(),
        },
        at: Timestamp(0),
    });
    let Action::Emit(e) = &a[0] else {
        panic!("event")
    };
    assert_eq!(e.order, None);
    assert_eq!(e.body.type_name(), "device.connected");
    scan(&mut m, UPS, 10);
    let a = m.handle(Input::Device {
        device: "scanner".into(),
        kind: DeviceKind::Scanner,
        status: DeviceStatus::Disconnected {
            reason: "unplugged".into(),
        },
        at: Timestamp(20),
    });
    let Action::Emit(e) = &a[0] else {
        panic!("event")
    };
    assert_eq!(e.order.as_deref(), Some(UPS));
    assert_eq!(e.body.type_name(), "device.disconnected");
}

#[test]
fn after_a_scale_fault_the_load_on_it_must_move_before_it_counts() {
    let mut m = machine_with(MachineConfig {
        stable_for_ms: 300,
        ..MachineConfig::default()
    });
    scan(&mut m, UPS, 0);
    weigh(&mut m, 900.0, false, 50);
    weigh(&mut m, 900.0, true, 100);
    m.handle(Input::Device {
        device: "scale".into(),
        kind: DeviceKind::Scale,
        status: DeviceStatus::Fault {
            reason: "no reply".into(),
        },
        at: Timestamp(200),
    });
    // Parcel 1 may have been on the pan all along: not this order's weight.
    assert_eq!(captured(&weigh(&mut m, 900.0, true, 450)), None);
    assert_eq!(captured(&weigh(&mut m, 900.0, true, 5_000)), None);
    weigh(&mut m, 300.0, false, 5_100);
    assert_eq!(
        captured(&weigh(&mut m, 910.0, true, 5_200)),
        None,
        "stable only since 5200"
    );
    assert_eq!(captured(&weigh(&mut m, 910.0, true, 5_500)), Some(910.0));
}

#[test]
fn a_load_resting_when_the_station_starts_is_not_captured() {
    let classifier = Classifier::new(ClassifierSpec::default()).expect("spec");
    let open = OpenSession {
        id: "old".into(),
        order: UPS.into(),
        kind: SessionKind::Pack,
        started_at: Timestamp(0),
        last_activity: Timestamp(0),
        items: Vec::new(),
        weight_g: None,
    };
    let mut m = PackMachine::resume(MachineConfig::default(), classifier, Mode::Pack, Some(open));
    assert_eq!(captured(&weigh(&mut m, 1500.0, true, 1_000)), None);
    weigh(&mut m, 1500.0, false, 1_100);
    assert_eq!(captured(&weigh(&mut m, 1500.0, true, 1_200)), Some(1500.0));
}

#[test]
fn a_stable_load_that_changes_without_motion_is_a_new_load() {
    let mut m = machine();
    weigh(&mut m, 0.0, true, 0);
    scan(&mut m, UPS, 10);
    assert_eq!(captured(&weigh(&mut m, 0.0, true, 20)), None);
    assert_eq!(captured(&weigh(&mut m, 640.0, true, 30)), Some(640.0));
}

/// A 12-digit number that is both a valid UPC-A and a valid FedEx Express number.
fn upc_that_passes_fedex() -> String {
    use crate::core::barcode::gs1_check_digit_ok;
    use crate::core::carrier::Carrier;
    (400_000_000_000u64..=400_001_000_000)
        .map(|n| n.to_string())
        .find(|s| gs1_check_digit_ok(s) && Carrier::FedEx.recognise(s).is_some())
        .expect("one exists")
}

#[test]
fn a_product_code_passing_a_carrier_check_is_an_item_while_packing() {
    let upc = upc_that_passes_fedex();
    let mut m = machine();
    scan(&mut m, UPS, 0);
    let a = scan(&mut m, &upc, 10);
    assert_eq!(
        types(&a),
        ["item.scanned"],
        "must not end the parcel's session"
    );
    assert_eq!(
        m.open_session().map(|s| s.items.clone()),
        Some(vec![upc.clone()])
    );
    scan(&mut m, "PW-DONE", 20);
    // With no session open, the same text is taken for a waybill.
    let a = scan(&mut m, &upc, 30);
    assert_eq!(types(&a), ["session.started"]);
}

#[test]
fn an_overdue_session_ends_before_a_late_input_is_handled() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    // No tick came (a busy loop): the next scan still finds the session ended at its deadline.
    let a = scan(&mut m, EAN, 700_000);
    assert_eq!(types(&a), ["session.completed", "scan.unrecognized"]);
    let (_, _, reason, duration) = completed(&a).expect("completed");
    assert_eq!((reason, duration), (CloseReason::IdleTimeout, 600_000));
}

#[test]
fn a_closing_event_lists_at_most_500_items() {
    let mut m = machine();
    scan(&mut m, UPS, 0);
    for i in 0..600 {
        scan(&mut m, &format!("SKU-{i}"), 1 + i);
    }
    let a = scan(&mut m, "PW-DONE", 1_000);
    let Some(EventBody::SessionCompleted {
        items,
        items_truncated,
        item_count,
        ..
    }) = events(&a).into_iter().next()
    else {
        panic!("completed: {a:?}")
    };
    assert_eq!(
        (items.len(), *items_truncated, *item_count),
        (MAX_ITEMS_IN_EVENT, true, 600)
    );
    assert_eq!(items[499], "SKU-499");
}

#[test]
fn a_resumed_session_continues_after_a_restart() {
    let classifier = Classifier::new(ClassifierSpec::default()).expect("spec");
    let open = OpenSession {
        id: "old".into(),
        order: UPS.into(),
        kind: SessionKind::Unboxing,
        started_at: Timestamp(0),
        last_activity: Timestamp(5_000),
        items: vec![EAN.into()],
        weight_g: Some(420.0),
    };
    let mut m = PackMachine::resume(
        MachineConfig::default(),
        classifier,
        Mode::Returns,
        Some(open),
    );
    assert_eq!(m.next_deadline(), Some(Timestamp(605_000)));
    let a = scan(&mut m, "SKU-2", 6_000);
    assert!(matches!(
        events(&a)[0],
        EventBody::ItemScanned { item_count: 2, .. }
    ));
    let a = scan(&mut m, "PW-DONE", 7_000);
    let (weight, items, ..) = completed(&a).expect("completed");
    assert_eq!(weight, Some(420.0));
    assert_eq!(items, [EAN, "SKU-2"]);
}

/// A long pseudo-random walk over every kind of input: the machine never panics, never has
/// two sessions, closes only what is open, and every session event names the open order.
#[test]
fn random_walk_keeps_the_invariants() {
    let mut m = machine_with(MachineConfig {
        idle_timeout_ms: 3_000,
        rescan_window_ms: 1_000,
        stable_for_ms: 100,
        ..MachineConfig::default()
    });
    let texts = [
        UPS,
        S10,
        USPS,
        EAN,
        "SKU-1",
        "PW-DONE",
        "PW-CANCEL",
        "PW-MODE-RETURNS",
        "PW-MODE-PACK",
        "",
        "\u{0}\u{1b}",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let mut at = 0i64;
    let mut opened = 0usize;
    let mut closed = 0usize;
    for _ in 0..20_000 {
        at += (next() % 700) as i64;
        let before = m.open_session().map(|s| s.id.clone());
        let actions = match next() % 4 {
            0 | 1 => scan(&mut m, texts[next() % texts.len()], at),
            2 => weigh(&mut m, (next() % 3) as f64 * 400.0, next() % 3 != 0, at),
            _ => m.handle(Input::Tick { at: Timestamp(at) }),
        };
        let mut open = before;
        for a in &actions {
            match a {
                Action::CloseSession { id, .. } => {
                    assert_eq!(open.as_ref(), Some(id), "closes only the open session");
                    open = None;
                    closed += 1;
                }
                Action::OpenSession { id, .. } => {
                    assert_eq!(open, None, "never two sessions");
                    open = Some(id.clone());
                    opened += 1;
                }
                Action::CaptureWeight { session_id, .. } => {
                    assert_eq!(open.as_ref(), Some(session_id));
                }
                _ => {}
            }
        }
        assert_eq!(open, m.open_session().map(|s| s.id.clone()));
    }
    assert!(
        opened > 100 && closed + 1 >= opened,
        "opened {opened}, closed {closed}"
    );
}
