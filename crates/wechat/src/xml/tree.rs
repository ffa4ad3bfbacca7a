//! A small, defensive XML reader producing an element tree.
//!
//! WeChat pushes are flat `<xml>` documents, sometimes with one or two nested
//! blocks. The reader keeps every element, resolves the five predefined entities
//! and character references, and refuses everything that has no business in a
//! push: DOCTYPE / ENTITY declarations, unknown entity references, nesting deeper
//! than [`MAX_DEPTH`], several roots, text outside the root, non-UTF-8 input.

use std::collections::BTreeMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::Error;

/// Deepest element nesting accepted (the root is depth 1). Real pushes use 4.
pub const MAX_DEPTH: usize = 32;

/// One parsed element. Attributes are validated but not kept (WeChat sends none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The tag name as written (WeChat names are case-sensitive: `MsgId` vs `MsgID`).
    pub name: String,
    /// The character data. For a leaf that holds CDATA sections separated only by
    /// whitespace (`<A>\n<![CDATA[x]]>\n</A>`), the CDATA content alone; otherwise
    /// all text, CDATA and resolved references in order. Trimmed for elements that
    /// have children.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children named `name`, in order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Whether the element has no child elements.
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }

    /// Name → text of every *leaf* child; when a name repeats, the first wins.
    /// Children that have children of their own are left out (read them from the
    /// tree).
    pub fn leaf_fields(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for c in self.children.iter().filter(|c| c.is_leaf()) {
            map.entry(c.name.clone()).or_insert_with(|| c.text.clone());
        }
        map
    }
}

/// Parses a whole document and returns its root element.
pub fn parse_document(xml: &[u8]) -> Result<Element, Error> {
    let text = std::str::from_utf8(xml).map_err(|e| Error::Xml(format!("not UTF-8: {e}")))?;
    reject_declarations(text)?;

    let mut reader = Reader::from_str(text);
    // Defaults already check end names and keep whitespace; state them anyway.
    reader.config_mut().check_end_names = true;
    reader.config_mut().trim_text(false);

    let mut stack: Vec<Builder> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Error::Xml(format!("{e} (at byte {})", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                let builder = open(&start, stack.len(), root.is_some())?;
                stack.push(builder);
            }
            Event::Empty(start) => {
                let element = open(&start, stack.len(), root.is_some())?.finish();
                attach(element, &mut stack, &mut root);
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open tag.
                let builder = stack
                    .pop()
                    .ok_or_else(|| Error::Xml("unexpected end tag".into()))?;
                attach(builder.finish(), &mut stack, &mut root);
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| Error::Xml(e.to_string()))?;
                match stack.last_mut() {
                    Some(b) => b.push_text(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(Error::Xml("text outside the root element".into())),
                }
            }
            Event::CData(c) => {
                let s = c.xml10_content().map_err(|e| Error::Xml(e.to_string()))?;
                stack
                    .last_mut()
                    .ok_or_else(|| Error::Xml("CDATA outside the root element".into()))?
                    .push_cdata(&s);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    let ch = r
                        .resolve_char_ref()
                        .map_err(|e| Error::Xml(e.to_string()))?
                        .ok_or_else(|| Error::Xml("bad character reference".into()))?;
                    if !is_xml_char(ch) {
                        return Err(Error::Xml(format!(
                            "character reference to U+{:04X} is not allowed",
                            u32::from(ch)
                        )));
                    }
                    ch.to_string()
                } else {
                    let name = r.decode().map_err(|e| Error::Xml(e.to_string()))?;
                    resolve_predefined_entity(&name)
                        .ok_or_else(|| Error::Xml(format!("unknown entity &{name};")))?
                        .to_string()
                };
                stack
                    .last_mut()
                    .ok_or_else(|| Error::Xml("reference outside the root element".into()))?
                    .push_ref(&resolved);
            }
            Event::DocType(_) => return Err(Error::DoctypeRejected),
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(Error::Xml(
                        "unexpected end of input inside an element".into(),
                    ));
                }
                return root.ok_or_else(|| Error::Xml("no root element".into()));
            }
        }
    }
}

/// Refuses `<!DOCTYPE` and `<!ENTITY` (any case) anywhere outside CDATA sections,
/// before the parser sees the input. Inside CDATA they are user text (a follower may
/// well type `<!DOCTYPE html>`) and harmless. The parser also refuses a DOCTYPE event,
/// so a trick that hides one from this scan still fails.
fn reject_declarations(text: &str) -> Result<(), Error> {
    const CDATA_OPEN: &[u8] = b"<![CDATA[";
    const CDATA_CLOSE: &[u8] = b"]]>";
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        i += off;
        let tail = &bytes[i..];
        if tail.starts_with(CDATA_OPEN) {
            let body = i + CDATA_OPEN.len();
            match find(&bytes[body..], CDATA_CLOSE) {
                Some(end) => i = body + end + CDATA_CLOSE.len(),
                // Unclosed CDATA: the parser will report it.
                None => return Ok(()),
            }
            continue;
        }
        if starts_with_ignore_case(tail, b"<!DOCTYPE") || starts_with_ignore_case(tail, b"<!ENTITY")
        {
            return Err(Error::DoctypeRejected);
        }
        i += 1;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// XML 1.0 `Char` production (surrogates cannot occur in a Rust `char`).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Starts an element at depth `open_count + 1`.
fn open(start: &BytesStart<'_>, open_count: usize, root_done: bool) -> Result<Builder, Error> {
    if root_done && open_count == 0 {
        return Err(Error::Xml("more than one root element".into()));
    }
    if open_count + 1 > MAX_DEPTH {
        return Err(Error::TooDeep(MAX_DEPTH));
    }
    for attr in start.attributes() {
        attr.map_err(|e| Error::Xml(e.to_string()))?;
    }
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(|e| Error::Xml(e.to_string()))?
        .to_string();
    Ok(Builder {
        element: Element {
            name,
            ..Element::default()
        },
        cdata: String::new(),
        has_cdata: false,
        significant_text: false,
    })
}

fn attach(element: Element, stack: &mut [Builder], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.element.children.push(element),
        None => *root = Some(element),
    }
}

/// An element under construction; `element.text` collects everything, `cdata`
/// only CDATA sections.
struct Builder {
    element: Element,
    cdata: String,
    has_cdata: bool,
    significant_text: bool,
}

impl Builder {
    fn push_text(&mut self, s: &str) {
        if !s.trim().is_empty() {
            self.significant_text = true;
        }
        self.element.text.push_str(s);
    }

    fn push_cdata(&mut self, s: &str) {
        self.has_cdata = true;
        self.cdata.push_str(s);
        self.element.text.push_str(s);
    }

    fn push_ref(&mut self, s: &str) {
        self.significant_text = true;
        self.element.text.push_str(s);
    }

    fn finish(mut self) -> Element {
        if !self.element.children.is_empty() {
            let trimmed = self.element.text.trim();
            if trimmed.len() != self.element.text.len() {
                self.element.text = trimmed.to_string();
            }
        } else if self.has_cdata && !self.significant_text {
            self.element.text = self.cdata;
        }
        self.element
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, Error> {
        parse_document(s.as_bytes())
    }

    #[test]
    fn cdata_and_bare_text() {
        let root = parse(
            "<?xml version=\"1.0\"?>\n<xml>\n  <A><![CDATA[ spaced ]]></A>\n  <B>42</B>\n  \
             <C>\n<![CDATA[x]]>\n</C><D>a &amp; b &lt;c&gt; &#x4E2D;&#25991;</D><E/><F></F>\
             <G><![CDATA[a]]]]><![CDATA[>b]]></G><!-- note --></xml>\n",
        )
        .unwrap();
        assert_eq!(root.name, "xml");
        assert_eq!(root.child_text("A"), Some(" spaced "));
        assert_eq!(root.child_text("B"), Some("42"));
        assert_eq!(root.child_text("C"), Some("x"));
        assert_eq!(root.child_text("D"), Some("a & b <c> 中文"));
        assert_eq!(root.child_text("E"), Some(""));
        assert_eq!(root.child_text("F"), Some(""));
        assert_eq!(root.child_text("G"), Some("a]]>b"));
        assert_eq!(root.text, "");
    }

    #[test]
    fn nested_elements_are_kept() {
        let root = parse("<xml><R><Count>2</Count><L><item><I>1</I></item><item><I>2</I></item></L></R><T>t</T></xml>")
            .unwrap();
        let r = root.child("R").unwrap();
        assert_eq!(r.child_text("Count"), Some("2"));
        let items: Vec<_> = r.child("L").unwrap().children_named("item").collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].child_text("I"), Some("2"));
        let fields = root.leaf_fields();
        assert_eq!(fields.get("T").map(String::as_str), Some("t"));
        assert!(!fields.contains_key("R"));
    }

    #[test]
    fn duplicate_leaf_first_wins() {
        let root = parse("<xml><A>1</A><A>2</A></xml>").unwrap();
        assert_eq!(root.leaf_fields()["A"], "1");
        assert_eq!(root.child_text("A"), Some("1"));
    }

    #[test]
    fn doctype_and_entity_declarations_are_refused() {
        let xxe =
            "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
                   <xml><Content>&xxe;</Content></xml>";
        assert_eq!(parse(xxe), Err(Error::DoctypeRejected));
        assert_eq!(parse("<!doctype xml><xml/>"), Err(Error::DoctypeRejected));
        assert_eq!(
            parse("<xml><!ENTITY a \"b\"></xml>"),
            Err(Error::DoctypeRejected)
        );
        // A billion-laughs shape never reaches the parser either.
        let lol = "<!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><xml>&b;</xml>";
        assert_eq!(parse(lol), Err(Error::DoctypeRejected));
    }

    #[test]
    fn declarations_inside_cdata_are_user_text() {
        let root =
            parse("<xml><Content><![CDATA[<!DOCTYPE html><!ENTITY x>]]></Content></xml>").unwrap();
        assert_eq!(
            root.child_text("Content"),
            Some("<!DOCTYPE html><!ENTITY x>")
        );
    }

    #[test]
    fn unknown_entities_are_refused() {
        assert!(matches!(
            parse("<xml><A>&nbsp;</A></xml>"),
            Err(Error::Xml(_))
        ));
        assert!(matches!(
            parse("<xml><A>&#0;</A></xml>"),
            Err(Error::Xml(_))
        ));
        assert!(matches!(
            parse("<xml><A>&#1;</A></xml>"),
            Err(Error::Xml(_))
        ));
    }

    #[test]
    fn malformed_documents() {
        for bad in [
            "",
            "   ",
            "not xml",
            "<xml>",
            "<xml><A>1</B></xml>",
            "<xml><A>1</A>",
            "<xml></xml><xml></xml>",
            "<xml/><other/>",
            "<xml></xml>trailing",
            "text<xml></xml>",
            "<xml><A attr=></A></xml>",
            "<xml><![CDATA[unclosed</xml>",
            "</xml>",
        ] {
            assert!(
                matches!(parse(bad), Err(Error::Xml(_))),
                "{bad:?} -> {:?}",
                parse(bad)
            );
        }
        assert!(matches!(
            parse_document(b"<xml>\xff</xml>"),
            Err(Error::Xml(_))
        ));
    }

    #[test]
    fn depth_is_capped() {
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(&deep), Err(Error::TooDeep(MAX_DEPTH)));
        let empty_deep = format!(
            "{}<b/>{}",
            "<a>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        assert_eq!(parse(&empty_deep), Err(Error::TooDeep(MAX_DEPTH)));
        // Very deep input fails fast instead of exhausting the stack.
        let huge = "<a>".repeat(200_000);
        assert_eq!(parse(&huge), Err(Error::TooDeep(MAX_DEPTH)));
    }
}
