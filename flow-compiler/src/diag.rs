//! Diagnostics: every user mistake in a flow is a [`Diagnostic`] with a stable code and a
//! position in a YAML file; [`render`] prints them the way rustc does.

use std::fmt;

/// Index of a file in [`Sources`].
pub type FileId = u32;

/// A place in a YAML file: 1-based line and column (in characters), and a length in characters
/// for the caret (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
    pub len: u32,
}

/// How the text of one YAML scalar (a script, an expression, a template) maps back to the file,
/// so the language can point at a token inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub file: FileId,
    /// Line and column of the first character of the scalar's *content* (after an opening quote;
    /// for a block scalar `|`, the first content line and its indentation + 1).
    pub line: u32,
    pub col: u32,
    /// `true` for block scalars (`|`, `>`): content line `k` is at `line + k`, column `col + c`.
    /// `false` for flow scalars: the text is taken to be on one line starting at `col`.
    pub block: bool,
}

impl Origin {
    /// The span of `text[start..end]` (byte offsets into the scalar's content).
    pub fn span(&self, text: &str, start: usize, end: usize) -> Span {
        let start = start.min(text.len());
        let end = end.clamp(start, text.len());
        let before = &text[..floor_char_boundary(text, start)];
        let (line, col) = if self.block {
            let line_idx = before.matches('\n').count() as u32;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let c = before[line_start..].chars().count() as u32;
            (self.line + line_idx, self.col + c)
        } else {
            (self.line, self.col + before.chars().count() as u32)
        };
        let piece = &text[floor_char_boundary(text, start)..floor_char_boundary(text, end)];
        let piece = piece.split('\n').next().unwrap_or("");
        let len = (piece.chars().count() as u32).max(1);
        Span {
            file: self.file,
            line,
            col,
            len,
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A stable diagnostic code (`HF0101`, ...). The list and meaning of each code is in
/// `docs/flows.md`; codes are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub &'static str);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One user mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    /// The headline: `unknown node `ignore``.
    pub message: String,
    pub span: Span,
    /// Text under the caret: `no node has this id`.
    pub label: String,
    /// Extra lines shown as `= note: ...`.
    pub notes: Vec<String>,
    /// `= help: did you mean `ignored`?`
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            span,
            label: String::new(),
            notes: Vec::new(),
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// "did you mean `x`?" for the closest candidate to `name`, if one is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

/// The files a compilation read: display path (relative, e.g. `flows/github.yaml`) and text.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub files: Vec<(String, String)>,
}

impl Sources {
    pub fn add(&mut self, path: String, text: String) -> FileId {
        self.files.push((path, text));
        (self.files.len() - 1) as FileId
    }

    pub fn path(&self, id: FileId) -> &str {
        &self.files[id as usize].0
    }

    pub fn text(&self, id: FileId) -> &str {
        &self.files[id as usize].1
    }
}

/// Renders diagnostics the way rustc does (`error[HF0201]: ...`, `--> file:line:col`, an excerpt
/// with a caret under the token, `= note:` / `= help:` lines), without colours, one blank line
/// between diagnostics.
pub fn render(diags: &[Diagnostic], sources: &Sources) -> String {
    diags
        .iter()
        .map(|d| render_one(d, sources))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders one diagnostic (see [`render`]).
pub fn render_one(d: &Diagnostic, sources: &Sources) -> String {
    use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
    let file = d.span.file as usize;
    let (path, text) = sources
        .files
        .get(file)
        .map_or(("<unknown>", ""), |(p, t)| (p.as_str(), t.as_str()));
    let range = byte_range(text, d.span);
    let mut elements: Vec<annotate_snippets::Element<'_>> = vec![Snippet::source(text)
        .path(path)
        .annotation(AnnotationKind::Primary.span(range).label(d.label.as_str()))
        .into()];
    for n in &d.notes {
        elements.push(Level::NOTE.message(n.as_str()).into());
    }
    if let Some(h) = &d.help {
        elements.push(Level::HELP.message(h.as_str()).into());
    }
    let report = [Level::ERROR
        .primary_title(d.message.as_str())
        .id(d.code.0)
        .elements(elements)];
    let mut out = Renderer::plain().render(&report).to_string();
    out.push('\n');
    out
}

/// Byte range in `text` of a span (line/col/len in characters).
fn byte_range(text: &str, span: Span) -> std::ops::Range<usize> {
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i + 1 == span.line as usize {
            let content = line.trim_end_matches(['\n', '\r']);
            let start = content
                .char_indices()
                .nth(span.col.saturating_sub(1) as usize)
                .map_or(content.len(), |(b, _)| b);
            let end = content[start..]
                .char_indices()
                .nth(span.len.max(1) as usize)
                .map_or(content.len(), |(b, _)| start + b);
            let end =
                end.max(start + usize::from(start == content.len() && line.len() > content.len()));
            return offset + start..offset + end.min(line.len());
        }
        offset += line.len();
    }
    text.len()..text.len()
}
