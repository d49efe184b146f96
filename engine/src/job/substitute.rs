//! `$VAR` and `${VAR}` substitution; `\$` is a literal `$`; an unknown variable is an error.

use std::collections::BTreeMap;

/// A string that cannot be substituted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstituteError {
    #[error("unknown variable ${name} in {text:?}")]
    Unknown { name: String, text: String },
    #[error("stray `$` in {text:?}: write `$NAME` or `${{NAME}}`, or `\\$` for a literal dollar")]
    Stray { text: String },
}

pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, SubstituteError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let stray = || SubstituteError::Stray {
        text: text.to_owned(),
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'$') => {
                out.push('$');
                i += 2;
            }
            b'$' => {
                let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
                    let close = text[i + 2..].find('}').ok_or_else(stray)? + i + 2;
                    (&text[i + 2..close], close + 1)
                } else {
                    let len = text[i + 1..]
                        .bytes()
                        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                        .count();
                    (&text[i + 1..i + 1 + len], i + 1 + len)
                };
                if !crate::spec::is_variable_name(name) {
                    return Err(stray());
                }
                let value = vars.get(name).ok_or_else(|| SubstituteError::Unknown {
                    name: name.to_owned(),
                    text: text.to_owned(),
                })?;
                out.push_str(value);
                i = next;
            }
            _ => {
                let next = text[i..].find(['$', '\\']).map_or(bytes.len(), |offset| {
                    // A backslash not before `$` is an ordinary character.
                    if offset == 0 { i + 1 } else { i + offset }
                });
                out.push_str(&text[i..next]);
                i = next;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("A".into(), "x".into()), ("B_2".into(), "y".into())])
    }

    #[test]
    fn substitutes_both_forms_and_escapes() {
        assert_eq!(substitute("$A/${B_2}z $A", &vars()).unwrap(), "x/yz x");
        assert_eq!(
            substitute(r"cost \$5 \n $A", &vars()).unwrap(),
            r"cost $5 \n x"
        );
        assert_eq!(substitute("--prefix=$A.", &vars()).unwrap(), "--prefix=x.");
        assert_eq!(substitute("é$A", &vars()).unwrap(), "éx");
    }

    #[test]
    fn unknown_and_stray_are_errors() {
        assert_eq!(
            substitute("$NOPE", &vars()),
            Err(SubstituteError::Unknown {
                name: "NOPE".into(),
                text: "$NOPE".into()
            })
        );
        assert!(matches!(
            substitute("a$", &vars()),
            Err(SubstituteError::Stray { .. })
        ));
        assert!(matches!(
            substitute("$(x)", &vars()),
            Err(SubstituteError::Stray { .. })
        ));
        assert!(matches!(
            substitute("${A", &vars()),
            Err(SubstituteError::Stray { .. })
        ));
        assert!(matches!(
            substitute("$1", &vars()),
            Err(SubstituteError::Stray { .. })
        ));
    }
}
