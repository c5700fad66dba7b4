//! Rule pack compilation: every shipped pack compiles, and mistakes are reported by
//! rule id and field, all at once.

use std::path::Path;

use sunlight_core::rules::{PackError, compile_pack};

fn errors(text: &str) -> Vec<String> {
    match compile_pack(text, Path::new("."), "test.toml") {
        Ok(_) => panic!("pack should be rejected"),
        Err(PackError::Invalid { errors, .. }) => errors.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

const HEADER: &str = "[pack]\nname = \"t\"\nversion = \"1\"\n";

#[test]
fn shipped_packs_compile() {
    for file in ["rules/default.toml", "examples/rules/parity.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(file);
        let pack = sunlight_core::CompiledPack::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!pack.rules.is_empty());
    }
}

#[test]
fn reports_every_error_with_rule_and_field() {
    let text = format!(
        r#"{HEADER}
[[rule]]
id = "a"
version = 1
kind = "aggregate"
title = "{{count}} and {{sum}}"
window = "1 week"
yellow = {{ count = "at least 5", colour = "> 1" }}
filter = {{ amount = 5 }}
baseline = "10d"

[[rule]]
id = "a"
version = 1
kind = "predicate"
title = "x"
level = "orange"
"#
    );
    let got = errors(&text);
    let expected = [
        "rule `a`, field `baseline`: does not apply to `aggregate` rules",
        "rule `a`, field `window`: `1 week`: missing unit",
        "rule `a`, field `filter`: `filter.amount`: unknown field `amount`",
        "rule `a`, field `yellow.colour`: this rule has no measure `colour` (it has: count)",
        "rule `a`, field `yellow.count`: \"at least 5\" must start with",
        "rule `a`, field `title`: unknown placeholder `{sum}` (this rule knows: count,",
        "rule `a`, field `id`: duplicate rule id `a`",
        "rule `a`, field `level`: `orange` is not a level (yellow or red)",
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (got, want) in got.iter().zip(expected) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn kind_specific_requirements() {
    let rule =
        |body: &str| format!("{HEADER}[[rule]]\nid = \"r\"\nversion = 1\ntitle = \"t\"\n{body}\n");
    let cases = [
        (
            "kind = \"aggregate\"\nyellow = { count = \">= 1\" }",
            "field `window`: `aggregate` rules need a window",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"1h\"",
            "field `yellow`: give `yellow` and/or `red` conditions",
        ),
        (
            "kind = \"ratio\"\nwindow = \"1h\"\nyellow = { ratio = \">= 1\" }",
            "field `numerator`: `ratio` rules need a numerator",
        ),
        (
            "kind = \"baseline\"\nwindow = \"1h\"\nyellow = { ratio = \">= 1\" }",
            "field `baseline`: `baseline` rules need a baseline period",
        ),
        (
            "kind = \"sequence\"\nwindow = \"1h\"\nthen = {}\nred = { count = \">= 1\" }",
            "field `first`: `sequence` rules need a `first`",
        ),
        (
            "kind = \"predicate\"",
            "field `level`: `predicate` rules need level",
        ),
        (
            "kind = \"predicate\"\nlevel = \"red\"\nwindow = \"1h\"",
            "field `window`: does not apply to `predicate` rules",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"1h\"\nmeasures = { sum = \"amount_cents\", max = \"attributes.x\" }\nyellow = { sum = \">= 1\" }",
            "field `measures`: sum, avg, min, max and spread must all name the same field",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"1h\"\ngroup_by = [\"official_id\"]\nyellow = { count = \">= 1\" }",
            "field `group_by[0]`: official_id is always part of the key",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"0s\"\nyellow = { count = \">= 1\" }",
            "field `window`: must be longer than zero",
        ),
        (
            "kind = \"related_party\"\nlevel = \"red\"",
            "rule `reference`, field `relations`: a related_party rule needs",
        ),
    ];
    for (body, want) in cases {
        let got = errors(&rule(body));
        assert!(
            got.iter().any(|g| g.contains(want)),
            "{body}\n=> {got:#?}\nwanted {want}"
        );
    }
}

#[test]
fn syntax_errors_carry_the_position() {
    let got = errors("[pack]\nname = \"t\"\nversion = \"1\"\ntimezone = 8\n");
    assert!(
        got[0].contains("test.toml is not a valid rule pack"),
        "{got:?}"
    );
    assert!(got[0].contains("line 4"), "{got:?}");
    let unknown = errors(&format!(
        "{HEADER}[[rule]]\nid = \"r\"\nversion = 1\ntitle = \"t\"\nkind = \"predicate\"\nlevel = \"red\"\ncolour = \"blue\"\n"
    ));
    assert!(unknown[0].contains("unknown field `colour`"), "{unknown:?}");
}

#[test]
fn rejects_clashing_keys_and_type_mismatches_and_ignores_disabled_rules() {
    let rule =
        |body: &str| format!("{HEADER}[[rule]]\nid = \"r\"\nversion = 1\ntitle = \"t\"\n{body}\n");
    let cases = [
        (
            "kind = \"aggregate\"\nwindow = \"1h\"\ngroup_by = [\"counterparty\", \"attributes.counterparty\"]\nyellow = { count = \">= 1\" }",
            "field `group_by`: two key fields are both named `counterparty`",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"1h\"\ngroup_by = [\"attributes.count\"]\nyellow = { count = \">= 1\" }",
            "would clash with the built-in `count`",
        ),
        (
            "kind = \"aggregate\"\nwindow = \"1h\"\nmeasures = { sum = \"counterparty\" }\nyellow = { sum = \">= 1\" }",
            "`counterparty` is a text field",
        ),
        (
            "kind = \"related_party\"\nfield = \"amount_cents\"\nlevel = \"red\"",
            "`amount_cents` is not a text field",
        ),
        (
            "kind = \"baseline\"\nwindow = \"36500d\"\nbaseline = \"36500d\"\nyellow = { count = \">= 1\" }",
            "window + baseline must not exceed",
        ),
    ];
    for (body, want) in cases {
        let got = errors(&rule(body));
        assert!(
            got.iter().any(|g| g.contains(want)),
            "{body}\n=> {got:#?}\nwanted {want}"
        );
    }
    let disabled = rule(
        "kind = \"aggregate\"\nenabled = false\nwindow = \"3650d\"\nyellow = { count = \">= 1\" }",
    );
    let pack = compile_pack(&disabled, Path::new("."), "t").unwrap();
    assert!(pack.rules.is_empty());
    assert_eq!(
        pack.retention(),
        sunlight_core::time::Duration::ZERO,
        "a disabled rule keeps no window"
    );
    let broken_but_disabled = rule(
        "kind = \"aggregate\"\nenabled = false\nwindow = \"soon\"\nyellow = { count = \">= 1\" }",
    );
    assert!(
        errors(&broken_but_disabled)[0].contains("field `window`"),
        "disabled rules are still validated"
    );
}

#[test]
fn reference_tables_and_rules_are_checked_with_the_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("deaths.csv"),
        "person_id,registered_on\nP1,2025-10-14\nP2,soon\nP3,\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("dup.csv"), "id,x\nA,1\nB,2\nA,3\n").unwrap();
    let pack = format!(
        "{HEADER}[reference.tables.deaths]\nfile = \"deaths.csv\"\nkey = \"person_id\"\n\
         [reference.tables.dup]\nfile = \"dup.csv\"\nkey = \"id\"\n\
         [reference.tables.missing]\nfile = \"nowhere.csv\"\nkey = \"id\"\n\
         [[rule]]\nid = \"dates\"\nversion = 1\nkind = \"reference\"\ntitle = \"{{registered}}\"\nlevel = \"red\"\ntable = \"deaths\"\nafter = {{ column = \"registered_on\", by = \"30d\" }}\n\
         [[rule]]\nid = \"column\"\nversion = 1\nkind = \"reference\"\ntitle = \"{{registered_on}}\"\nlevel = \"red\"\ntable = \"deaths\"\nafter = {{ column = \"died\" }}\n\
         [[rule]]\nid = \"no-table\"\nversion = 1\nkind = \"reference\"\ntitle = \"t\"\nlevel = \"red\"\n\
         [[rule]]\nid = \"unknown\"\nversion = 1\nkind = \"reference\"\ntitle = \"t\"\nlevel = \"red\"\ntable = \"births\"\n\
         [[rule]]\nid = \"broken\"\nversion = 1\nkind = \"reference\"\ntitle = \"t\"\nlevel = \"red\"\ntable = \"missing\"\n\
         [[rule]]\nid = \"wrong-kind\"\nversion = 1\nkind = \"predicate\"\ntitle = \"t\"\nlevel = \"red\"\ntable = \"deaths\"\n"
    );
    let got = match compile_pack(&pack, dir.path(), "test.toml") {
        Err(PackError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let dup = dir.path().join("dup.csv");
    let missing = dir.path().join("nowhere.csv");
    assert_eq!(
        got,
        [
            format!("rule `reference`, field `tables.dup`: {}:4: key \"A\" appears again (first on line 2)", dup.display()),
            format!("rule `reference`, field `tables.missing`: cannot read reference table file {}: No such file or directory (os error 2)", missing.display()),
            "rule `dates`, field `after.column`: 2 row(s) of table `deaths` have no date in `registered_on`, e.g. key \"P2\": \"soon\" is neither a date (YYYY-MM-DD) nor an RFC 3339 time".to_string(),
            "rule `dates`, field `title`: unknown placeholder `{registered}` (this rule knows: count, counterparty, official_id, rule_id, level, window, person_id, registered_on)".to_string(),
            "rule `column`, field `after.column`: table `deaths` has no column `died` (it has person_id, registered_on)".to_string(),
            "rule `no-table`, field `table`: `reference` rules need table = \"NAME\" (a [reference.tables.NAME])".to_string(),
            "rule `unknown`, field `table`: no table `births` in [reference.tables] (declared: deaths, dup, missing)".to_string(),
            "rule `wrong-kind`, field `table`: does not apply to `predicate` rules".to_string(),
        ]
    );
}

#[test]
fn before_date_and_keyed_denominators_are_checked_with_the_rule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("moves.csv"),
        "official_id,leaves_on,note,decided\nO1,2026-09-30,transfer,2026-06-01\nO2,2027-01-31,,later\n",
    )
    .unwrap();
    let gated = |id: &str, kind: &str, gate: &str| {
        let extra = match kind {
            "aggregate" => "window = \"30d\"\nyellow = { count = \">= 1\" }\n",
            _ => "level = \"red\"\n",
        };
        format!(
            "[[rule]]\nid = \"{id}\"\nversion = 1\nkind = \"{kind}\"\ntitle = \"{{note}}\"\n{extra}before_date = {gate}\n"
        )
    };
    let pack = format!(
        "{HEADER}[reference.tables.moves]\nfile = \"moves.csv\"\nkey = \"official_id\"\n{}{}{}{}{}{}\
         [[rule]]\nid = \"keyed\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1d\"\nyellow = {{ count = \">= 1\" }}\ndenominator_keyed = true\n\
         [[rule]]\nid = \"keyed-alone\"\nversion = 1\nkind = \"ratio\"\ntitle = \"t\"\nwindow = \"1d\"\nnumerator = {{}}\nyellow = {{ ratio = \">= 1\" }}\ndenominator_keyed = true\n",
        gated(
            "bad-date",
            "aggregate",
            "{ table = \"moves\", column = \"decided\", within = \"90d\" }"
        ),
        gated(
            "no-column",
            "aggregate",
            "{ table = \"moves\", column = \"left\", within = \"90d\" }"
        ),
        gated(
            "no-table",
            "aggregate",
            "{ table = \"exits\", column = \"leaves_on\", within = \"90d\" }"
        ),
        gated(
            "within",
            "aggregate",
            "{ table = \"moves\", column = \"leaves_on\", within = \"0s\", field = \"amount_cents\" }"
        ),
        gated(
            "wrong-kind",
            "related_party",
            "{ table = \"moves\", column = \"leaves_on\", within = \"90d\" }"
        ),
        gated(
            "unknown-key",
            "aggregate",
            "{ table = \"moves\", column = \"leaves_on\", since = \"90d\" }"
        ),
    );
    let got = match compile_pack(&pack, dir.path(), "test.toml") {
        Err(PackError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        Err(PackError::Syntax { message, .. }) => vec![message],
        other => panic!("{other:?}"),
    };
    // An unknown key inside `before_date` is a syntax error, with its line.
    assert!(got[0].contains("unknown field `since`"), "{got:?}");
    let pack = pack.replace("since = ", "within = ");
    let got = match compile_pack(&pack, dir.path(), "test.toml") {
        Err(PackError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        got,
        [
            "rule `bad-date`, field `before_date.column`: 1 row(s) of table `moves` have no date in `decided`, e.g. key \"O2\": \"later\" is neither a date (YYYY-MM-DD) nor an RFC 3339 time",
            "rule `no-column`, field `before_date.column`: table `moves` has no column `left` (it has official_id, leaves_on, note, decided)",
            "rule `no-table`, field `before_date.table`: no table `exits` in [reference.tables] (declared: moves)",
            "rule `within`, field `before_date.field`: `amount_cents` is not a text field to look up",
            "rule `within`, field `before_date.within`: must be longer than zero",
            "rule `wrong-kind`, field `before_date`: does not apply to `related_party` rules",
            "rule `keyed`, field `denominator_keyed`: does not apply to `aggregate` rules",
            "rule `keyed-alone`, field `denominator_keyed`: keys the denominator by `group_by`: give group_by too",
        ]
    );
}

#[test]
fn titles_are_rendered_in_the_packs_locale_and_every_locale_is_checked() {
    use sunlight_core::time::Duration;
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml"),
    )
    .unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let events = [
        crate::common::Ev::new("p1", "o", "payment", 0)
            .to("C")
            .amount(4_712_345)
            .build(),
        crate::common::Ev::new("p2", "o", "payment", 3_600)
            .to("C")
            .amount(4_623_456)
            .build(),
    ];
    let title = |text: &str| {
        let pack = std::sync::Arc::new(compile_pack(text, &rules, "default").unwrap());
        let got = crate::common::run(&pack, &events, Duration::from_secs(60));
        got.iter()
            .find(|w| w.rule_id == "split-payment")
            .unwrap()
            .title
            .clone()
    };
    assert_eq!(
        title(&default),
        "2 payments to C each just under 50,000.00, 93,358.01 in 30d"
    );
    assert_eq!(
        title(&default.replacen("locale = \"en\"", "locale = \"zh-CN\"", 1)),
        "30天内向C支付2笔、每笔略低于50,000.00元，合计93,358.01元"
    );

    let rule = "[[rule]]\nid = \"r\"\nversion = 1\nkind = \"predicate\"\nlevel = \"red\"\ntitle = \"{count}\"\n";
    assert_eq!(
        errors(&format!("{}locale = \"fr\"\n{rule}", HEADER)),
        ["rule `pack`, field `locale`: unknown locale \"fr\" (en or zh-CN)"]
    );
    assert_eq!(
        errors(&format!("{}locale = \"zh-CN\"\n{rule}", HEADER)),
        ["rule `r`, field `titles`: the pack's locale is zh-CN: give titles.\"zh-CN\""]
    );
    assert_eq!(
        errors(&format!(
            "{HEADER}{rule}titles.\"zh-CN\" = \"{{sum}}\"\ntitles.en = \"x\"\ntitles.de = \"y\"\n"
        )),
        [
            "rule `r`, field `titles.de`: unknown locale \"de\" (en or zh-CN)",
            "rule `r`, field `titles.en`: the English title is `title`",
            "rule `r`, field `titles.zh-CN`: unknown placeholder `{sum}` (this rule knows: count, official_id, rule_id, level, window)",
        ]
    );
}

#[test]
fn entity_keys_are_checked_with_the_rule_and_field() {
    let rule = |id: &str, kind: &str, extra: &str| {
        format!(
            "[[rule]]\nid = \"{id}\"\nversion = 1\nkind = \"{kind}\"\ntitle = \"t\"\nwindow = \"1d\"\nyellow = {{ count = \">= 2\" }}\n{extra}\n"
        )
    };
    let pack = format!(
        "{HEADER}{}{}{}{}",
        rule("official", "aggregate", "key = [\"official_id\"]"),
        rule(
            "twice",
            "aggregate",
            "key = [\"counterparty\"]\ngroup_by = [\"counterparty\"]"
        ),
        rule("unknown", "aggregate", "key = [\"payee\"]"),
        rule(
            "sequence",
            "sequence",
            "key = [\"counterparty\"]\nfirst = { kind = \"a\" }\nthen = { kind = \"b\" }\non = [\"counterparty\"]"
        ),
    );
    assert_eq!(
        errors(&pack),
        [
            "rule `official`, field `key[0]`: leave `key` out to key the rule by official_id",
            "rule `twice`, field `group_by[0]`: is already in `key`; list it once",
            "rule `unknown`, field `key[0]`: unknown field `payee` (use counterparty, region, org_unit, kind, attributes.NAME, ...)",
            "rule `sequence`, field `key`: does not apply to `sequence` rules",
        ]
    );
    let no_copies = format!(
        "[pack]\nname = \"t\"\nversion = \"1\"\nevidence_copies = false\n{}",
        rule("no-copies", "aggregate", "key = [\"counterparty\"]")
    );
    assert_eq!(
        errors(&no_copies),
        [
            "rule `no-copies`, field `key`: an entity-keyed rule names the officials of its evidence from the evidence copies; set [pack] evidence_copies = true"
        ]
    );
    // A valid one compiles, and the pack lists it with its key as written.
    let ok = format!(
        "{HEADER}{}",
        rule(
            "by-invoice",
            "aggregate",
            "key = [\"counterparty\", \"attributes.invoice_no\"]"
        )
    );
    let pack = compile_pack(&ok, Path::new("."), "ok.toml").unwrap();
    assert_eq!(
        pack.entity_keyed_rules(),
        [("by-invoice", "counterparty,attributes.invoice_no")]
    );
}
