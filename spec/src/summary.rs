//! What a user of an artifact needs from its spec, read without the build commands.
//!
//! A spec's commands can be most of it (a package over a thousand dependencies has a few
//! thousand setter nodes, half a megabyte); `hit env`, `hit modules`, `hit develop` and
//! `hit graph` read every package of a profile and need only the name, version,
//! description, homepage, run-time environment and imports. [`SpecSummary::from_json`]
//! deserializes just those (serde skips the rest without building values), so reading a
//! profile costs what its packages' metadata costs.

use super::command::{EnvChange, run_env_changes};
use super::{ArtifactId, SpecError};
use serde::Deserialize;

/// The parts of a stored spec that describe its use, not its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecSummary {
    pub name: String,
    pub version: Option<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub run_env: Vec<EnvChange>,
    /// The ids it imported (a `virtual:` import as what it resolved to when built).
    pub imports: Vec<ArtifactId>,
}

#[derive(Deserialize)]
struct Raw {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    nohash_description: Option<serde_json::Value>,
    #[serde(default)]
    nohash_homepage: Option<serde_json::Value>,
    #[serde(default)]
    nohash_run_env: Option<serde_json::Value>,
    #[serde(default)]
    build: Option<RawBuild>,
    /// What `virtual:` imports resolved to when the artifact was built.
    #[serde(default)]
    nohash_virtuals: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawBuild {
    #[serde(default)]
    import: Vec<RawImport>,
}

#[derive(Deserialize)]
struct RawImport {
    id: String,
}

impl SpecSummary {
    /// Reads the summary of a spec's JSON text (as the store keeps it).
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let raw: Raw = serde_json::from_str(text)?;
        let text_of = |value: Option<serde_json::Value>| match value {
            Some(serde_json::Value::String(text)) => Some(text),
            _ => None,
        };
        let run_env = run_env_changes(raw.nohash_run_env.as_ref());
        let virtuals = raw.nohash_virtuals;
        let imports = raw
            .build
            .map(|build| build.import)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(index, import)| match import.id.strip_prefix("virtual:") {
                Some(_) => virtuals.get(&import.id).map(|id| (index, id.clone())),
                None => Some((index, import.id)),
            })
            .map(|(index, id)| {
                id.parse()
                    .map_err(|error: super::IdError| SpecError::Invalid {
                        path: format!("$.build.import[{index}].id"),
                        message: error.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: raw.name,
            version: raw.version,
            description: text_of(raw.nohash_description),
            homepage: text_of(raw.nohash_homepage),
            run_env,
            imports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuildSpec;

    #[test]
    fn a_summary_says_what_the_full_spec_says() {
        let text = r#"{"name": "z", "version": "1.2", "nohash_description": "d",
            "nohash_homepage": "https://example.org",
            "nohash_run_env": [{"prepend_path": "ZPATH", "value": "${ARTIFACT}/z"}],
            "build": {"import": [{"id": "a/cwfxs3bhjvlxoczwlxlexklpeoewybcn", "ref": "A"}],
                      "commands": [{"cmd": ["true"]}]}}"#;
        let spec = BuildSpec::from_json(text).unwrap();
        let summary = SpecSummary::from_json(text).unwrap();
        assert_eq!(summary.name, spec.name().as_str());
        assert_eq!(summary.version.as_deref(), spec.version());
        assert_eq!(summary.description.as_deref(), spec.description());
        assert_eq!(summary.homepage.as_deref(), spec.homepage());
        assert_eq!(summary.run_env, spec.run_env());
        let ids: Vec<&ArtifactId> = spec.imports().iter().map(|import| &import.id).collect();
        assert_eq!(summary.imports.iter().collect::<Vec<_>>(), ids);
    }

    #[test]
    fn a_virtual_import_is_what_it_resolved_to() {
        let text = r#"{"name": "z", "nohash_virtuals": {"virtual:unix": "unix/cwfxs3bhjvlxoczwlxlexklpeoewybcn"},
            "build": {"import": [{"id": "virtual:unix", "ref": "UNIX"}, {"id": "virtual:other"}]}}"#;
        let summary = SpecSummary::from_json(text).unwrap();
        assert_eq!(
            summary.imports,
            ["unix/cwfxs3bhjvlxoczwlxlexklpeoewybcn"
                .parse::<ArtifactId>()
                .unwrap()]
        );
    }
}
