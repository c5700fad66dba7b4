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
        text.starts_with("ok: pack `default` version 2026.11.1: 15 rules (aggregate 8, baseline 1, predicate 2, ratio 2, related_party 1, sequence 1), longest window 3650d"),
        "{text}"
    );
    assert!(text.contains("relations: 3 declared"), "{text}");
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
