//! The parity pack (`examples/rules/parity.toml`) against a brute-force SQL-OVER
//! reference on 100,000+ generated events: in time order, and shuffled within the
//! allowed lateness with repeated event ids. `sunlight replay` must print exactly
//! the reference's warnings (all fields but `detected_at`) in both cases.

use std::io::Write;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use sunlight_core::PowerEvent;
use sunlight_core::time::{Duration, Timestamp};
use sunlight_gen::{GenConfig, Generator};

use crate::support::{expected_json, json_lines, repo, sunlight, without_detected_at};

fn write(events: &[PowerEvent], path: &std::path::Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    sunlight_gen::write_json_lines(events.iter().cloned(), &mut out).unwrap();
    out.flush().unwrap();
}

fn replay(input: &std::path::Path) -> Vec<serde_json::Value> {
    let out = sunlight()
        .args(["replay", "--quiet", "--allowed-lateness", "1m", "--rules"])
        .arg(repo("examples/rules/parity.toml"))
        .arg("--input")
        .arg(input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    without_detected_at(json_lines(&String::from_utf8(out.stdout).unwrap()))
}

#[test]
fn replay_equals_brute_force_on_100k_events_in_order_and_shuffled() {
    let config = GenConfig {
        events: 100_000,
        officials: 1_000,
        days: 30,
        seed: 42,
        scenario_every: 2,
        ..GenConfig::default()
    };
    let in_order: Vec<PowerEvent> = Generator::new(config).collect();
    assert!(in_order.len() >= 100_000);

    // Arrival order: each event delayed by up to 59 s (inside the 1 min lateness),
    // and 2% of events delivered a second time, up to 59 s later.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut arrivals: Vec<(i64, usize, PowerEvent)> = Vec::with_capacity(in_order.len() * 2);
    for (i, e) in in_order.iter().enumerate() {
        let copies = if rng.random_bool(0.02) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = rng.random_range(0..59_000_000_000i64);
            arrivals.push((e.occurred_at.0 + delay, i, e.clone()));
        }
    }
    arrivals.sort_by_key(|(a, i, _)| (*a, *i));
    let shuffled: Vec<PowerEvent> = arrivals.into_iter().map(|(_, _, e)| e).collect();
    let displaced = shuffled
        .windows(2)
        .filter(|w| w[1].occurred_at < w[0].occurred_at)
        .count();
    assert!(
        displaced > 10_000,
        "the shuffle must really reorder: {displaced}"
    );

    let pack =
        Arc::new(sunlight_core::CompiledPack::load(&repo("examples/rules/parity.toml")).unwrap());
    let lateness = Duration::from_secs(60);
    let reference =
        sunlight_core::reference_model::evaluate(&pack, &in_order, lateness, Timestamp(0));
    let want = expected_json(&reference);
    for rule in ["payment-burst", "split-payment"] {
        let n = want.iter().filter(|w| w["rule_id"] == rule).count();
        assert!(
            n >= 20,
            "{rule} fires only {n} times: the workload would not test it"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("in-order.jsonl"),
        dir.path().join("shuffled.jsonl"),
    );
    write(&in_order, &a);
    write(&shuffled, &b);
    assert_eq!(replay(&a), want, "time-ordered input");
    assert_eq!(replay(&b), want, "shuffled input with duplicates");
}
