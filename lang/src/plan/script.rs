//! Step 5 of a plan: a package's build as a shell script (`hit show script`, `hit bdir`),
//! from the same environment changes and stages its spec holds, so the two cannot drift
//! apart, and run the same way: each stage on its own, starting in `$BUILD`.

use super::lower::Lowered;
use hit_spec::{EnvChange, EnvOp};

pub(super) fn render(lowered: &Lowered) -> String {
    let parts = &lowered.parts;
    let mut script = format!(
        "#!/bin/sh\n# {} {}: the build as a shell script. Run it in a build directory (see `hit bdir`)\n# with ARTIFACT, BUILD and HOME set, and each import's <NAME>_DIR.\nset -ex\n",
        parts.name,
        parts.version.as_deref().unwrap_or("")
    );
    for change in &lowered.env {
        script.push_str(&shell(change));
        script.push('\n');
    }
    // Each stage in a subshell that starts in $BUILD, as each is its own `sh -exc` in
    // $BUILD in a real build: a `cd` or a variable set in one stage does not reach the next,
    // and a failing line stops the script (`-e` holds in subshells too).
    for stage in &lowered.stages {
        script.push_str(&format!("\n: stage {}\n(\ncd \"$BUILD\"\n", stage.name));
        for line in &stage.run {
            script.push_str(line);
            script.push('\n');
        }
        script.push_str(")\n");
    }
    script
}

/// One environment change as a line of `sh`; values keep their `$VAR`s, which the shell
/// expands as hit's substitution would.
fn shell(change: &EnvChange) -> String {
    let quoted = hit_spec::shell::escape_in_double_quotes;
    let variable = &change.variable;
    let value = quoted(&change.value);
    let separator = change.op.separator();
    let assignment = match change.op {
        EnvOp::Set => format!("export {variable}=\"{value}\""),
        op if op.prepends() => {
            format!("export {variable}=\"{value}${{{variable}:+{separator}${variable}}}\"")
        }
        _ => format!("export {variable}=\"${{{variable}:+${variable}{separator}}}{value}\""),
    };
    match &change.if_exists {
        None => assignment,
        Some(path) => format!("if [ -e \"{}\" ]; then {assignment}; fi", quoted(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(op: EnvOp, if_exists: Option<&str>) -> EnvChange {
        EnvChange {
            op,
            variable: "V".into(),
            value: "x \"y\"".into(),
            hashed: true,
            if_exists: if_exists.map(str::to_owned),
        }
    }

    #[test]
    fn each_change_renders_as_the_shell_line_it_means() {
        assert_eq!(shell(&change(EnvOp::Set, None)), r#"export V="x \"y\"""#);
        assert_eq!(
            shell(&change(EnvOp::AppendFlag, Some("/d"))),
            r#"if [ -e "/d" ]; then export V="${V:+$V }x \"y\""; fi"#
        );
        assert_eq!(
            shell(&change(EnvOp::PrependPath, Some("/d"))),
            r#"if [ -e "/d" ]; then export V="x \"y\"${V:+:$V}"; fi"#
        );
    }
}
