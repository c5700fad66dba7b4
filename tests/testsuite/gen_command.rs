//! `sunlight gen`: deterministic output, JSON and protobuf carry the same events.

use crate::support::sunlight;

#[test]
fn same_seed_same_file_and_formats_agree() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["gen", "--events", "500", "--officials", "40", "--seed", "3"];
    let a = sunlight().args(args).output().unwrap().stdout;
    let b = sunlight().args(args).output().unwrap().stdout;
    assert_eq!(a, b);
    let text = String::from_utf8(a).unwrap();
    // 500 background events plus one scenario per 10 officials (4 scenarios).
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 500, "{}", lines.len());
    let pb = dir.path().join("events.pb");
    sunlight()
        .args(args)
        .arg("--output")
        .arg(&pb)
        .assert()
        .success();
    let data = std::fs::read(&pb).unwrap();
    let limits = sunlight_core::codec::DecodeLimits::default();
    let decoded: Vec<_> = sunlight_core::codec::protobuf::LengthDelimited::new(&data, 1 << 20)
        .map(|(_, r)| {
            sunlight_core::codec::protobuf::decode(r.unwrap(), &limits)
                .unwrap()
                .0
        })
        .collect();
    assert_eq!(decoded.len(), lines.len());
    for (line, event) in lines.iter().zip(&decoded) {
        let (mut from_json, _) =
            sunlight_core::codec::json::decode(line.as_bytes(), &limits).unwrap();
        from_json.attributes.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(&from_json, event);
    }
}

#[test]
fn rejects_bad_arguments() {
    sunlight()
        .args(["gen", "--duplicates", "1.5"])
        .assert()
        .code(1);
    sunlight()
        .args(["gen", "--officials", "0"])
        .assert()
        .code(1);
    sunlight()
        .args(["gen", "--disorder", "soon"])
        .assert()
        .code(2);
    // A publishing rate needs a topic to publish to.
    sunlight().args(["gen", "--rate", "5"]).assert().code(2);
}
