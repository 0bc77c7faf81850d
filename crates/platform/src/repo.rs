//! Files of the repository, for tests and tools run from inside a checkout.
//!
//! Found at run time, never from a path compiled in: one target directory serves several
//! checkouts, and a crate compiled in one of them is reused by the others.

use std::path::{Path, PathBuf};

/// `relative` (for example `models/taxonomy.toml`) in the checkout being worked in: the first
/// directory holding it, going up from the package cargo runs (`CARGO_MANIFEST_DIR`, set for
/// tests) or else from the current directory. `relative` itself when no directory holds it.
pub fn path(relative: &str) -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    start
        .ancestors()
        .map(|dir| dir.join(relative))
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| Path::new(relative).to_path_buf())
}

/// [`path`] as a string.
pub fn path_string(relative: &str) -> String {
    path(relative).to_string_lossy().into_owned()
}
