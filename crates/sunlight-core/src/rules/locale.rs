//! The pack's locale (`[pack] locale`): which title of each rule is rendered, and how
//! money and windows read in it.
//!
//! | locale | title | `{sum:money}` of 1234567 cents | `{window}` of 30 days |
//! |---|---|---|---|
//! | `en` (default) | `title` | `12,345.67` | `30d` |
//! | `zh-CN` | `titles."zh-CN"` | `12,345.67元` | `30天` |

use crate::time::Duration;

/// A locale titles are rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// English (the `title` field).
    #[default]
    En,
    /// Simplified Chinese (`titles."zh-CN"`), money in yuan.
    ZhCn,
}

impl Locale {
    /// Every locale, as packs name them.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::ZhCn];

    /// The name packs use (`en`, `zh-CN`).
    pub fn name(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    /// The locale named `name`.
    pub fn parse(name: &str) -> Result<Locale, String> {
        Locale::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| format!("unknown locale {name:?} (en or zh-CN)"))
    }

    /// What follows an amount of money (`元` in Chinese, nothing in English).
    pub fn money_suffix(self) -> &'static str {
        match self {
            Locale::En => "",
            Locale::ZhCn => "元",
        }
    }

    /// A window length as this locale writes it (`30d`, `30天`).
    pub fn duration(self, d: Duration) -> String {
        let text = d.to_string();
        match self {
            Locale::En => text,
            Locale::ZhCn => {
                let split = text
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(text.len());
                let (number, unit) = text.split_at(split);
                let unit = match unit {
                    "d" => "天",
                    "h" => "小时",
                    "m" => "分钟",
                    "s" => "秒",
                    "ms" => "毫秒",
                    "us" => "微秒",
                    "ns" => "纳秒",
                    other => other,
                };
                format!("{number}{unit}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_in_each_locale() {
        let d = |s: &str| Duration::parse(s).unwrap();
        assert_eq!(Locale::En.duration(d("30d")), "30d");
        assert_eq!(Locale::ZhCn.duration(d("30d")), "30天");
        assert_eq!(Locale::ZhCn.duration(d("72h")), "3天");
        assert_eq!(Locale::ZhCn.duration(d("90m")), "90分钟");
        assert_eq!(Locale::ZhCn.duration(d("1500ms")), "1500毫秒");
        assert_eq!(Locale::ZhCn.duration(Duration::ZERO), "0秒");
        assert_eq!(Locale::parse("zh-CN"), Ok(Locale::ZhCn));
        assert_eq!(
            Locale::parse("zh"),
            Err("unknown locale \"zh\" (en or zh-CN)".into())
        );
    }
}
