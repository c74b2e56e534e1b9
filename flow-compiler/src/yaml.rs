//! YAML with positions: parses a file with `saphyr` into a small owned tree where every node
//! (keys included) knows its [`Span`], and every string scalar knows the [`Origin`] of its
//! content so the expression language can point at a token inside it.

use crate::diag::{Code, Diagnostic, FileId, Origin, Span};
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// YAML syntax error (or a YAML feature flows do not use: aliases, tags, several documents).
pub const HF0101: Code = Code("HF0101");

/// A YAML value with its place in the file.
#[derive(Debug, Clone)]
pub struct Node {
    pub val: Val,
    pub span: Span,
    /// Where a string scalar's content starts (meaningful for strings only).
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.val {
            Val::Null => "null",
            Val::Bool(_) => "a boolean",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a number",
            Val::Str(_) => "a string",
            Val::Seq(_) => "a list",
            Val::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.val {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses one YAML file; a syntax error becomes an HF0101 diagnostic and `None`.
pub fn parse(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let docs = match MarkedYaml::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let m = e.marker();
            let span = Span {
                file,
                line: m.line().max(1) as u32,
                col: m.col() as u32 + 1,
                len: 1,
            };
            diags.push(
                Diagnostic::new(HF0101, span, format!("YAML syntax error: {}", e.info()))
                    .label("the YAML parser stopped here"),
            );
            return None;
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let conv = Conv {
        file,
        lines: &lines,
    };
    let mut it = docs.iter();
    let first = it.next();
    if let Some(second) = it.next() {
        diags.push(
            Diagnostic::new(
                HF0101,
                conv.span(second),
                "a flow file holds one YAML document",
            )
            .label("a second document starts here"),
        );
        return None;
    }
    match first {
        Some(d) => conv.node(d, diags),
        None => Some(Node {
            val: Val::Null,
            span: Span {
                file,
                line: 1,
                col: 1,
                len: 1,
            },
            origin: Origin {
                file,
                line: 1,
                col: 1,
                block: false,
            },
        }),
    }
}

struct Conv<'t> {
    file: FileId,
    lines: &'t [&'t str],
}

impl Conv<'_> {
    fn line(&self, line: u32) -> &str {
        self.lines
            .get((line as usize).wrapping_sub(1))
            .copied()
            .unwrap_or("")
    }

    /// Start position, and a length running to the end of the token on its line.
    fn span(&self, n: &MarkedYaml<'_>) -> Span {
        let line = n.span.start.line().max(1) as u32;
        let col = n.span.start.col() as u32 + 1;
        let len =
            if n.span.end.line() == n.span.start.line() && n.span.end.col() > n.span.start.col() {
                (n.span.end.col() - n.span.start.col()) as u32
            } else {
                let rest: String = self.line(line).chars().skip(col as usize - 1).collect();
                rest.trim_end().chars().count().max(1) as u32
            };
        Span {
            file: self.file,
            line,
            col,
            len: len.max(1),
        }
    }

    /// Where a string scalar's content starts.
    fn origin(&self, span: Span) -> Origin {
        let text = self.line(span.line);
        let first = text.chars().nth(span.col as usize - 1);
        match first {
            Some('"' | '\'') => Origin {
                file: self.file,
                line: span.line,
                col: span.col + 1,
                block: false,
            },
            Some('|' | '>') => {
                // Content starts on the first non-blank line after the indicator.
                let mut l = span.line + 1;
                while (l as usize) <= self.lines.len() && self.line(l).trim().is_empty() {
                    l += 1;
                }
                let indent = self.line(l).chars().take_while(|c| *c == ' ').count() as u32;
                Origin {
                    file: self.file,
                    line: l,
                    col: indent + 1,
                    block: true,
                }
            }
            _ => Origin {
                file: self.file,
                line: span.line,
                col: span.col,
                block: self.after_block_indicator(span),
            },
        }
    }

    /// saphyr starts a block scalar's span at its first content line: it is one when only
    /// spaces precede it on its line and the previous non-blank line ends with `|` or `>`
    /// (optionally followed by chomping/indentation indicators).
    fn after_block_indicator(&self, span: Span) -> bool {
        let here = self.line(span.line);
        if !here.chars().take(span.col as usize - 1).all(|c| c == ' ') {
            return false;
        }
        let mut l = span.line;
        while l > 1 {
            l -= 1;
            let prev = self.line(l).trim_end();
            if prev.trim().is_empty() {
                continue;
            }
            let head = prev.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
            return head.ends_with('|') || head.ends_with('>');
        }
        false
    }

    fn node(&self, n: &MarkedYaml<'_>, diags: &mut Vec<Diagnostic>) -> Option<Node> {
        let span = self.span(n);
        let origin = self.origin(span);
        let val = match &n.data {
            YamlData::Value(s) => match s {
                Scalar::Null => Val::Null,
                Scalar::Boolean(b) => Val::Bool(*b),
                Scalar::Integer(i) => Val::Int(*i),
                Scalar::FloatingPoint(f) => Val::Float(f.into_inner()),
                Scalar::String(s) => Val::Str(s.to_string()),
            },
            YamlData::Representation(s, _, _) => Val::Str(s.to_string()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.node(i, diags)?);
                }
                Val::Seq(out)
            }
            YamlData::Mapping(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    out.push((self.node(k, diags)?, self.node(v, diags)?));
                }
                Val::Map(out)
            }
            YamlData::Tagged(_, _) | YamlData::Alias(_) | YamlData::BadValue => {
                diags.push(
                    Diagnostic::new(HF0101, span, "unsupported YAML feature")
                        .label("tags, anchors and aliases are not used in flow files"),
                );
                return None;
            }
        };
        // A block scalar's span covers the indicator line only.
        let span = if let (Val::Str(_), true) = (&val, origin.block) {
            Span { len: 1, ..span }
        } else {
            span
        };
        Some(Node { val, span, origin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_values_and_scalar_contents() {
        let text = "a: 1\nb:\n  c: \"x{{y}}\"\n  d: |\n    let x = 1;\n    x\ne: plain\n";
        let mut diags = Vec::new();
        let n = parse(0, text, &mut diags).expect("parses");
        assert!(diags.is_empty());
        let Val::Map(top) = &n.val else { panic!("map") };
        assert_eq!((top[0].0.span.line, top[0].0.span.col), (1, 1));
        assert_eq!((top[0].1.span.line, top[0].1.span.col), (1, 4));
        let Val::Map(b) = &top[1].1.val else {
            panic!("map")
        };
        let c = &b[0].1;
        assert_eq!((c.origin.line, c.origin.col, c.origin.block), (3, 7, false));
        let d = &b[1].1;
        assert_eq!((d.origin.line, d.origin.col, d.origin.block), (5, 5, true));
        assert_eq!(d.as_str(), Some("let x = 1;\nx\n"));
        let e = &top[2].1;
        assert_eq!((e.span.line, e.span.col, e.span.len), (7, 4, 5));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let mut diags = Vec::new();
        assert!(parse(0, "a: [1, 2\nb: 3\n", &mut diags).is_none());
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, HF0101);
    }
}
