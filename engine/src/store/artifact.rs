//! `artifact.json`: what the store knows about an artifact beyond its files.

use crate::spec::ArtifactId;
use serde::{Deserialize, Serialize};

/// The metadata directory inside every artifact.
pub const META_DIR: &str = ".hit";
/// Format version of `artifact.json`.
pub const META_FORMAT: u32 = 1;

/// Contents of `<artifact>/.hit/artifact.json`. Written pretty, fields in this order: the
/// `"id": "...",` line comes second, within the first bytes of the file, where lookups
/// read it without parsing the (possibly long) rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactMeta {
    pub format: u32,
    pub id: ArtifactId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The artifacts this one imported to build, directly.
    pub imports: Vec<ArtifactId>,
    /// The transitive closure of `imports`, sorted: what gc must keep alive with it.
    pub dependencies: Vec<ArtifactId>,
    /// `sha256:<hex>` of `.hit/manifest`: what the artifact holds (see
    /// [`super::manifest`]). Set at commit; absent in artifacts of older hit versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Whether it can be installed under another store (see [`super::relocate`]; the
    /// findings are in `.hit/relocation.json`). Set at commit; absent in older artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relocatable: Option<bool>,
    /// Whether a rebuild gave the same contents (`hit build --check`); absent until
    /// checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
}
