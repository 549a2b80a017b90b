//! `upload` and `download`: file transfer throughput on the HTTP API.
//!
//! Content is generated, never read from disk: byte `o` of file `f` is a
//! function of (run seed, `f`, `o`), so the bench sends gigabytes without
//! holding them and checks every byte it downloads by generating it again.
//! Every file is distinct (no content is stored twice by accident).
//!
//! - `upload`: F files of S bytes, all at once, one user each. Files up to the server's
//!   one-request limit go up as one `POST /api/v1/files`; bigger ones over
//!   tus (`POST /api/v1/uploads` announcing the SHA-256, then PATCHes of
//!   `--chunk` bytes), which the server checks on the last byte. The SHA-256
//!   each file must have is computed before the clock starts, so the
//!   bench's own hashing does not compete with the server's.
//! - `download`: the same files are uploaded first (not measured), then
//!   fetched F at once, whole, each byte compared with what was sent.
//!
//! Figures: MB/s (10^6 bytes) over the window from the first request to
//! the last answer, per-file latency, and with `--server-pid` the server's
//! CPU and how much its RSS grew (peak − start) during the transfer.

use std::time::Instant;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures_util::{StreamExt as _, stream};
use sha2::{Digest as _, Sha256};

use super::{Outcome, Target, measured, start_monitor};
use crate::{
    engine::WorkerReport,
    procmon,
    setup::BenchUser,
    stats::{Correctness, Hist},
};

/// What to transfer.
#[derive(Debug, Clone)]
pub struct Params {
    pub files: usize,
    pub size: u64,
    /// Bytes per tus PATCH (0: the whole file in one PATCH).
    pub chunk: u64,
    /// Largest file sent as one `POST /files` (the server's
    /// `files.max_simple_upload_bytes`); bigger ones go over tus.
    pub simple_max: u64,
}

/// Bytes generated per piece of a stream.
const PIECE: usize = 1 << 20;

/// The content of file `f` of run `seed`: deterministic, cheap, distinct.
#[derive(Debug, Clone, Copy)]
struct Content {
    seed: u64,
    file: u64,
}

impl Content {
    fn word(&self, i: u64) -> u64 {
        // splitmix64 of (seed, file, word index).
        let mut z = self.seed ^ self.file.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Bytes `from..from + out.len()`.
    fn fill(&self, from: u64, out: &mut [u8]) {
        for (k, b) in out.iter_mut().enumerate() {
            let o = from + k as u64;
            *b = (self.word(o / 8) >> ((o % 8) * 8)) as u8;
        }
    }

    fn piece(&self, from: u64, len: usize) -> Bytes {
        let mut buf = vec![0u8; len];
        self.fill_fast(from, &mut buf);
        Bytes::from(buf)
    }

    /// [`Content::fill`], a word at a time where aligned.
    fn fill_fast(&self, from: u64, out: &mut [u8]) {
        let head = ((8 - from % 8) % 8).min(out.len() as u64) as usize;
        self.fill(from, &mut out[..head]);
        let mut at = head;
        while at + 8 <= out.len() {
            let o = from + at as u64;
            out[at..at + 8].copy_from_slice(&self.word(o / 8).to_le_bytes());
            at += 8;
        }
        let tail = at;
        self.fill(from + tail as u64, &mut out[tail..]);
    }

    /// Bytes `from..to` as a stream of pieces.
    fn stream(self, from: u64, to: u64) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
        stream::unfold(from, move |at| async move {
            (at < to).then(|| {
                let len = (to - at).min(PIECE as u64) as usize;
                (Ok(self.piece(at, len)), at + len as u64)
            })
        })
    }

    fn sha256(&self, size: u64) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut at = 0;
        while at < size {
            let len = (size - at).min(PIECE as u64) as usize;
            h.update(self.piece(at, len));
            at += len as u64;
        }
        h.finalize().into()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Transfer {
    /// Request sent → last answer, µs.
    us: u64,
    file_id: String,
}

/// Uploads file `c` of `size` bytes as `user`: the new file's id.
async fn upload_one(
    http: &reqwest::Client,
    base: &str,
    user: &BenchUser,
    c: Content,
    size: u64,
    sha256: &str,
    p: &Params,
) -> anyhow::Result<Transfer> {
    let started = Instant::now();
    let name = format!("bench-{:x}-{}.bin", c.seed, c.file);
    if size <= p.simple_max {
        let resp = http
            .post(format!("{base}/api/v1/files"))
            .query(&[("name", &name)])
            .bearer_auth(&user.token)
            .header("content-type", "application/octet-stream")
            .header("content-length", size)
            .body(reqwest::Body::wrap_stream(c.stream(0, size)))
            .send()
            .await?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await?;
        if status != 201 {
            bail!("upload: {status} {body}");
        }
        if body["file"]["sha256"].as_str() != Some(sha256) {
            bail!("upload: the server stored another SHA-256 than what was sent: {body}");
        }
        let file_id = body["file"]["id"].as_str().context("no file id")?.to_owned();
        return Ok(Transfer { us: started.elapsed().as_micros() as u64, file_id });
    }
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let created = http
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(&user.token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", size)
        .header("upload-metadata", format!("filename {},sha256 {}", b64(&name), b64(sha256)))
        .send()
        .await?;
    if created.status() != 201 {
        bail!("tus create: {} {}", created.status(), created.text().await.unwrap_or_default());
    }
    let location = created.headers().get("location").and_then(|v| v.to_str().ok()).context("no Location")?;
    let url = format!("{base}{location}");
    let chunk = if p.chunk == 0 { size } else { p.chunk };
    let mut offset = 0;
    let mut file_id = None;
    while offset < size {
        let end = (offset + chunk).min(size);
        let resp = http
            .patch(&url)
            .bearer_auth(&user.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset)
            .header("content-type", "application/offset+octet-stream")
            .header("content-length", end - offset)
            .body(reqwest::Body::wrap_stream(c.stream(offset, end)))
            .send()
            .await?;
        if resp.status() != 204 {
            bail!("tus PATCH at {offset}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        offset = header("upload-offset").and_then(|o| o.parse().ok()).context("no Upload-Offset")?;
        if offset != end {
            bail!("tus PATCH: the server holds {offset} bytes, {end} were sent");
        }
        file_id = header("ferry-file-id");
    }
    let file_id = file_id.context("the last PATCH named no file (Ferry-File-Id)")?;
    Ok(Transfer { us: started.elapsed().as_micros() as u64, file_id })
}

/// Downloads `file_id` whole and compares every byte with `c`.
async fn download_one(
    http: &reqwest::Client,
    base: &str,
    user: &BenchUser,
    c: Content,
    size: u64,
    file_id: &str,
) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut resp = http.get(format!("{base}/api/v1/files/{file_id}")).bearer_auth(&user.token).send().await?;
    if resp.status() != 200 {
        bail!("download: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let mut at = 0u64;
    let mut expected = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        expected.resize(chunk.len(), 0);
        c.fill_fast(at, &mut expected);
        if chunk[..] != expected[..] {
            bail!("download: bytes at {at}.. differ from what was uploaded");
        }
        at += chunk.len() as u64;
    }
    if at != size {
        bail!("download: {at} bytes, not {size}");
    }
    Ok(started.elapsed().as_micros() as u64)
}

/// One user per file: F files at once are F users uploading (the server
/// bounds the uploads of one user at a time, `files.max_concurrent_uploads`).
async fn users(t: &Target, files: usize) -> anyhow::Result<Vec<BenchUser>> {
    let (_, users) = t.users(files.max(1)).await?;
    Ok(users)
}

fn contents(p: &Params) -> Vec<(Content, String)> {
    let seed = rand::random::<u64>();
    (0..p.files as u64)
        .map(|file| {
            let c = Content { seed, file };
            (c, hex(&c.sha256(p.size)))
        })
        .collect()
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1024).build()?)
}

/// Runs F uploads at once.
pub(super) async fn upload(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    let users = users(t, p.files).await?;
    let files = contents(p);
    let http = client()?;
    let base = t.server.trim_end_matches('/');
    let mon = start_monitor(t);
    let transfers = stream::iter(files.iter().zip(&users))
        .map(|((c, sha), user)| upload_one(&http, base, user, *c, p.size, sha, p))
        .buffer_unordered(p.files.max(1))
        .collect::<Vec<_>>();
    let (done, t0, t1, samples) = measured(t, mon, transfers).await;
    report(t, "upload", p, done.into_iter().map(|r| r.map(|x| x.us)).collect(), t0, t1, &samples)
}

/// Uploads F files (not measured), then downloads them at once.
pub(super) async fn download(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    let users = users(t, p.files).await?;
    let files = contents(p);
    let http = client()?;
    let base = t.server.trim_end_matches('/');
    let ids: Vec<String> = stream::iter(files.iter().zip(&users))
        .map(|((c, sha), user)| upload_one(&http, base, user, *c, p.size, sha, p))
        .buffered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|r| r.map(|x| x.file_id))
        .collect::<anyhow::Result<_>>()
        .context("setup: uploading the files to download")?;
    let mon = start_monitor(t);
    // Let the sampler take its first reading before the transfer starts.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let transfers = stream::iter(files.iter().zip(&ids).zip(&users))
        .map(|(((c, _), id), user)| download_one(&http, base, user, *c, p.size, id))
        .buffer_unordered(p.files.max(1))
        .collect::<Vec<_>>();
    let (done, t0, t1, samples) = measured(t, mon, transfers).await;
    report(t, "download", p, done, t0, t1, &samples)
}

fn report(
    t: &Target,
    what: &str,
    p: &Params,
    done: Vec<anyhow::Result<u64>>,
    t0: u64,
    t1: u64,
    samples: &[procmon::Sample],
) -> anyhow::Result<Outcome> {
    let params = serde_json::json!({"files": p.files, "size": p.size, "chunk": p.chunk, "simple_max": p.simple_max});
    let mut o = Outcome::new(what, params, t);
    let mut lat = Hist::default();
    let mut ok = 0u64;
    for r in &done {
        match r {
            Ok(us) => {
                lat.record_us(*us);
                ok += 1;
            }
            Err(e) => o.fail(format!("{e:#}")),
        }
    }
    let secs = (t1 - t0) as f64 / 1e6;
    let bytes = ok * p.size;
    o.fig("files", ok as f64);
    o.fig("bytes", bytes as f64);
    o.fig("seconds", secs);
    o.fig(&format!("{what}_mb_per_s"), bytes as f64 / 1e6 / secs.max(1e-9));
    o.lat(&format!("{what}_per_file"), &lat);
    o.server = procmon::window(samples, t0, t1);
    if let Some(w) = &o.server {
        // The peak: the highest sample, or the high-water mark if it rose
        // during the transfer (a peak between samples).
        let start_hwm = samples.iter().find(|s| s.t_us >= t0).map_or(0, |s| s.hwm_kib);
        let peak = if w.hwm_kib > start_hwm { w.hwm_kib.max(w.rss_peak_kib) } else { w.rss_peak_kib };
        o.fig("server_rss_growth_mib", peak.saturating_sub(w.rss_start_kib) as f64 / 1024.0);
    } else if t.server_pid.is_some() {
        o.note("the transfer was shorter than one /proc sample: no server CPU/RSS figures".into());
    }
    let how = if p.size <= p.simple_max {
        "one POST /api/v1/files per file".to_string()
    } else if p.chunk == 0 {
        "tus: one PATCH per file, SHA-256 announced and checked by the server".to_string()
    } else {
        format!("tus: PATCHes of {} bytes, SHA-256 announced and checked by the server", p.chunk)
    };
    o.note(format!("{what}: {how}; content generated on the fly, every downloaded byte compared"));
    Ok(o.finish(&WorkerReport::default(), Correctness::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_distinct_and_aligned_or_not() {
        let c = Content { seed: 7, file: 1 };
        let mut slow = vec![0u8; 100];
        c.fill(13, &mut slow);
        let mut fast = vec![0u8; 100];
        c.fill_fast(13, &mut fast);
        assert_eq!(slow, fast);
        assert_eq!(c.piece(13, 100).to_vec(), slow);
        let other = Content { seed: 7, file: 2 }.piece(13, 100);
        assert_ne!(other.to_vec(), slow);
        let whole = c.piece(0, 3 * PIECE + 5);
        assert_eq!(c.sha256(3 * PIECE as u64 + 5), <[u8; 32]>::from(Sha256::digest(&whole)));
    }
}
