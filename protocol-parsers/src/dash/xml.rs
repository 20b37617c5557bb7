//! Just enough XML for a manifest: indentation and escaped attribute values. The MPD
//! has no text content, so attributes are the only place untrusted text goes.

use std::fmt::{self, Write};

/// Writes ` name="value"`, `value` escaped for a double-quoted attribute.
pub(super) fn attr(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    value: impl fmt::Display,
) -> fmt::Result {
    write!(f, " {name}=\"")?;
    write!(Escaper(f), "{value}")?;
    f.write_str("\"")
}

/// Two spaces per level.
pub(super) fn indent(f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
    for _ in 0..depth {
        f.write_str("  ")?;
    }
    Ok(())
}

/// Escapes everything written through it for an attribute value. Line breaks and tabs
/// become character references (attribute-value normalisation would turn them into
/// spaces otherwise); characters XML 1.0 cannot carry at all (C0 controls, U+FFFE,
/// U+FFFF) are dropped.
struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Escaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut run_start = 0;
        for (at, c) in text.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&apos;",
                '\t' => "&#9;",
                '\n' => "&#10;",
                '\r' => "&#13;",
                '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => "",
                _ => continue,
            };
            self.0
                .write_str(text.get(run_start..at).unwrap_or_default())?;
            self.0.write_str(replacement)?;
            run_start = at + c.len_utf8();
        }
        self.0.write_str(text.get(run_start..).unwrap_or_default())
    }
}

/// An element as [`parse`] returns it: its name and its unescaped attributes in order.
#[cfg(test)]
pub(super) type Element = (String, Vec<(String, String)>);

/// A well-formedness check for the writer's own output, so tests need no XML crate:
/// one root, balanced and properly nested tags, quoted unique attributes, valid
/// references, no text outside whitespace. Returns the element names in document
/// order, each with its attributes unescaped.
#[cfg(test)]
pub(super) fn parse(doc: &str) -> Result<Vec<Element>, String> {
    let mut rest = doc
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("missing XML declaration")?;
    let mut open: Vec<&str> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    loop {
        let lt = rest.find('<').unwrap_or(rest.len());
        if !rest[..lt].trim().is_empty() {
            return Err(format!("text outside tags: {:?}", &rest[..lt]));
        }
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        let gt = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(tag) => (tag, true),
            None => (tag, false),
        };
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(format!("bad element name {name:?}"));
        }
        if open.is_empty() {
            roots += 1;
        }
        let mut attributes: Vec<(String, String)> = Vec::new();
        let mut attrs = tag[name_end..].trim_start();
        while !attrs.is_empty() {
            let eq = attrs
                .find("=\"")
                .ok_or(format!("bad attribute in <{name}>"))?;
            let key = &attrs[..eq];
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
                return Err(format!("bad attribute name {key:?}"));
            }
            let value_end = attrs[eq + 2..].find('"').ok_or("unterminated value")? + eq + 2;
            let value = unescape(&attrs[eq + 2..value_end])?;
            if attributes.iter().any(|(k, _)| k == key) {
                return Err(format!("duplicate attribute {key}"));
            }
            attributes.push((key.to_owned(), value));
            let after = &attrs[value_end + 1..];
            if !after.is_empty() && !after.starts_with(char::is_whitespace) {
                return Err(format!("no space after {key}"));
            }
            attrs = after.trim_start();
        }
        elements.push((name.to_owned(), attributes));
        if !empty {
            open.push(name);
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed {open:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elements)
}

#[cfg(test)]
fn unescape(value: &str) -> Result<String, String> {
    if value.contains('<') {
        return Err(format!("'<' in attribute value {value:?}"));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';').ok_or("unterminated reference")? + amp;
        let name = &rest[amp + 1..semi];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16)
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse()
                } else {
                    return Err(format!("unknown entity &{name};"));
                };
                code.ok()
                    .and_then(char::from_u32)
                    .ok_or(format!("bad character reference &{name};"))?
            }
        };
        out.push(c);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Attr<'a>(&'a str);

    impl fmt::Display for Attr<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            attr(f, "v", self.0)
        }
    }

    #[test]
    fn escapes_markup_and_whitespace() {
        assert_eq!(Attr("plain/path").to_string(), " v=\"plain/path\"");
        assert_eq!(
            Attr("a&b<c>\"d'\te\nf\rg\u{1}h\u{FFFF}").to_string(),
            " v=\"a&amp;b&lt;c&gt;&quot;d&apos;&#9;e&#10;f&#13;gh\""
        );
    }

    #[test]
    fn escaped_values_round_trip_through_the_checker() {
        let value = "$RepresentationID$/a&b \"<x>\"\n'é'";
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R{}/>\n",
            Attr(value)
        );
        let elements = parse(&doc).unwrap();
        assert_eq!(
            elements,
            vec![("R".to_owned(), vec![("v".to_owned(), value.to_owned())])]
        );
    }

    #[test]
    fn checker_rejects_malformed_documents() {
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
        for bad in [
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a x=\"&nope;\"/>",
            "<a x=\"1\"y=\"2\"/>",
            "<a>text</a>",
            "<a x=1/>",
        ] {
            assert!(parse(&format!("{decl}{bad}")).is_err(), "{bad}");
        }
        assert!(parse(&format!("{decl}\n<a x=\"&#10;&amp;\">\n  <b/>\n</a>\n")).is_ok());
    }
}
