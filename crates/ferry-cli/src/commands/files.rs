//! Moving files: the upload behind `send --image/--file/--voice/--video`
//! (resumed after a dropped connection, and on a re-run of the same command
//! from the state saved in [`UploadStore`]), and `download FILE_ID [PATH]`
//! (resumed from its `.part`). Both show a progress bar and stop resumably
//! on Ctrl-C.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use ferry_client::{
    CancellationToken, ClientError, DownloadOptions, FileInfo, HttpApi, RetryPolicy, TransferEvent, UploadMethod,
    UploadOptions,
};
use ferry_core::ErrorCode;

use super::Ctx;
use crate::{
    output::{human_size, sanitize},
    profile::Profile,
    progress::TransferBar,
    uploads::{UploadKey, UploadStore},
};

/// A terminal client waits out longer outages than the SDK's default:
/// eight retries in a row, backing off up to 15 s (about a minute in all).
fn retry_policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 8, initial_delay: Duration::from_millis(500), max_delay: Duration::from_secs(15) }
}

/// Cancels its token on Ctrl-C while it lives.
struct CtrlC {
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl CtrlC {
    fn watch() -> Self {
        let token = CancellationToken::new();
        let cancel = token.clone();
        let task = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        });
        Self { token, task }
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Uploads the file at `path` as the profile's user, resuming an upload of
/// the same file that an earlier run left unfinished.
pub async fn upload(ctx: &Ctx, profile: &Profile, http: &HttpApi, path: &Path) -> Result<FileInfo> {
    let canonical = fs::canonicalize(path).with_context(|| format!("reading {}", path.display()))?;
    let meta = fs::metadata(&canonical).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let key = UploadKey::new(http.base_url(), profile.user_id, &canonical, &meta);
    let store = UploadStore::at(ctx.store.home());
    let ctrl_c = CtrlC::watch();
    let opts = UploadOptions { retry: retry_policy(), cancel: ctrl_c.token.clone(), ..Default::default() };

    let mut bar = TransferBar::new(&format!("uploading {name}"));
    let mut events = |e: TransferEvent<'_>| {
        if let TransferEvent::Resumable(state) = &e
            && let Err(err) = store.save(&key, state)
        {
            bar.note(&format!("warning: this upload cannot be resumed by a later run: {err:#}"));
        }
        bar.on(&e);
    };
    let saved = store.load(&key).filter(|s| s.path == canonical && s.size == meta.len());
    let result = match &saved {
        Some(state) => http.resume_upload(state, &opts, &mut events).await,
        None => http.upload(&canonical, &opts, &mut events).await,
    };
    bar.finish();
    match result {
        Ok(up) => {
            store.remove(&key)?;
            match up.method {
                UploadMethod::Instant => bar.note(&format!("{name}: the server already had it (instant upload)")),
                UploadMethod::Resumable { resumed_from } if resumed_from > 0 => {
                    bar.note(&format!("{name}: resumed the upload at {}", human_size(resumed_from)));
                }
                _ => {}
            }
            Ok(up.file)
        }
        Err(ClientError::Cancelled) if store.load(&key).is_some() => {
            bail!("interrupted; run the same command again to resume the upload")
        }
        Err(ClientError::Cancelled) => bail!("interrupted"),
        Err(e) => {
            // A refused upload is gone on the server: the next run starts
            // over. One that could not reach the server goes on next time.
            let passing = e.is_retryable()
                || matches!(e.code(), Some(ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::RateLimited));
            if !passing {
                store.remove(&key)?;
            }
            Err(e.into())
        }
    }
}

/// `download FILE_ID [PATH] [--force]`: into PATH (a file, or a directory
/// to put it in), by default the file's own name in the current directory.
pub async fn download(ctx: &Ctx, id: &str, path: Option<&Path>, force: bool) -> Result<()> {
    let (_, http) = ctx.session()?;
    let file = http.file_info(id).await?;
    let name = local_name(&file);
    let dest = match path {
        None => PathBuf::from(&name),
        Some(dir) if dir.is_dir() => dir.join(&name),
        Some(path) => path.to_path_buf(),
    };
    if dest.exists() && !force {
        bail!("{} exists (add --force to replace it)", sanitize(&dest.display().to_string()));
    }
    let ctrl_c = CtrlC::watch();
    let opts = DownloadOptions { retry: retry_policy(), cancel: ctrl_c.token.clone() };
    let mut bar = TransferBar::new(&format!("downloading {}", file.name));
    let result = http.download(&file.id, &dest, &opts, |e| bar.on(&e)).await;
    bar.finish();
    let done = match result {
        Ok(done) => done,
        Err(ClientError::Cancelled) => bail!("interrupted; run the same command again to resume the download"),
        Err(e) => return Err(e.into()),
    };
    let shown = sanitize(&done.path.display().to_string());
    match done.resumed_from {
        0 => println!("downloaded {shown} ({})", human_size(done.file.size)),
        from => println!("downloaded {shown} ({}, resumed at {})", human_size(done.file.size), human_size(from)),
    }
    Ok(())
}

/// The file's name, if it is safe as a file name here (no directories, no
/// control characters, not hidden); its id otherwise. The server checks
/// names at upload, but the name is still someone else's input.
fn local_name(file: &FileInfo) -> String {
    let name = file.name.as_str();
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && !name.chars().any(|c| c.is_control() || matches!(c, '/' | '\\'))
        && Path::new(name).file_name().is_some_and(|n| n == name);
    if safe { name.to_owned() } else { file.id.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str) -> FileInfo {
        FileInfo {
            id: "f_9".into(),
            name: name.into(),
            size: 1,
            mime: "text/plain".into(),
            sha256: "ab".repeat(32),
            width: 0,
            height: 0,
            created_at: 0,
            owner: 1,
            thumbnail_id: None,
            url: String::new(),
            thumbnail_url: None,
            url_expires_at: 0,
        }
    }

    #[test]
    fn downloads_are_named_safely() {
        assert_eq!(local_name(&info("季度报告.pdf")), "季度报告.pdf");
        assert_eq!(local_name(&info("a b (1).txt")), "a b (1).txt");
        for bad in ["", ".", "..", ".bashrc", "a/b", "..\\x", "a\nb", "/etc/passwd"] {
            assert_eq!(local_name(&info(bad)), "f_9", "{bad:?}");
        }
    }
}
