//! The followers CSV, both ways: the columns an export writes and the rules an import
//! checks. One module so that an exported file always imports again unchanged.
//!
//! Import rules:
//! - the header is required and must name `openid`; every other column is optional;
//! - `name`, `phone`, `email`, `birthday`, `remark`, `tags` and `attr.<key>` are applied;
//!   an empty cell in a present column clears the value, an absent column is left alone;
//!   `tags` (names separated by `;`) becomes the follower's exact set of tags;
//! - the columns only WeChat knows (subscription, scenes, times) are accepted and ignored,
//!   so an export imports as it is; any other column refuses the file;
//! - an unknown OpenID creates a follower (not subscribed until a sync says otherwise).

use crate::attributes::{Kind, Value};
use crate::validate;
use chrono::NaiveDate;
use std::collections::HashSet;

/// The export's fixed columns; `tags` and one `attr.<key>` per attribute follow them.
pub const FIXED: [&str; 15] = [
    "openid",
    "unionid",
    "subscribed",
    "subscribed_at",
    "unsubscribed_at",
    "subscribe_count",
    "subscribe_scene",
    "qr_scene",
    "last_interaction_at",
    "name",
    "phone",
    "email",
    "birthday",
    "remark",
    "created_at",
];

/// Columns that only WeChat fills: an import reads past them.
const READ_ONLY: [&str; 10] = [
    "unionid",
    "subscribed",
    "subscribed_at",
    "unsubscribed_at",
    "subscribe_count",
    "subscribe_scene",
    "qr_scene",
    "last_interaction_at",
    "created_at",
    "id",
];

pub const TAGS: &str = "tags";
/// The most rows one file may hold.
pub const MAX_ROWS: usize = 1_000_000;
pub const ATTR_PREFIX: &str = "attr.";
/// The longest merchant-filled field, in characters.
pub const MAX_FIELD_CHARS: usize = 500;

/// Spreadsheet programs run cells starting with these as formulas; an export prefixes
/// them (and a leading `'`, so the prefix is always removable) with `'`.
const FORMULA_START: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\''];

pub fn defuse(s: &str) -> String {
    if s.starts_with(FORMULA_START) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// Undoes [`defuse`].
pub fn undefuse(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_START) => rest,
        _ => s,
    }
}

/// An attribute as the importer needs it.
#[derive(Debug, Clone)]
pub struct AttrDef {
    pub id: i64,
    pub key: String,
    pub kind: Kind,
}

/// Why a whole file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    #[error("the header has no openid column")]
    NoOpenid,
    #[error("the header has no code column")]
    NoCode,
    #[error("unknown columns: {0}")]
    UnknownColumns(String),
    #[error("the column {0} appears twice")]
    DuplicateColumn(String),
    #[error("more than {0} rows")]
    TooManyRows(usize),
    #[error("the file is not valid CSV: {0}")]
    Csv(String),
}

impl FileError {
    /// A stable code the web layer translates.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::Empty => "import_empty",
            FileError::NotUtf8 => "import_not_utf8",
            FileError::NoOpenid => "import_no_openid",
            FileError::NoCode => "import_no_code",
            FileError::UnknownColumns(_) => "import_unknown_columns",
            FileError::DuplicateColumn(_) => "import_duplicate_column",
            FileError::TooManyRows(_) => "import_too_many_rows",
            FileError::Csv(_) => "import_bad_csv",
        }
    }
}

/// One refused row: its line in the file, the column and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub code: String,
}

/// A field the row sets: `None` when its column is absent (left alone), `Some(None)` to clear.
pub type Set<T> = Option<Option<T>>;

/// One checked row, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub line: u64,
    pub openid: String,
    pub name: Set<String>,
    pub phone: Set<String>,
    pub email: Set<String>,
    pub birthday: Set<NaiveDate>,
    pub remark: Set<String>,
    pub tags: Option<Vec<String>>,
    /// `(attribute id, value)` for each attribute column.
    pub attrs: Vec<(i64, Option<Value>)>,
}

/// The checked file.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
    /// Rows in the file (valid or not).
    pub total: usize,
}

enum Col {
    Openid,
    Name,
    Phone,
    Email,
    Birthday,
    Remark,
    Tags,
    Attr(i64, Kind),
    Ignored,
}

fn text(v: &str) -> Result<Option<String>, &'static str> {
    let v = undefuse(v.trim()).trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > MAX_FIELD_CHARS {
        return Err("too_long");
    }
    Ok(Some(v.to_string()))
}

/// Tag names in a `tags` cell, trimmed, without empties or repeats.
pub fn split_tags(cell: &str) -> Result<Vec<String>, &'static str> {
    let mut out: Vec<String> = Vec::new();
    for part in undefuse(cell.trim()).split(';') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let n = validate::name("tag", p).map_err(|_| "invalid_tag")?;
        if n.len() > 30 {
            return Err("tag_too_long");
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

/// An OpenID as WeChat issues them: 1 to 64 letters, digits, `-` or `_`.
pub fn openid(s: &str) -> Result<String, &'static str> {
    let s = undefuse(s.trim());
    if s.is_empty() {
        return Err("required");
    }
    if s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("invalid_openid");
    }
    Ok(s.to_string())
}

/// Reads and checks a whole file. A `FileError` refuses the file; row problems are listed
/// in [`Checked::errors`] (every one of them, with its line).
pub fn check(bytes: &[u8], attrs: &[AttrDef], max_rows: usize) -> Result<Checked, FileError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::Empty);
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(FileError::NotUtf8);
    }
    let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| FileError::Csv(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut seen = HashSet::new();
    let mut unknown = Vec::new();
    let mut cols = Vec::with_capacity(header.len());
    for h in &header {
        if !seen.insert(h.clone()) {
            return Err(FileError::DuplicateColumn(h.clone()));
        }
        cols.push(match h.as_str() {
            "openid" => Col::Openid,
            "name" => Col::Name,
            "phone" => Col::Phone,
            "email" => Col::Email,
            "birthday" => Col::Birthday,
            "remark" => Col::Remark,
            TAGS => Col::Tags,
            h if READ_ONLY.contains(&h) => Col::Ignored,
            h => match h
                .strip_prefix(ATTR_PREFIX)
                .and_then(|k| attrs.iter().find(|a| a.key == k))
            {
                Some(a) => Col::Attr(a.id, a.kind),
                None => {
                    unknown.push(h.to_string());
                    Col::Ignored
                }
            },
        });
    }
    if !unknown.is_empty() {
        return Err(FileError::UnknownColumns(unknown.join(", ")));
    }
    if !header.iter().any(|h| h == "openid") {
        return Err(FileError::NoOpenid);
    }
    let mut out = Checked {
        columns: header.clone(),
        ..Default::default()
    };
    let mut openids = HashSet::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| FileError::Csv(e.to_string()))?;
        out.total += 1;
        if out.total > max_rows {
            return Err(FileError::TooManyRows(max_rows));
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let mut row = Row {
            line,
            ..Default::default()
        };
        let mut errs: Vec<RowError> = Vec::new();
        for (i, v) in rec.iter().enumerate() {
            let column = header[i].as_str();
            let mut bad = |code: &str| {
                errs.push(RowError {
                    line,
                    column: column.to_string(),
                    code: code.to_string(),
                })
            };
            match &cols[i] {
                Col::Openid => match openid(v) {
                    Ok(o) if !openids.insert(o.clone()) => bad("duplicate_openid"),
                    Ok(o) => row.openid = o,
                    Err(code) => bad(code),
                },
                Col::Name | Col::Phone | Col::Remark => match text(v) {
                    Ok(t) => match cols[i] {
                        Col::Name => row.name = Some(t),
                        Col::Phone => row.phone = Some(t),
                        _ => row.remark = Some(t),
                    },
                    Err(code) => bad(code),
                },
                Col::Email => match text(v) {
                    Ok(None) => row.email = Some(None),
                    Ok(Some(e)) => match validate::email(&e) {
                        Ok(e) => row.email = Some(Some(e)),
                        Err(_) => bad("invalid_email"),
                    },
                    Err(code) => bad(code),
                },
                Col::Birthday => match v.trim() {
                    "" => row.birthday = Some(None),
                    d => match crate::validate::date(d) {
                        Ok(d) => row.birthday = Some(Some(d)),
                        Err(code) => bad(code),
                    },
                },
                Col::Tags => match split_tags(v) {
                    Ok(t) => row.tags = Some(t),
                    Err(code) => bad(code),
                },
                Col::Attr(id, kind) => match Value::parse(*kind, undefuse(v.trim())) {
                    Ok(val) => row.attrs.push((*id, val)),
                    Err(e) => bad(e.code),
                },
                Col::Ignored => {}
            }
        }
        if errs.is_empty() {
            out.rows.push(row);
        } else {
            out.errors.extend(errs);
        }
    }
    if out.total == 0 {
        return Err(FileError::Empty);
    }
    Ok(out)
}

/// The header an export writes for these attributes.
pub fn export_header(attrs: &[AttrDef]) -> Vec<String> {
    FIXED
        .iter()
        .map(|s| s.to_string())
        .chain(std::iter::once(TAGS.to_string()))
        .chain(attrs.iter().map(|a| format!("{ATTR_PREFIX}{}", a.key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Vec<AttrDef> {
        vec![
            AttrDef {
                id: 7,
                key: "level".into(),
                kind: Kind::Number,
            },
            AttrDef {
                id: 8,
                key: "vip".into(),
                kind: Kind::Bool,
            },
        ]
    }

    #[test]
    fn defuse_round_trips() {
        for s in ["=1+1", "+86 138", "'=x", "''", "plain", "-", "'a"] {
            assert_eq!(undefuse(&defuse(s)), s, "{s}");
        }
        assert_eq!(defuse("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(defuse("Li Lei"), "Li Lei");
    }

    #[test]
    fn a_good_file_checks_clean() {
        let csv = "\u{feff}openid,name,email,birthday,tags,attr.level,attr.vip,subscribed\n\
                   o1,Li Lei,LI@EXAMPLE.COM,1990-01-02,VIP; 金卡 ;VIP,3,yes,true\n\
                   o2,,,,,,,false\n";
        let c = check(csv.as_bytes(), &attrs(), 10).unwrap();
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.total, 2);
        let r = &c.rows[0];
        assert_eq!(r.openid, "o1");
        assert_eq!(r.email, Some(Some("li@example.com".into())));
        assert_eq!(r.tags, Some(vec!["VIP".to_string(), "金卡".to_string()]));
        assert_eq!(
            r.attrs,
            vec![(7, Some(Value::Number(3.0))), (8, Some(Value::Bool(true)))]
        );
        assert_eq!(c.rows[1].name, Some(None));
        assert_eq!(c.rows[1].phone, None, "an absent column is left alone");
    }

    #[test]
    fn every_bad_row_is_listed_with_its_line() {
        let csv = "openid,email,birthday,attr.level\n\
                   o1,nope,1990-01-02,1\n\
                   o2,a@b.cn,1990-13-01,x\n\
                   o1,,,\n\
                   ,,,\n\
                   ok,,,\n";
        let c = check(csv.as_bytes(), &attrs(), 10).unwrap();
        let got: Vec<(u64, &str, &str)> = c
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_str(), e.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, "email", "invalid_email"),
                (3, "birthday", "not_a_date"),
                (3, "attr.level", "invalid_number"),
                (4, "openid", "duplicate_openid"),
                (5, "openid", "required"),
            ]
        );
        assert_eq!(c.rows.len(), 1);
        assert_eq!(c.total, 5);
    }

    #[test]
    fn whole_file_problems_refuse_it() {
        let a = attrs();
        assert_eq!(check(b"", &a, 10).unwrap_err(), FileError::Empty);
        assert_eq!(check(b"openid\n", &a, 10).unwrap_err(), FileError::Empty);
        assert_eq!(
            check(b"name\nx\n", &a, 10).unwrap_err(),
            FileError::NoOpenid
        );
        assert_eq!(
            check(b"openid,shoe_size\no1,4\n", &a, 10).unwrap_err(),
            FileError::UnknownColumns("shoe_size".into())
        );
        assert_eq!(
            check(b"openid,openid\no1,o1\n", &a, 10).unwrap_err(),
            FileError::DuplicateColumn("openid".into())
        );
        assert_eq!(
            check(b"openid\no1\no2\no3\n", &a, 2).unwrap_err(),
            FileError::TooManyRows(2)
        );
        assert_eq!(
            check(&[b'o', b'p', 0xff, b'\n'], &a, 10).unwrap_err(),
            FileError::NotUtf8
        );
        assert!(matches!(
            check(b"openid,name\no1\n", &a, 10).unwrap_err(),
            FileError::Csv(_)
        ));
    }
}
