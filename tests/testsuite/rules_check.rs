//! `sunlight rules check`.

use crate::support::{repo, sunlight};

#[test]
fn accepts_the_shipped_packs() {
    let out = sunlight()
        .args(["rules", "check"])
        .arg(repo("rules/default.toml"))
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.starts_with("ok: pack `default` version 2026.12.2: 24 rules (absence 1, aggregate 12, baseline 2, predicate 3, ratio 3, reference 1, related_party 1, sequence 1), longest window 3650d"),
        "{text}"
    );
    // The rules keyed by an entity are named, with their keys, and what they need.
    for line in [
        "  duplicate-payment           v2   aggregate  keyed by counterparty,attributes.invoice_no\n",
        "  contract-inflation          v2   aggregate  keyed by attributes.contract_id\n",
        "  exclusive-benefits          v2   aggregate  keyed by counterparty\n",
        "  fuel-shared-vehicle         v1   aggregate  keyed by attributes.vehicle\n",
        "  split-payment               v1   aggregate\n",
        // A rule that fires only before a reference table's date says so.
        "  promotions-before-departure v1   baseline  fires within 90d before departures.leaves_on\n",
        "\n5 rules keyed by an entity, not the official, need every official's events in one engine: ",
        // The lanes to run them in on several instances.
        "`sunlight run --lane KEY`.\n  lane attributes.contract_id\n  lane attributes.vehicle\n  lane counterparty\n  lane counterparty,attributes.invoice_no\n",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(
        text.contains("\ntitles in en\nrelations: 3 declared\n"),
        "{text}"
    );
    let table = format!(
        "table deaths: 3 rows from {} (columns person_id, registered_on, registry)",
        repo("rules/default.toml")
            .parent()
            .unwrap()
            .join("deaths.csv")
            .display()
    );
    assert!(text.contains(&table), "{text}");
    sunlight()
        .args(["rules", "check"])
        .arg(repo("examples/rules/parity.toml"))
        .assert()
        .success();
}

#[test]
fn rejects_a_broken_pack_naming_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("bad.toml");
    std::fs::write(
        &pack,
        "[pack]\nname = \"x\"\nversion = \"1\"\n\n[[rule]]\nid = \"burst\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"{count}\"\nwindow = \"24 hours\"\nyellow = { count = \">= 5\" }\n",
    )
    .unwrap();
    let out = sunlight()
        .args(["rules", "check"])
        .arg(&pack)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("has 1 error(s)"), "{err}");
    assert!(
        err.contains("rule `burst`, field `window`: `24 hours`: missing unit"),
        "{err}"
    );
}
