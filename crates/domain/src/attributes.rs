//! Typed custom attributes merchants define for their followers: the kinds, the keys and
//! how a value is read from text (forms, CSV) and written back.

use crate::validate::{invalid, Invalid};
use chrono::NaiveDate;

/// What kind of value an attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Date,
    Bool,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Text, Kind::Number, Kind::Date, Kind::Bool];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Result<Kind, Invalid> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(invalid("kind", "invalid_kind"))
    }
}

/// A value of an attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
    Date(NaiveDate),
    Bool(bool),
}

/// The longest text value, in characters.
pub const MAX_TEXT_CHARS: usize = 500;

impl Value {
    /// Reads a value of `kind` from what a person typed. Empty input is `None` (no value).
    pub fn parse(kind: Kind, s: &str) -> Result<Option<Value>, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let v = match kind {
            Kind::Text => {
                if s.chars().count() > MAX_TEXT_CHARS || s.chars().any(|c| c.is_control()) {
                    return Err(invalid("value", "too_long"));
                }
                Value::Text(s.to_string())
            }
            Kind::Number => match s.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::Number(n),
                _ => return Err(invalid("value", "invalid_number")),
            },
            Kind::Date => {
                Value::Date(crate::validate::date(s).map_err(|code| invalid("value", code))?)
            }
            Kind::Bool => Value::Bool(match s.to_lowercase().as_str() {
                "true" | "yes" | "1" | "是" | "y" => true,
                "false" | "no" | "0" | "否" | "n" => false,
                _ => return Err(invalid("value", "invalid_bool")),
            }),
        };
        Ok(Some(v))
    }

    /// The stored form: `(text_value, num_value)`. Numbers go to the numeric column so they
    /// compare as numbers; dates as `YYYY-MM-DD`, which compares correctly as text.
    pub fn columns(&self) -> (Option<String>, Option<f64>) {
        match self {
            Value::Text(s) => (Some(s.clone()), None),
            Value::Number(n) => (None, Some(*n)),
            Value::Date(d) => (Some(d.format("%Y-%m-%d").to_string()), None),
            Value::Bool(b) => (Some(b.to_string()), None),
        }
    }

    /// Back from the stored form.
    pub fn from_columns(kind: Kind, text: Option<&str>, num: Option<f64>) -> Option<Value> {
        match kind {
            Kind::Number => num.map(Value::Number),
            _ => Value::parse(kind, text?).ok().flatten(),
        }
    }

    /// As a person reads (and re-imports) it.
    pub fn display(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            Value::Number(n) => number(*n),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

/// Whole numbers without a fraction, others in the shortest form that reads back the same.
pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Attribute keys name CSV columns (`attr.<key>`) and API fields: lowercase ASCII letters,
/// digits and `_`, starting with a letter, at most 32 characters.
pub fn key(s: &str) -> Result<String, Invalid> {
    let s = s.trim().to_string();
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(s)
    } else {
        Err(invalid("key", "invalid_key"))
    }
}

/// How a followers filter compares an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Has any value.
    Set,
    /// Has no value.
    Unset,
    Eq,
    Lt,
    Gt,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "set" => Op::Set,
            "unset" => Op::Unset,
            "eq" | "" => Op::Eq,
            "lt" => Op::Lt,
            "gt" => Op::Gt,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_by_kind_and_read_back() {
        assert_eq!(
            Value::parse(Kind::Number, " 12.50 ").unwrap(),
            Some(Value::Number(12.5))
        );
        assert_eq!(Value::parse(Kind::Number, "").unwrap(), None);
        assert!(Value::parse(Kind::Number, "12a").is_err());
        assert!(Value::parse(Kind::Number, "NaN").is_err());
        assert!(Value::parse(Kind::Date, "2026-02-30").is_err());
        assert_eq!(
            Value::parse(Kind::Bool, "是").unwrap(),
            Some(Value::Bool(true))
        );
        assert!(Value::parse(Kind::Bool, "maybe").is_err());
        for (kind, s) in [
            (Kind::Number, "3"),
            (Kind::Number, "-0.125"),
            (Kind::Number, "1e20"),
            (Kind::Date, "2026-11-25"),
            (Kind::Bool, "false"),
            (Kind::Text, "VIP 金卡"),
        ] {
            let v = Value::parse(kind, s).unwrap().unwrap();
            let (t, n) = v.columns();
            let back = Value::from_columns(kind, t.as_deref(), n).unwrap();
            assert_eq!(back, v);
            assert_eq!(Value::parse(kind, &back.display()).unwrap(), Some(v));
        }
    }

    #[test]
    fn keys_are_column_safe() {
        assert_eq!(key("vip_level").unwrap(), "vip_level");
        for bad in ["", "1st", "Vip", "a-b", "a.b", &"x".repeat(33)] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }
}
