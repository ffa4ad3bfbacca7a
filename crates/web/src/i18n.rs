//! English and Simplified Chinese. Messages live in `locales/*.txt` as `key = value` lines
//! (embedded in the binary); later features add keys there. A unit test keeps both files
//! carrying the same keys and every key used by a template defined.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "简体中文",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s == "en" || s.starts_with("en-") {
            Some(Lang::En)
        } else if s == "zh" || s.starts_with("zh-cn") || s.starts_with("zh-hans") || s == "zh-sg" {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    /// The best match for an `Accept-Language` header, honouring q-values; English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            // Plain "zh" and other Chinese tags are served Simplified Chinese.
            let lang = Lang::parse(tag).or_else(|| {
                tag.to_ascii_lowercase()
                    .starts_with("zh")
                    .then_some(Lang::ZhCn)
            });
            if let Some(l) = lang {
                if best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, l));
                }
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    /// The message for `key`, falling back to English, then to the key itself.
    pub fn t(self, key: &str) -> &str {
        let cat = catalogue(self);
        cat.get(key)
            .or_else(|| catalogue(Lang::En).get(key))
            .copied()
            .unwrap_or(key)
    }

    /// The message with `{}` replaced by `arg`.
    pub fn t1(self, key: &str, arg: impl std::fmt::Display) -> String {
        self.t(key).replacen("{}", &arg.to_string(), 1)
    }

    /// Items as a list in this language's punctuation (`A, B` or `A、B`).
    pub fn list(self, items: &[&str]) -> String {
        items.join(match self {
            Lang::En => ", ",
            Lang::ZhCn => "、",
        })
    }

    /// The message with its `{}`s replaced by `args`, in order.
    pub fn tn(self, key: &str, args: &[&dyn std::fmt::Display]) -> String {
        let mut out = self.t(key).to_string();
        for a in args {
            out = out.replacen("{}", &a.to_string(), 1);
        }
        out
    }
}

const EN: &str = include_str!("../locales/en.txt");
const ZH_CN: &str = include_str!("../locales/zh-CN.txt");

fn parse(src: &'static str) -> HashMap<&'static str, &'static str> {
    src.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static EN_CAT: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    static ZH_CAT: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    match lang {
        Lang::En => EN_CAT.get_or_init(|| parse(EN)),
        Lang::ZhCn => ZH_CAT.get_or_init(|| parse(ZH_CN)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_negotiated() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::ZhCn
        );
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR, zh;q=0.5"), Lang::ZhCn);
        assert_eq!(
            Lang::from_accept_language("en;q=0.4, zh-TW;q=0.8"),
            Lang::ZhCn
        );
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn catalogues_have_the_same_keys_and_no_empty_values() {
        let en = catalogue(Lang::En);
        let zh = catalogue(Lang::ZhCn);
        let mut missing: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        missing.extend(zh.keys().filter(|k| !en.contains_key(*k)));
        assert!(
            missing.is_empty(),
            "keys in one catalogue only: {missing:?}"
        );
        assert!(en.values().chain(zh.values()).all(|v| !v.is_empty()));
        for src in [EN, ZH_CN] {
            let lines = src
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
                .count();
            assert_eq!(
                lines,
                parse(src).len(),
                "a line is malformed or a key repeats"
            );
        }
    }

    /// The keys pages build from a value (`jobkind.<kind>`, `task.<name>`, a bill's
    /// state, a reconciliation category) exist for every value there is.
    #[test]
    fn every_built_key_is_defined() {
        let en = catalogue(Lang::En);
        let mut keys: Vec<String> = patron_store::jobs::kinds::ALL
            .iter()
            .map(|k| format!("jobkind.{k}"))
            .collect();
        keys.extend(
            patron_app::operations::TASKS
                .iter()
                .map(|t| format!("task.{}", t.name)),
        );
        use patron_store::bill_files::state;
        keys.extend(
            [
                state::RECEIVING,
                state::QUEUED,
                state::RUNNING,
                state::DONE,
                state::FAILED,
            ]
            .iter()
            .map(|s| format!("recon.file_{s}")),
        );
        keys.extend(
            patron_domain::bill::Category::ALL
                .iter()
                .map(|c| format!("recon.cat_{}", c.as_str())),
        );
        let missing: Vec<&String> = keys
            .iter()
            .filter(|k| !en.contains_key(k.as_str()))
            .collect();
        assert!(missing.is_empty(), "undefined message keys: {missing:?}");
    }

    /// Every message key a template or this crate's code names has a message: in templates
    /// every `.t("…")`/`.t1("…")`; in Rust every string literal shaped like a key whose
    /// first segment is a catalogue section (`flash.saved`, `err.slug_taken`, …).
    #[test]
    fn every_used_key_is_defined() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let en = catalogue(Lang::En);
        let sections: std::collections::HashSet<&str> =
            en.keys().filter_map(|k| k.split('.').next()).collect();
        let is_key = |k: &str| {
            k.contains('.')
                && !k.ends_with('.')
                && !k.ends_with(".html")
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
                && sections.contains(k.split('.').next().unwrap())
        };
        let mut undefined = Vec::new();
        let mut seen = 0;
        let templates = root.join("../../templates");
        for e in std::fs::read_dir(&templates).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            for pat in [".t(\"", ".t1(\""] {
                for piece in text.split(pat).skip(1) {
                    let key = piece.split('"').next().unwrap();
                    seen += 1;
                    if !en.contains_key(key) {
                        undefined.push(format!("{}: {key}", p.display()));
                    }
                }
            }
        }
        for dir in [root.join("src"), root.join("src/ui"), root.join("src/api")] {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_none_or(|x| x != "rs") || p.ends_with("i18n.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, lit) in text.split('"').enumerate() {
                    if i % 2 == 1 && is_key(lit) {
                        seen += 1;
                        if !en.contains_key(lit) {
                            undefined.push(format!("{}: {lit}", p.display()));
                        }
                    }
                }
            }
        }
        assert!(seen > 100, "the scan found only {seen} keys");
        assert!(
            undefined.is_empty(),
            "undefined message keys: {undefined:#?}"
        );
    }
}
