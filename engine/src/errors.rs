//! How errors read. An error's `Display` says what failed (`cannot read /x/build.json`);
//! its `source()` says why (`Permission denied`), and so on down. The `hit` binary prints
//! the first as `error:` and each cause as a `caused by:` line. Where an error becomes part
//! of another message (a failure cause, a verify reason, a log line), [`with_causes`]
//! writes the whole chain on one line.

use std::error::Error;

/// `error: cause: cause ...` on one line.
pub fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // A message that already says its cause (an error wrapped transparently, or one
        // from another library) is not repeated.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How a process ended, in words: `exited with status 2`, `was killed by signal 9`.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read /x")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn the_chain_reads_on_one_line() {
        let error = Outer {
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(with_causes(&error), "cannot read /x: disk on fire");
    }
}
