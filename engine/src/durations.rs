//! Build durations by package name, kept in `<home>/durations.json`, for the scheduler's
//! critical-path order. Only a hint: a missing or broken file means "nothing known".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Used for packages never built before when nothing else is known.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Recorded durations, in milliseconds by package name.
#[derive(Debug, Clone, Default)]
pub struct Durations {
    path: PathBuf,
    millis: BTreeMap<String, u64>,
}

impl Durations {
    /// Reads the file (see [`crate::home::Home::durations_file`]); missing or broken is empty.
    pub fn load(path: &Path) -> Self {
        let path = path.to_path_buf();
        let millis = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Self { path, millis }
    }

    /// The expected duration of a package: its last one, else the median of all known ones,
    /// else [`DEFAULT_DURATION`].
    pub fn expected(&self, name: &str) -> Duration {
        if let Some(ms) = self.millis.get(name) {
            return Duration::from_millis(*ms);
        }
        let mut all: Vec<u64> = self.millis.values().copied().collect();
        if all.is_empty() {
            return DEFAULT_DURATION;
        }
        all.sort_unstable();
        Duration::from_millis(all[all.len() / 2])
    }

    /// Records new durations and writes the file (merged with what other processes wrote
    /// meanwhile; temp file, then rename).
    pub fn record(&mut self, new: &BTreeMap<String, Duration>) -> std::io::Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let mut merged = Self::load(&self.path).millis;
        for (name, duration) in new {
            merged.insert(
                name.clone(),
                u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            );
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut temp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut temp, &merged)?;
        temp.persist(&self.path).map_err(|error| error.error)?;
        self.millis = merged;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_packages_get_the_median_of_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut durations = Durations::load(&dir.path().join("durations.json"));
        assert_eq!(durations.expected("x"), DEFAULT_DURATION);
        let new = BTreeMap::from([
            ("a".to_string(), Duration::from_secs(1)),
            ("b".to_string(), Duration::from_secs(3)),
            ("c".to_string(), Duration::from_secs(9)),
        ]);
        durations.record(&new).unwrap();
        let again = Durations::load(&dir.path().join("durations.json"));
        assert_eq!(again.expected("c"), Duration::from_secs(9));
        assert_eq!(again.expected("unknown"), Duration::from_secs(3));
    }

    #[test]
    fn durations_another_process_recorded_meanwhile_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("durations.json");
        let mut one = Durations::load(&file);
        let mut two = Durations::load(&file);
        one.record(&BTreeMap::from([("a".to_string(), Duration::from_secs(5))]))
            .unwrap();
        two.record(&BTreeMap::from([("b".to_string(), Duration::from_secs(7))]))
            .unwrap();
        let both = Durations::load(&file);
        assert_eq!(both.expected("a"), Duration::from_secs(5));
        assert_eq!(both.expected("b"), Duration::from_secs(7));
    }
}
