//! Company names as the related-party check compares them. The same company is
//! written differently by different systems: full-width letters and brackets from
//! Chinese input methods, spaces and punctuation, and the legal form spelled out or
//! abbreviated (有限公司 / 有限责任公司, `Co., Ltd.` / `Limited`). [`normalize`] maps
//! every such spelling to one key:
//!
//! 1. full-width forms (U+FF01-U+FF5E) become their ASCII letters, digits and signs,
//!    and the ideographic space U+3000 a space;
//! 2. ASCII letters are lower-cased;
//! 3. a trailing legal form is dropped: Chinese 股份有限公司, 有限责任公司, 有限公司 or
//!    公司 at the end, and trailing Latin words `co`, `company`, `corp`,
//!    `corporation`, `inc`, `incorporated`, `limited`, `ltd`, `llc`, `plc`, `gmbh`
//!    (whole words only: `Tesco` keeps its `co`);
//! 4. whitespace and punctuation (ASCII and CJK: `.,()·、，。（）【】-&'"` ...) are
//!    removed.
//!
//! A name that would become empty (a name that is only a legal form) keeps its
//! letters: `Limited` is `limited`. Nothing else is changed: 集团 (group), branch
//! names (分公司) and place names stay, since they tell companies apart.

/// The Latin legal-form words dropped from the end of a name.
const LATIN_FORMS: [&str; 11] = [
    "co",
    "company",
    "corp",
    "corporation",
    "inc",
    "incorporated",
    "limited",
    "ltd",
    "llc",
    "plc",
    "gmbh",
];

/// The Chinese legal forms dropped from the end of a name (longest first).
const CHINESE_FORMS: [&str; 4] = ["股份有限公司", "有限责任公司", "有限公司", "公司"];

/// The comparison key of a company name (module docs).
pub fn normalize(name: &str) -> String {
    // 1 and 2: one folded character per input character; words split at anything
    // that is not a letter, a digit or a CJK character.
    let folded: String = name
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => {
                char::from_u32(c as u32 - 0xFEE0).expect("full-width forms map to ASCII")
            }
            '\u{3000}' => ' ',
            _ => c,
        })
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let letters = words.concat();
    // 3: legal forms at the end, Latin words then a Chinese suffix (`华兴 Co., Ltd.`
    // and `华兴有限公司` both end up as `华兴`).
    while words.len() > 1 && words.last().is_some_and(|w| LATIN_FORMS.contains(w)) {
        words.pop();
    }
    let mut key = words.concat();
    if let Some(form) = CHINESE_FORMS.iter().find(|f| key.ends_with(*f)) {
        key.truncate(key.len() - form.len());
    }
    if key.is_empty() { letters } else { key }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_spellings_of_one_company_meet() {
        for (a, b) in [
            ("华兴建材有限公司", "华兴建材有限责任公司"),
            ("华兴建材有限公司", "华兴建材 有限公司"),
            ("华兴建材有限公司", "华兴建材公司"),
            (
                "明达（杭州）信息技术股份有限公司",
                "明达(杭州)信息技术有限公司",
            ),
            ("Qingshan Trading Co., Ltd.", "QINGSHAN TRADING CO LTD"),
            ("Qingshan Trading Co., Ltd.", "Qingshan Trading Limited"),
            (
                "Qingshan Trading Co., Ltd.",
                "Ｑｉｎｇｓｈａｎ　Ｔｒａｄｉｎｇ　Ｃｏ．，Ｌｔｄ．",
            ),
            ("Hengtong Construction Ltd.", "Hengtong  Construction"),
            ("Mingda-Consulting Inc", "mingda consulting"),
        ] {
            assert_eq!(normalize(a), normalize(b), "{a} / {b}");
        }
        assert_eq!(normalize("华兴建材有限公司"), "华兴建材");
        assert_eq!(normalize("Qingshan Trading Co., Ltd."), "qingshantrading");
    }

    #[test]
    fn different_companies_stay_apart() {
        for (a, b) in [
            ("华兴建材有限公司", "华兴建材集团有限公司"),
            ("华兴建材有限公司", "华兴建材有限公司杭州分公司"),
            ("Tesco", "Tes"),
            ("Ltd Holdings", "Holdings"),
            ("Acme 1", "Acme 2"),
        ] {
            assert_ne!(normalize(a), normalize(b), "{a} / {b}");
        }
        assert_eq!(normalize("Tesco"), "tesco");
        assert_eq!(
            normalize("Limited"),
            "limited",
            "a name that is only a form"
        );
        assert_eq!(normalize("有限公司"), "有限公司");
        assert_eq!(normalize(""), "");
    }

    proptest! {
        /// Any text at all normalizes, without a panic.
        #[test]
        fn any_text_normalizes(name in "\\PC{0,40}") {
            let _ = normalize(&name);
        }

        #[test]
        fn spacing_case_and_width_never_matter(core in "[a-z]{1,8}( [a-z]{1,8}){0,3}") {
            let shouted = core.to_ascii_uppercase().replace(' ', "  ");
            let wide: String = core
                .chars()
                .map(|c| if c == ' ' { '\u{3000}' } else { char::from_u32(c as u32 + 0xFEE0).unwrap() })
                .collect();
            prop_assert_eq!(normalize(&shouted), normalize(&core));
            prop_assert_eq!(normalize(&wide), normalize(&core));
            prop_assert_eq!(normalize(&format!("{core} Co., Ltd.")), normalize(&core));
        }
    }
}
