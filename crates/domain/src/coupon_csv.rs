//! Importing existing coupon codes (from another system or printed stock) from CSV: a
//! `code` column and an optional `openid` column (the follower who holds it). The whole
//! file is checked before anything is stored; one bad row refuses the file.

use crate::follower_csv::{FileError, RowError};

/// The most codes one file may carry.
pub const MAX_ROWS: usize = 100_000;
/// The longest imported code.
pub const MAX_CODE: usize = 64;
/// The shortest imported code, unless the campaign accepts short external codes (4).
/// Shorter codes can be guessed at the till within its failed-lookup limit.
pub const MIN_CODE: usize = 8;

/// One code to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    /// Normalised as the till normalises what it reads: no spaces, upper case.
    pub code: String,
    pub openid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub rows: Vec<Row>,
    pub errors: Vec<RowError>,
}

/// A code as stored and looked up: without whitespace, upper case.
pub fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

fn code_ok(code: &str) -> bool {
    (4..=MAX_CODE).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic())
}

/// Checks a file: whole-file refusals first, then every row (bad codes, codes twice in
/// the file, codes under [`MIN_CODE`] unless `short_ok`); codes already in the database
/// are the caller's to find.
pub fn check(bytes: &[u8], short_ok: bool) -> Result<Checked, FileError> {
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
        .map(|h| h.trim().to_lowercase())
        .collect();
    let unknown: Vec<&str> = header
        .iter()
        .filter(|h| *h != "code" && *h != "openid")
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(FileError::UnknownColumns(unknown.join(", ")));
    }
    for h in ["code", "openid"] {
        if header.iter().filter(|x| *x == h).count() > 1 {
            return Err(FileError::DuplicateColumn(h.into()));
        }
    }
    let code_at = header
        .iter()
        .position(|h| h == "code")
        .ok_or(FileError::NoCode)?;
    let openid_at = header.iter().position(|h| h == "openid");
    let mut out = Checked {
        rows: Vec::new(),
        errors: Vec::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for (i, rec) in rdr.records().enumerate() {
        if i >= MAX_ROWS {
            return Err(FileError::TooManyRows(MAX_ROWS));
        }
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| FileError::Csv(e.to_string()))?;
        let err = |column: &str, code: &str| RowError {
            line,
            column: column.into(),
            code: code.into(),
        };
        let code = normalise(rec.get(code_at).unwrap_or(""));
        if code.is_empty() {
            out.errors.push(err("code", "required"));
            continue;
        }
        if !code_ok(&code) {
            out.errors.push(err("code", "invalid_code"));
            continue;
        }
        if !short_ok && code.len() < MIN_CODE {
            out.errors.push(err("code", "code_too_short"));
            continue;
        }
        // The till reads a code in Patron's own shape by its check character first: one
        // whose check character does not match could never be typed in, only scanned.
        if crate::coupons::parse_typed(&code) == crate::coupons::Typed::BadCheck {
            out.errors.push(err("code", "reads_as_typo"));
            continue;
        }
        if !seen.insert(code.clone()) {
            out.errors.push(err("code", "duplicate"));
            continue;
        }
        let openid = openid_at
            .and_then(|at| rec.get(at))
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_string);
        if openid.as_ref().is_some_and(|o| o.len() > 64) {
            out.errors.push(err("openid", "invalid_openid"));
            continue;
        }
        out.rows.push(Row { line, code, openid });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_and_checked_row_by_row() {
        let f = "code,openid\nabc-123 x,o1\nABC-123X,\nab,\nGOOD1,\n\"bad code\u{7}\",\nABCDEFGHJKMNP2,\n";
        let c = check(f.as_bytes(), true).unwrap();
        assert_eq!(
            c.rows,
            vec![
                Row {
                    line: 2,
                    code: "ABC-123X".into(),
                    openid: Some("o1".into())
                },
                Row {
                    line: 5,
                    code: "GOOD1".into(),
                    openid: None
                },
            ]
        );
        let errs: Vec<(u64, &str)> = c.errors.iter().map(|e| (e.line, e.code.as_str())).collect();
        assert_eq!(
            errs,
            vec![
                (3, "duplicate"),
                (4, "invalid_code"),
                (6, "invalid_code"),
                // Patron's shape with a wrong check character: never typeable at the till.
                (7, "reads_as_typo")
            ]
        );
    }

    #[test]
    fn codes_under_eight_characters_need_a_campaign_that_accepts_them() {
        let f = "code\nGOOD1\nLONGER12\n";
        let strict = check(f.as_bytes(), false).unwrap();
        assert_eq!(strict.rows.len(), 1);
        assert_eq!(strict.rows[0].code, "LONGER12");
        assert_eq!(strict.errors.len(), 1);
        assert_eq!(
            (strict.errors[0].line, strict.errors[0].code.as_str()),
            (2, "code_too_short")
        );
        assert_eq!(check(f.as_bytes(), true).unwrap().rows.len(), 2);
    }

    #[test]
    fn whole_file_refusals() {
        assert_eq!(check(b"  \n", true), Err(FileError::Empty));
        assert_eq!(check(&[0xff, 0xfe], true), Err(FileError::NotUtf8));
        assert_eq!(check(b"openid\no1\n", true), Err(FileError::NoCode));
        assert_eq!(
            check(b"code,extra\nX1234,\n", true),
            Err(FileError::UnknownColumns("extra".into()))
        );
        assert_eq!(
            check(b"code,code\nA,B\n", true),
            Err(FileError::DuplicateColumn("code".into()))
        );
        assert!(matches!(
            check(b"code,openid\nAAAA,o1,extra\n", true),
            Err(FileError::Csv(_))
        ));
    }

    #[test]
    fn a_bom_and_only_a_code_column_are_fine() {
        let c = check("\u{feff}Code\nVIP-0001\n".as_bytes(), true).unwrap();
        assert_eq!(c.rows.len(), 1);
        assert!(c.errors.is_empty());
    }
}
