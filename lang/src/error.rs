//! Errors that point into scripts: file, line, column and the offending line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with a recipe or profile, located as precisely as hit knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LangError {
    pub file: Option<PathBuf>,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    /// The text of the line at `position`.
    pub source_line: Option<String>,
    pub message: String,
}

impl LangError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            file: None,
            position: None,
            source_line: None,
            message: message.into(),
        }
    }

    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: Some(file.to_path_buf()),
            ..Self::new(message)
        }
    }

    /// Locates the error at a position of `source` (the file's text).
    pub fn at(
        file: &Path,
        source: &str,
        position: rhai::Position,
        message: impl Into<String>,
    ) -> Self {
        let mut error = Self::in_file(file, message);
        if let (Some(line), column) = (position.line(), position.position()) {
            error.position = Some((line, column.unwrap_or(1)));
            error.source_line = source.lines().nth(line - 1).map(str::to_owned);
        }
        error
    }
}

impl fmt::Display for LangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.position) {
            (Some(file), Some((line, column))) => {
                write!(f, "{}:{line}:{column}: {}", file.display(), self.message)?
            }
            (Some(file), None) => write!(f, "{}: {}", file.display(), self.message)?,
            (None, _) => f.write_str(&self.message)?,
        }
        if let (Some(text), Some((line, column))) = (&self.source_line, self.position) {
            let gutter = line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {:>column$}",
                "", "", "^"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for LangError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_and_a_caret() {
        let source = "let a = 1;\nlet b = oops;\n";
        let error = LangError::at(
            Path::new("x.rhai"),
            source,
            rhai::Position::new(2, 9),
            "variable not found: oops",
        );
        assert_eq!(
            error.to_string(),
            "x.rhai:2:9: variable not found: oops\n  |\n2 | let b = oops;\n  |         ^"
        );
    }
}
