//! Shell quoting (pure): how hit writes command lines for people and for `sh`.

/// Arguments as a shell user would type them: plain words as they are, anything else in
/// single quotes (`it's` becomes `'it'\''s'`).
pub fn quote(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,+@%".contains(&b));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    }
}
