//! Resumable uploads in progress, saved under `$FERRY_HOME/uploads/` so
//! that running the same `ferry send` again continues where an interrupted
//! one stopped. One JSON file (the SDK's [`UploadState`]) per upload, named
//! by a digest of who uploads what to where: the server, the user, and the
//! file's canonical path, size and modification time (a changed file is a
//! new upload). A file is removed once its upload is done.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use anyhow::{Context, Result};
use ferry_client::UploadState;
use sha2::{Digest, Sha256};

use crate::profile::{create_private_dir, private_file};

/// The directory of saved upload states.
#[derive(Debug, Clone)]
pub struct UploadStore {
    dir: PathBuf,
}

/// Names one upload among the saved ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey(String);

impl UploadKey {
    /// The key of uploading the file at `canonical` (a canonical path) with
    /// metadata `meta`, as `user_id` to `server`.
    pub fn new(server: &str, user_id: i64, canonical: &Path, meta: &fs::Metadata) -> Self {
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let mut h = Sha256::new();
        for part in [
            server.trim_end_matches('/').as_bytes(),
            user_id.to_string().as_bytes(),
            canonical.as_os_str().as_encoded_bytes(),
            meta.len().to_string().as_bytes(),
            format!("{}.{:09}", mtime.as_secs(), mtime.subsec_nanos()).as_bytes(),
        ] {
            h.update(part);
            h.update([0]);
        }
        let digest = h.finalize();
        Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl UploadStore {
    /// The store under the Ferry home directory `home`.
    pub fn at(home: &Path) -> Self {
        Self { dir: home.join("uploads") }
    }

    fn path(&self, key: &UploadKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.0))
    }

    /// The saved state of upload `key`, if any (an unreadable one counts as
    /// none: the upload then starts over).
    pub fn load(&self, key: &UploadKey) -> Option<UploadState> {
        let bytes = fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Saves atomically (a temporary file renamed over the old one).
    pub fn save(&self, key: &UploadKey, state: &UploadState) -> Result<()> {
        let path = self.path(key);
        create_private_dir(&self.dir)?;
        let tmp = self.dir.join(format!(".{}.{}.tmp", key.0, std::process::id()));
        let json = serde_json::to_vec_pretty(state)?;
        let write = || -> std::io::Result<()> {
            let mut file = private_file(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        Ok(())
    }

    /// Forgets upload `key` (done, or no longer resumable).
    pub fn remove(&self, key: &UploadKey) -> Result<()> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_saved_loaded_and_removed_by_key() {
        let home = tempfile::tempdir().unwrap();
        let file = home.path().join("a.bin");
        fs::write(&file, b"hello").unwrap();
        let meta = fs::metadata(&file).unwrap();
        let key = UploadKey::new("http://h:1/", 7, &file, &meta);
        assert_eq!(key, UploadKey::new("http://h:1", 7, &file, &meta), "a trailing slash is the same server");
        assert_ne!(key, UploadKey::new("http://h:1", 8, &file, &meta), "another user");
        assert_ne!(key, UploadKey::new("http://h:2", 7, &file, &meta), "another server");
        fs::write(&file, b"hello, world").unwrap();
        assert_ne!(key, UploadKey::new("http://h:1", 7, &file, &fs::metadata(&file).unwrap()), "another size");

        let store = UploadStore::at(home.path());
        assert_eq!(store.load(&key), None);
        let state = UploadState {
            upload_url: "http://h:1/api/v1/uploads/u1".into(),
            path: file,
            size: 5,
            sha256: "ab".repeat(32),
        };
        store.save(&key, &state).unwrap();
        assert_eq!(store.load(&key), Some(state));
        store.remove(&key).unwrap();
        store.remove(&key).unwrap();
        assert_eq!(store.load(&key), None);
        let left: Vec<_> = fs::read_dir(home.path().join("uploads")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
