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
    /// What in the script the error is about, to point at it rather than at the call
    /// that found it: a map key (`verison`) or a string (`"instal"`). See [`Self::at_token`].
    pub token: Option<Box<Token>>,
}

/// Something to find in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A map key: `name:` (or `"name":`).
    Key(String),
    /// A string literal: `"text"`.
    Text(String),
}

impl Token {
    /// The first place at or after `from` (1-based line and column) where it is written.
    fn find(&self, source: &str, from: (usize, usize)) -> Option<(usize, usize)> {
        for (index, line) in source.lines().enumerate().skip(from.0.saturating_sub(1)) {
            let start = if index + 1 == from.0 {
                line.char_indices()
                    .nth(from.1.saturating_sub(1))
                    .map_or(line.len(), |(byte, _)| byte)
            } else {
                0
            };
            if let Some(byte) = self.find_in_line(&line[start..]) {
                let column = line[..start + byte].chars().count() + 1;
                return Some((index + 1, column));
            }
        }
        None
    }

    fn find_in_line(&self, line: &str) -> Option<usize> {
        match self {
            Self::Text(text) => line.find(&format!("{text:?}")),
            Self::Key(key) => {
                let quoted = format!("{key:?}");
                let is_word = |c: char| c.is_alphanumeric() || c == '_';
                line.match_indices(key.as_str())
                    .find(|(at, _)| {
                        let before = line[..*at].chars().next_back();
                        let after = line[at + key.len()..].trim_start();
                        !before.is_some_and(is_word)
                            && after.starts_with(':')
                            && !after.starts_with("::")
                    })
                    .map(|(at, _)| at)
                    .or_else(|| line.find(&format!("{quoted}:")))
            }
        }
    }
}

impl LangError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            file: None,
            position: None,
            source_line: None,
            message: message.into(),
            token: None,
        }
    }

    /// The same error, about `token`.
    pub fn about(mut self, token: Token) -> Self {
        self.token = Some(Box::new(token));
        self
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

    /// Like [`Self::at`], but at `token` if it is written at or after `position` (the call
    /// that found the error): the key or string at fault, not the `recipe(#{` around it.
    pub fn at_token(
        file: &Path,
        source: &str,
        position: rhai::Position,
        message: impl Into<String>,
        token: Option<&Token>,
    ) -> Self {
        let from = (
            position.line().unwrap_or(1),
            position.position().unwrap_or(1),
        );
        let found = token.and_then(|token| token.find(source, from));
        let position = match found {
            Some((line, column)) => rhai::Position::new(line as u16, column as u16),
            None => position,
        };
        let mut error = Self::at(file, source, position, message);
        error.token = token.cloned().map(Box::new);
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
    fn tokens_are_found_after_the_call() {
        let source = "let verison = 1;\nrecipe(#{\n    name: \"x\",\n    verison: \"1\",\n    stages: [stage_after(\"instal\", \"y\", \"z\")],\n})";
        let key = Token::Key("verison".into());
        assert_eq!(key.find(source, (2, 1)), Some((4, 5)));
        let text = Token::Text("instal".into());
        assert_eq!(text.find(source, (2, 1)), Some((5, 26)));
        assert_eq!(Token::Key("nope".into()).find(source, (1, 1)), None);
        // `name` inside `rename:` is not the key `name`.
        assert_eq!(
            Token::Key("name".into()).find("rename: 1, name: 2", (1, 1)),
            Some((1, 12))
        );
    }

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
