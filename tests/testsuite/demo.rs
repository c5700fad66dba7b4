//! `sunlight demo`: the embedded broker, the simulated source systems and the live
//! engine in one process print exactly the warnings a replay of the same simulated
//! events gives.

use crate::support::{repo, sunlight};

#[test]
fn demo_prints_the_warnings_a_replay_of_the_same_activity_gives() {
    let simulated = ["--events", "2000", "--officials", "60", "--seed", "11"];
    let generated = sunlight()
        .args(["gen", "--scenario-every", "10"])
        .args(simulated)
        .output()
        .unwrap();
    let replayed = sunlight()
        .args(["replay", "--quiet", "--input", "-", "--rules"])
        .arg(repo("rules/default.toml"))
        .write_stdin(generated.stdout.clone())
        .output()
        .unwrap();
    let expected = String::from_utf8(replayed.stdout).unwrap().lines().count();
    assert!(expected >= 5, "{expected}");
    let events = String::from_utf8(generated.stdout).unwrap().lines().count();

    let out = sunlight()
        .current_dir(repo(""))
        .args(["demo", "--rate", "20000", "--duration", "20s"])
        .args(["--http-addr", "127.0.0.1:0"])
        .args(simulated)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("embedded Kafka-protocol broker (librdkafka mock cluster): 127.0.0.1:"),
        "{stdout}"
    );
    let printed = stdout
        .lines()
        .filter(|l| l.starts_with("[RED") || l.starts_with("[YELLOW"))
        .count();
    assert_eq!(printed, expected, "{stdout}");
    let summary = format!(
        "stopped: published {events} events; engine consumed {events}, produced {expected} warnings and 0 dead letters; {expected} warnings printed"
    );
    assert!(stdout.contains(&summary), "{stdout}");
}
