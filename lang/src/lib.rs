//! hit-lang: recipes and profiles in Rhai (not yet implemented; see DESIGN.md).
