//! Saved logins ("profiles"): one JSON file per profile under
//! `$FERRY_HOME/profiles/` (default `<config dir>/ferry/profiles/`), written
//! atomically and readable only by the owner, since it holds a token.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// What `ferry login` remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// HTTP base URL of the server.
    pub server: String,
    /// Who is logged in.
    pub username: String,
    /// Their user id.
    pub user_id: i64,
    /// Session token; `None` after `logout`.
    #[serde(default)]
    pub token: Option<String>,
    /// Device id, reused on the next login so it replaces this session.
    pub device_id: String,
    /// Last seq seen per conversation, so `sync` resumes where it stopped.
    #[serde(default)]
    pub known_seqs: BTreeMap<String, u64>,
}

impl Profile {
    /// The token, or the "not logged in" error.
    pub fn token(&self) -> Result<&str> {
        self.token.as_deref().context("not logged in (run ferry login)")
    }

    /// The saved seqs in the form the SDK takes.
    pub fn seqs(&self) -> HashMap<String, u64> {
        self.known_seqs.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Records seqs reported by the SDK, never moving one backwards.
    pub fn merge_seqs(&mut self, seqs: HashMap<String, u64>) {
        for (conversation, seq) in seqs {
            let entry = self.known_seqs.entry(conversation).or_insert(0);
            *entry = (*entry).max(seq);
        }
    }
}

/// The directory holding every profile.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    home: PathBuf,
    dir: PathBuf,
}

impl ProfileStore {
    /// `$FERRY_HOME/profiles`, else `<config dir>/ferry/profiles`.
    pub fn from_env() -> Result<Self> {
        let home = match std::env::var_os("FERRY_HOME") {
            Some(home) if !home.is_empty() => PathBuf::from(home),
            _ => dirs::config_dir().context("no config directory; set FERRY_HOME")?.join("ferry"),
        };
        Ok(Self::at(home))
    }

    /// The store under the Ferry home directory `home`.
    pub fn at(home: impl AsRef<Path>) -> Self {
        Self { home: home.as_ref().to_path_buf(), dir: home.as_ref().join("profiles") }
    }

    /// The Ferry home directory (other state lives beside the profiles).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Where profile `name` lives.
    pub fn path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// The profile, or `None` if it was never saved.
    pub fn load(&self, name: &str) -> Result<Option<Profile>> {
        let path = self.path(name)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let profile =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a valid profile", path.display()))?;
        Ok(Some(profile))
    }

    /// The profile with a token, or the "not logged in" error.
    pub fn load_logged_in(&self, name: &str) -> Result<Profile> {
        match self.load(name)? {
            Some(p) if p.token.is_some() => Ok(p),
            _ => bail!("not logged in (run ferry login)"),
        }
    }

    /// Saves atomically: a private temporary file in the same directory,
    /// flushed, then renamed over the old one.
    pub fn save(&self, name: &str, profile: &Profile) -> Result<()> {
        let path = self.path(name)?;
        create_private_dir(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.json.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(profile)?;
        let write = || -> std::io::Result<()> {
            let mut file = private_file(&tmp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("writing {}", path.display()));
        }
        Ok(())
    }
}

/// Profile names become file names: keep them to a safe alphabet.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        bail!("invalid profile name {name:?} (use letters, digits, '_', '-', '.')");
    }
    Ok(())
}

#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(not(unix))]
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(unix)]
pub fn private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
pub fn private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Profile {
        Profile {
            server: "http://127.0.0.1:8080".into(),
            username: "alice".into(),
            user_id: 1,
            token: Some("tok".into()),
            device_id: "dev".into(),
            known_seqs: BTreeMap::from([("d_1_2".into(), 4)]),
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let home = tempfile::tempdir().unwrap();
        let store = ProfileStore::at(home.path());
        assert_eq!(store.load("default").unwrap(), None);
        store.save("default", &sample()).unwrap();
        assert_eq!(store.load("default").unwrap(), Some(sample()));
        // Overwrite in place; no temporary files left behind.
        let mut p = sample();
        p.token = None;
        store.save("default", &p).unwrap();
        assert_eq!(store.load("default").unwrap(), Some(p));
        let names: Vec<_> = fs::read_dir(home.path().join("profiles"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["default.json"]);
    }

    #[test]
    fn logged_out_profiles_say_so() {
        let home = tempfile::tempdir().unwrap();
        let store = ProfileStore::at(home.path());
        let err = store.load_logged_in("x").unwrap_err();
        assert_eq!(err.to_string(), "not logged in (run ferry login)");
        let mut p = sample();
        p.token = None;
        store.save("x", &p).unwrap();
        assert!(store.load_logged_in("x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn profile_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let store = ProfileStore::at(home.path());
        store.save("p", &sample()).unwrap();
        let mode = fs::metadata(store.path("p").unwrap()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn unsafe_names_are_refused() {
        let store = ProfileStore::at("/nonexistent");
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(store.path(bad).is_err(), "{bad}");
        }
        assert!(store.path("work-2.alt_x").is_ok());
    }

    #[test]
    fn seqs_merge_without_going_backwards() {
        let mut p = sample();
        p.merge_seqs(HashMap::from([("d_1_2".into(), 2), ("d_1_3".into(), 7)]));
        assert_eq!(p.known_seqs, BTreeMap::from([("d_1_2".into(), 4), ("d_1_3".into(), 7)]));
        assert_eq!(p.seqs().len(), 2);
    }
}
