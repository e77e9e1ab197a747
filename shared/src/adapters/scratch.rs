//! Files for the adapters' tests.
use std::path::{Path, PathBuf};

/// A file's path in a new directory of its own under the system's temporary directory; the
/// directory goes, with whatever was written there, when this is dropped (so declare it before
/// the connections that use the file).
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// A path for `file`, in a directory named after `purpose` and made unique.
    pub fn new(purpose: &str, file: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "rappel-{purpose}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir.join(file))
    }

    /// The file's path (the file itself is not created).
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
