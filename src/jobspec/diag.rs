//! Where a problem is: `file:line:column: message`, with the source line under it.

use std::fmt;
use std::ops::Range;

/// A job file (or var file) and its text, to turn byte offsets into lines and columns.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line, column + 1)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |e| e - 1);
        self.text[start..end].trim_end_matches('\r')
    }

    /// A diagnostic at the start of `span` (or for the whole file without one).
    pub fn diag(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let message = message.into();
        match span {
            Some(span) => {
                let (line, column) = self.position(span.start);
                Diagnostic {
                    file: self.name.clone(),
                    line,
                    column,
                    message,
                    source_line: Some(self.line_text(line).to_string()),
                }
            }
            None => Diagnostic::file(&self.name, message),
        }
    }
}

/// One problem in a job file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 when the problem has no position (a missing block, an unset variable).
    pub line: usize,
    pub column: usize,
    pub message: String,
    source_line: Option<String>,
}

impl Diagnostic {
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
        }
    }
}

/// `file:line:col: message`, then the line and a caret under the column.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(text) = &self.source_line {
            let gutter = self.line.to_string().len();
            let pad: String = text
                .chars()
                .take(self.column - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{:gutter$} |\n{} | {text}\n{:gutter$} | {pad}^",
                "", self.line, ""
            )?;
        }
        Ok(())
    }
}

/// Everything wrong with a job file: parsing goes on after an error where it can, so a
/// user sees all of them at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobspecError {
    pub diagnostics: Vec<Diagnostic>,
}

impl JobspecError {
    pub fn one(diagnostic: Diagnostic) -> Self {
        JobspecError {
            diagnostics: vec![diagnostic],
        }
    }
}

impl From<Diagnostic> for JobspecError {
    fn from(d: Diagnostic) -> Self {
        JobspecError::one(d)
    }
}

impl fmt::Display for JobspecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for JobspecError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_char_columns() {
        let src = Source::new("f.nomad", "job \"x\" {\n  é = 1\n}\n");
        assert_eq!(src.position(0), (1, 1));
        assert_eq!(src.position(12), (2, 3));
        // After the two-byte é, column counts characters.
        assert_eq!(src.position(15), (2, 5));
        let d = src.diag(Some(12..13), "unexpected thing");
        assert_eq!(
            d.to_string(),
            "f.nomad:2:3: unexpected thing\n  |\n2 |   é = 1\n  |   ^"
        );
        assert_eq!(
            src.diag(None, "Missing job block").to_string(),
            "f.nomad: Missing job block"
        );
    }
}
