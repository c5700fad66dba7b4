//! Title templates: `"{count} payments to {counterparty} totalling {sum:money}"`.
//!
//! Placeholders: the rule's measures (`{count}`, `{sum}`, ...; `{NAME:money}` prints
//! minor units as `12,345.67`, `{NAME:percent}` a fraction as `4.1%`), `{official_id}`, `{rule_id}`, `{level}`, `{window}`,
//! the rule's key fields (`{counterparty}`, or an attribute's bare name), and
//! the extra values of the rule kind: `{relation}` in `related_party` rules, the
//! table's columns in `reference` rules. `{{` and `}}` print braces.

use super::locale::Locale;
use super::measure::{Level, Measure, MeasureValue};

/// How a measure is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// As it is (`3`, `0.25`).
    Plain,
    /// Minor units as `12,345.67`.
    Money,
    /// A fraction as a percentage with one decimal (`0.041` as `4.1%`).
    Percent,
}

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Measure(usize, Format),
    Official,
    RuleId,
    Level,
    Window,
    Key(usize),
    Extra(usize),
}

/// A compiled title template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// The text as written in the pack.
    source: String,
    /// How money is written (`12,345.67` or `12,345.67元`).
    locale: Locale,
}

/// What a template can refer to while rendering.
pub struct TemplateContext<'a> {
    /// The rule id.
    pub rule_id: &'a str,
    /// The official.
    pub official_id: &'a str,
    /// The level reached.
    pub level: Level,
    /// The window length, as text.
    pub window: &'a str,
    /// Key values, in the rule's key-field order.
    pub key: &'a [(&'a str, &'a str)],
    /// Measure values, in the rule's measure order.
    pub measures: &'a [MeasureValue],
    /// The extra values, in the order of the names the template was compiled with
    /// (a `related_party` rule's relation, a `reference` rule's row).
    pub extras: &'a [&'a str],
}

impl Template {
    /// The template as written in the pack.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Compiles `text` for a rule with these measures, key field names and extra
    /// value names.
    pub fn compile(
        text: &str,
        measures: &[Measure],
        key_names: &[&str],
        extra_names: &[&str],
    ) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` at byte {i}; write `}}}}` for a brace"
                    ));
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest
                        .find('}')
                        .ok_or_else(|| format!("unclosed `{{` at byte {i}"))?;
                    let spec = &rest[..end];
                    for _ in 0..spec.chars().count() + 1 {
                        chars.next();
                    }
                    let (name, format) = match spec.split_once(':') {
                        Some((name, "money")) => (name, Format::Money),
                        Some((name, "percent")) => (name, Format::Percent),
                        Some((_, other)) => {
                            return Err(format!(
                                "`{{{spec}}}`: unknown format `{other}` (`money` or `percent`)"
                            ));
                        }
                        None => (spec, Format::Plain),
                    };
                    let piece = if let Some(m) = measures.iter().position(|m| m.name() == name) {
                        Piece::Measure(m, format)
                    } else if format != Format::Plain {
                        return Err(format!("`{{{spec}}}`: a format applies to measures only"));
                    } else if let Some(k) = key_names.iter().position(|k| *k == name) {
                        Piece::Key(k)
                    } else if let Some(x) = extra_names.iter().position(|x| *x == name) {
                        Piece::Extra(x)
                    } else {
                        match name {
                            "official_id" => Piece::Official,
                            "rule_id" => Piece::RuleId,
                            "level" => Piece::Level,
                            "window" => Piece::Window,
                            _ => {
                                let mut known: Vec<&str> =
                                    measures.iter().map(|m| m.name()).collect();
                                known.extend(key_names);
                                known.extend(["official_id", "rule_id", "level", "window"]);
                                known.extend(extra_names);
                                return Err(format!(
                                    "unknown placeholder `{{{name}}}` (this rule knows: {})",
                                    known.join(", ")
                                ));
                            }
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(piece);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template {
            pieces,
            source: text.to_string(),
            locale: Locale::En,
        })
    }

    /// The same template, rendering money for `locale`.
    pub fn in_locale(mut self, locale: Locale) -> Template {
        self.locale = locale;
        self
    }

    /// Renders the title.
    pub fn render(&self, ctx: &TemplateContext<'_>) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Measure(i, Format::Plain) => {
                    let _ = write!(out, "{}", ctx.measures[*i]);
                }
                Piece::Measure(i, Format::Money) => {
                    write_money(&mut out, ctx.measures[*i]);
                    out.push_str(self.locale.money_suffix());
                }
                Piece::Measure(i, Format::Percent) => {
                    let _ = write!(out, "{:.1}%", ctx.measures[*i].as_f64() * 100.0);
                }
                Piece::Official => out.push_str(ctx.official_id),
                Piece::RuleId => out.push_str(ctx.rule_id),
                Piece::Level => out.push_str(ctx.level.name()),
                Piece::Window => out.push_str(ctx.window),
                Piece::Key(i) => out.push_str(ctx.key.get(*i).map_or("", |k| k.1)),
                Piece::Extra(i) => out.push_str(ctx.extras.get(*i).copied().unwrap_or("")),
            }
        }
        out
    }
}

/// Minor units as `1,234,567.89`.
fn write_money(out: &mut String, value: MeasureValue) {
    let cents = match value {
        MeasureValue::Int(v) => i128::from(v),
        MeasureValue::Float(v) => v.round() as i128,
    };
    if cents < 0 {
        out.push('-');
    }
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out.push('.');
    out.push_str(&format!("{:02}", cents % 100));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_placeholder() {
        let t = Template::compile(
            "{{{rule_id}}} {level}: {count} to {counterparty} = {sum:money} in {window} by {official_id}",
            &[Measure::Count, Measure::Sum],
            &["counterparty"],
            &[],
        )
        .unwrap();
        let title = t.render(&TemplateContext {
            rule_id: "split",
            official_id: "o1",
            level: Level::Red,
            window: "7d",
            key: &[("counterparty", "C9")],
            measures: &[MeasureValue::Int(2), MeasureValue::Int(-123_456_789)],
            extras: &[],
        });
        assert_eq!(title, "{split} red: 2 to C9 = -1,234,567.89 in 7d by o1");
    }

    #[test]
    fn rejects_unknown_placeholders() {
        let err = Template::compile("{sum}", &[Measure::Count], &[], &[]).unwrap_err();
        assert!(err.contains("unknown placeholder `{sum}`"), "{err}");
        assert!(err.contains("count"), "{err}");
        assert!(Template::compile("{count", &[Measure::Count], &[], &[]).is_err());
        assert!(Template::compile("x}", &[Measure::Count], &[], &[]).is_err());
        assert!(Template::compile("{count:pct}", &[Measure::Count], &[], &[]).is_err());
        assert!(Template::compile("{relation}", &[Measure::Count], &[], &[]).is_err());
    }
}
