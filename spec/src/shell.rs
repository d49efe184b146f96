//! Shell quoting (pure): how hit writes command lines for people and for `sh`.

/// Whether a word needs no quoting at all.
fn is_plain(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,+@%".contains(&b))
}

/// Arguments as a shell user would type them: plain words as they are, anything else in
/// single quotes (`it's` becomes `'it'\''s'`). Nothing in them expands.
pub fn quote(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if is_plain(arg) {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Arguments for a shell line where `$VARIABLES` should still expand: plain words as they
/// are, anything else in double quotes with `"`, `\` and `` ` `` escaped, so that spaces
/// stay inside one argument.
pub fn quote_expanding(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if is_plain(arg) {
                arg.clone()
            } else {
                format!("\"{}\"", escape_in_double_quotes(arg))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` escaped to go between double quotes (`"`, `\` and `` ` ``), where `$VARIABLES`
/// still expand.
pub fn escape_in_double_quotes(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('`', "\\`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_shell_compatible() {
        let argv = vec![
            "make".to_string(),
            "CFLAGS=-O2 -g".to_string(),
            "it's".to_string(),
            String::new(),
        ];
        assert_eq!(quote(&argv), r#"make 'CFLAGS=-O2 -g' 'it'\''s' ''"#);
        let flags = vec![
            "--with-x=a b".to_string(),
            "--gmp=$GMP_DIR".to_string(),
            "say \"`hi`\"".to_string(),
        ];
        assert_eq!(
            quote_expanding(&flags),
            r#""--with-x=a b" "--gmp=$GMP_DIR" "say \"\`hi\`\"""#
        );
    }
}
