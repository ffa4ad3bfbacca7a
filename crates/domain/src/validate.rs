//! Input rules shared by the UI, the API and the CLI, so each gives the same answer.

use thiserror::Error;

/// Why a value was refused. `field` names the input; the web layer turns the code into a
/// translated message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {code}")]
pub struct Invalid {
    pub field: &'static str,
    pub code: &'static str,
}

pub fn invalid(field: &'static str, code: &'static str) -> Invalid {
    Invalid { field, code }
}

/// Slugs appear in URLs (`/t/{slug}`, `/wx/{slug}`): lowercase ASCII letters, digits and
/// inner hyphens, 2 to 40 characters, not a word the app uses for itself.
pub fn slug(s: &str) -> Result<String, Invalid> {
    let s = s.trim().to_ascii_lowercase();
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(2..=40).contains(&s.len()) || !ok_chars || s.starts_with('-') || s.ends_with('-') {
        return Err(invalid("slug", "invalid_slug"));
    }
    const RESERVED: [&str; 8] = [
        "api", "admin", "static", "new", "login", "logout", "setup", "agency",
    ];
    if RESERVED.contains(&s.as_str()) {
        return Err(invalid("slug", "reserved_slug"));
    }
    Ok(s)
}

/// A display name: trimmed, 1 to 120 characters, no control characters.
pub fn name(field: &'static str, s: &str) -> Result<String, Invalid> {
    let s = s.trim();
    if s.is_empty() {
        return Err(invalid(field, "required"));
    }
    if s.chars().count() > 120 || s.chars().any(char::is_control) {
        return Err(invalid(field, "invalid_name"));
    }
    Ok(s.to_string())
}

/// A calendar date typed as `YYYY-MM-DD`. The refusal says which mistake it was:
/// `invalid_date` for another shape, `not_a_date` for the right shape naming no day
/// (`1990-02-30`).
pub fn date(s: &str) -> Result<chrono::NaiveDate, &'static str> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    Err(if shaped { "not_a_date" } else { "invalid_date" })
}

/// A plausible email address, lowercased. Deliverability is proved by the invitation mail.
pub fn email(s: &str) -> Result<String, Invalid> {
    let s = s.trim().to_lowercase();
    let Some((local, domain)) = s.split_once('@') else {
        return Err(invalid("email", "invalid_email"));
    };
    let sane = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@');
    if sane {
        Ok(s)
    } else {
        Err(invalid("email", "invalid_email"))
    }
}

pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 128;

/// Length is what matters (NIST 800-63B); the upper bound keeps hashing cheap to refuse.
pub fn password(s: &str) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < PASSWORD_MIN {
        return Err(invalid("password", "password_too_short"));
    }
    if n > PASSWORD_MAX {
        return Err(invalid("password", "password_too_long"));
    }
    let first = s.chars().next();
    if s.chars().all(|c| Some(c) == first) {
        return Err(invalid("password", "password_too_simple"));
    }
    Ok(())
}

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// An IANA time zone name such as `Asia/Shanghai`.
pub fn time_zone(s: &str) -> Result<chrono_tz::Tz, Invalid> {
    let s = s.trim();
    let s = if s.is_empty() { DEFAULT_TIME_ZONE } else { s };
    s.parse::<chrono_tz::Tz>()
        .map_err(|_| invalid("time_zone", "invalid_time_zone"))
}

/// A stored tenant's zone: what [`time_zone`] accepted when it was saved, or the default
/// should the stored name ever be unreadable (a zone dropped from the database).
pub fn stored_time_zone(s: &str) -> chrono_tz::Tz {
    time_zone(s).unwrap_or(chrono_tz::Asia::Shanghai)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_say_whether_the_shape_or_the_day_is_wrong() {
        assert_eq!(date(" 1990-02-28 ").unwrap().to_string(), "1990-02-28");
        assert_eq!(date("1990-02-30"), Err("not_a_date"));
        assert_eq!(date("2023-13-01"), Err("not_a_date"));
        assert_eq!(date("30/02/1990"), Err("invalid_date"));
        assert_eq!(date("1990/02/03"), Err("invalid_date"));
        assert_eq!(date("next monday"), Err("invalid_date"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug(" Tea-House ").unwrap(), "tea-house");
        assert!(slug("a").is_err());
        assert!(slug("-tea").is_err());
        assert!(slug("tea house").is_err());
        assert!(slug("茶").is_err());
        assert_eq!(slug("api").unwrap_err().code, "reserved_slug");
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Li@Example.COM ").unwrap(), "li@example.com");
        for bad in [
            "",
            "li",
            "li@",
            "@x.com",
            "li@x",
            "li@@x.com",
            "a b@x.com",
            "li@x.com.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("short").is_err());
        assert_eq!(
            password("aaaaaaaaaaaa").unwrap_err().code,
            "password_too_simple"
        );
        assert!(password(&"x".repeat(200)).is_err());
        assert!(password("correct horse battery").is_ok());
        assert!(password("长城长城长城长城长城好").is_ok());
    }

    #[test]
    fn time_zones_default_to_shanghai() {
        assert_eq!(time_zone("").unwrap(), chrono_tz::Asia::Shanghai);
        assert_eq!(
            time_zone("Europe/Berlin").unwrap(),
            chrono_tz::Europe::Berlin
        );
        assert!(time_zone("Mars/Olympus").is_err());
    }

    #[test]
    fn names() {
        assert!(name("name", "  ").is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert_eq!(name("name", " 星巴克 ").unwrap(), "星巴克");
    }
}
