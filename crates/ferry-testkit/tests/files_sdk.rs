//! The SDK's file transfers against a real server over real sockets: the
//! one-request, instant and resumable (tus) uploads with their progress, a
//! cancelled upload resumed from its persisted state by a fresh client, a
//! connection cut mid-chunk and mid-download, downloads that continue a
//! `.part`, the file endpoints, and media messages that carry an uploaded
//! file to the recipient.

use std::path::{Path, PathBuf};

use ferry_client::{
    ClientError, DownloadOptions, FileInfo, HttpApi, RetryPolicy, Target, TransferEvent, UploadMethod, UploadOptions,
    UploadState, Uploaded,
    content::{kind_of, text_of},
    file_content, file_ref, image_content, media_file_of, v1,
    v1::message_content::Kind,
    video_content, voice_content,
};
use ferry_core::ErrorCode;
use ferry_testkit::{
    TestServer, TestUser, WAIT, next_message,
    proxy::{CutProxy, Direction},
};
use tempfile::TempDir;

const MIB: u64 = 1024 * 1024;

/// Deterministic bytes that differ by `seed` (so distinct files never
/// share content by accident).
fn content(seed: u64, len: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn write_file(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// What a transfer reported, in order.
#[derive(Debug, Default)]
struct Seen {
    progress: Vec<(u64, u64)>,
    hashing: Vec<(u64, u64)>,
    states: Vec<UploadState>,
    retries: Vec<String>,
}

impl Seen {
    fn record(&mut self, e: TransferEvent<'_>) {
        match e {
            TransferEvent::Progress { done, total } => self.progress.push((done, total)),
            TransferEvent::Hashing { done, total } => self.hashing.push((done, total)),
            TransferEvent::Resumable(state) => self.states.push(state.clone()),
            TransferEvent::Retrying { error, .. } => self.retries.push(error.to_string()),
            _ => {}
        }
    }

    /// Progress only ever grew, in steps, and ended at `total`.
    #[track_caller]
    fn assert_progress_completes(&self, total: u64) {
        assert!(self.progress.len() >= 2, "a start and an end at least: {:?}", self.progress);
        assert!(self.progress.iter().all(|&(_, t)| t == total), "{:?}", self.progress);
        assert!(self.progress.windows(2).all(|w| w[0].0 < w[1].0), "not monotonic: {:?}", self.progress);
        assert_eq!(self.progress.last(), Some(&(total, total)));
    }
}

/// Uploads `path` with `opts`, recording the events.
async fn upload(api: &HttpApi, path: &Path, opts: &UploadOptions) -> (Result<Uploaded, ClientError>, Seen) {
    let mut seen = Seen::default();
    let result = api.upload(path, opts, |e| seen.record(e)).await;
    (result, seen)
}

/// Downloads file `id` into `dir` and returns the bytes.
async fn fetch(user: &TestUser, id: &str, dir: &TempDir) -> Vec<u8> {
    let dest = dir.path().join(format!("fetched-{id}"));
    user.http.download(id, &dest, &DownloadOptions::default(), |_| {}).await.expect("download");
    std::fs::read(&dest).expect("read download")
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(100),
    }
}

/// Options that send files over `one_request_max` in `chunk`-sized PATCHes.
fn resumable(one_request_max: u64, chunk: u64) -> UploadOptions {
    UploadOptions { one_request_max, chunk_size: chunk, retry: quick_retries(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_file_goes_in_one_request_and_the_same_content_again_instantly() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(1, 300_000);
    let path = write_file(&dir, "季度报告.pdf", &bytes);

    let (result, seen) = upload(&alice.http, &path, &UploadOptions::default()).await;
    let first = result.expect("upload");
    assert_eq!(first.method, UploadMethod::OneRequest);
    seen.assert_progress_completes(bytes.len() as u64);
    assert_eq!(seen.hashing.last(), Some(&(bytes.len() as u64, bytes.len() as u64)));
    assert!(seen.states.is_empty(), "no resumable upload: {:?}", seen.states);
    assert_eq!((first.file.name.as_str(), first.file.size, first.file.owner), ("季度报告.pdf", 300_000, alice.id));

    // The same content again, by someone else: proven, not sent.
    let copy = write_file(&dir, "copy.bin", &bytes);
    let (result, seen) = upload(&bob.http, &copy, &UploadOptions::default()).await;
    let second = result.expect("instant upload");
    assert_eq!(second.method, UploadMethod::Instant);
    seen.assert_progress_completes(bytes.len() as u64);
    assert_ne!(second.file.id, first.file.id, "a file of bob's own");
    assert_eq!((second.file.owner, second.file.name.as_str()), (bob.id, "copy.bin"));
    assert_eq!(second.file.sha256, first.file.sha256);
    assert_eq!(fetch(&bob, &second.file.id, &dir).await, bytes);

    // Without instant upload the bytes go again.
    let opts = UploadOptions { instant: false, ..Default::default() };
    let (result, _) = upload(&bob.http, &copy, &opts).await;
    assert_eq!(result.expect("upload").method, UploadMethod::OneRequest);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_goes_resumably_in_chunks_with_monotonic_progress() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(2, 3 * MIB + 12_345);
    let path = write_file(&dir, "big.bin", &bytes);

    let (result, seen) = upload(&alice.http, &path, &resumable(MIB, 512 * 1024)).await;
    let up = result.expect("upload");
    assert_eq!(up.method, UploadMethod::Resumable { resumed_from: 0 });
    seen.assert_progress_completes(bytes.len() as u64);
    // Seven chunks, each reported in pieces.
    assert!(seen.progress.len() > 7, "{:?}", seen.progress);
    assert_eq!(seen.states.len(), 1, "the resumable state is reported once");
    let state = &seen.states[0];
    assert_eq!((state.path.as_path(), state.size), (path.as_path(), bytes.len() as u64));
    assert_eq!(state.sha256, up.file.sha256);
    assert!(state.upload_url.starts_with(&format!("{}/api/v1/uploads/", server.http_url())), "{state:?}");
    assert!(seen.retries.is_empty(), "{:?}", seen.retries);
    assert_eq!(fetch(&alice, &up.file.id, &dir).await, bytes);
    assert_eq!(alice.http.file_info(&up.file.id).await.expect("info").size, bytes.len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_too_large_for_the_servers_one_request_goes_resumably() {
    let server = TestServer::start_with(|c| c.files.max_simple_upload_bytes = 64 * 1024).await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(3, 700_000);
    let path = write_file(&dir, "medium.bin", &bytes);
    // The client would send it in one request; the server says no.
    let (result, seen) = upload(&alice.http, &path, &UploadOptions::default()).await;
    let up = result.expect("upload");
    assert_eq!(up.method, UploadMethod::Resumable { resumed_from: 0 });
    seen.assert_progress_completes(bytes.len() as u64);
    assert_eq!(fetch(&alice, &up.file.id, &dir).await, bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_upload_resumes_from_its_persisted_state_in_a_new_client() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(4, 4 * MIB);
    let path = write_file(&dir, "video.mp4", &bytes);
    let opts = resumable(MIB, MIB);

    // Cancelled from the progress callback halfway through the second chunk.
    let mut persisted = None;
    let mut progress = Vec::new();
    let cancel = opts.cancel.clone();
    let result = alice
        .http
        .upload(&path, &opts, |e| match e {
            TransferEvent::Resumable(state) => persisted = Some(serde_json::to_string(state).expect("json")),
            TransferEvent::Progress { done, .. } => {
                progress.push(done);
                if done >= MIB + MIB / 2 {
                    cancel.cancel();
                }
            }
            _ => {}
        })
        .await;
    assert!(matches!(result, Err(ClientError::Cancelled)), "{result:?}");
    assert!(*progress.last().unwrap() < bytes.len() as u64, "{progress:?}");
    let state: UploadState = serde_json::from_str(&persisted.expect("a resumable state")).expect("state json");

    // "Another process": a new client with the same login and fresh options.
    let api = server.http().with_token(alice.token.clone());
    let mut seen = Seen::default();
    let up = api.resume_upload(&state, &resumable(MIB, MIB), |e| seen.record(e)).await.expect("resumed");
    // The first chunk was acknowledged; the cancelled one is sent again.
    assert_eq!(up.method, UploadMethod::Resumable { resumed_from: MIB });
    assert_eq!(seen.progress.first(), Some(&(MIB, bytes.len() as u64)));
    seen.assert_progress_completes(bytes.len() as u64);
    assert!(seen.states.is_empty(), "no new upload: {:?}", seen.states);
    assert_eq!(fetch(&alice, &up.file.id, &dir).await, bytes);
    assert_eq!(up.file.name, "video.mp4");

    // The finished upload resumes to the same file (a lost answer).
    let again = api.resume_upload(&state, &resumable(MIB, MIB), |_| {}).await.expect("resumed again");
    assert_eq!(again.file.id, up.file.id);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resume_of_an_upload_the_server_forgot_starts_afresh() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(5, 2 * MIB);
    let path = write_file(&dir, "a.bin", &bytes);
    let opts = resumable(MIB, MIB);
    let cancel = opts.cancel.clone();
    let mut state = None;
    let result = alice
        .http
        .upload(&path, &opts, |e| {
            if let TransferEvent::Resumable(s) = e {
                state = Some(s.clone());
                cancel.cancel();
            }
        })
        .await;
    assert!(matches!(result, Err(ClientError::Cancelled)), "{result:?}");
    let state = state.expect("a resumable state");
    alice.http.abort_upload(&state).await.expect("abort");

    let mut seen = Seen::default();
    let up = alice.http.resume_upload(&state, &resumable(MIB, MIB), |e| seen.record(e)).await.expect("upload");
    assert_eq!(up.method, UploadMethod::Resumable { resumed_from: 0 });
    assert_eq!(seen.states.len(), 1, "a new upload to persist");
    assert_ne!(seen.states[0].upload_url, state.upload_url);
    assert_eq!(fetch(&alice, &up.file.id, &dir).await, bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_chunk_is_retried_from_the_servers_offset() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let proxy = CutProxy::start(server.http_addr).await;
    let api = HttpApi::new(proxy.http_url()).expect("client").with_token(alice.token.clone());
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(6, 3 * MIB);
    let path = write_file(&dir, "cut.bin", &bytes);

    // Past the first chunk (and its headers), into the second.
    proxy.cut_after(Direction::ToServer, MIB + MIB / 2);
    let (result, seen) = upload(&api, &path, &resumable(MIB, MIB)).await;
    let up = result.expect("upload despite the cut");
    assert_eq!(proxy.cuts(), 1);
    assert_eq!(seen.retries.len(), 1, "{:?}", seen.retries);
    assert_eq!(up.method, UploadMethod::Resumable { resumed_from: 0 });
    seen.assert_progress_completes(bytes.len() as u64);
    assert_eq!(fetch(&alice, &up.file.id, &dir).await, bytes);

    // A download cut halfway carries on from what it has.
    proxy.cut_after(Direction::ToClient, 2 * MIB);
    let dest = dir.path().join("cut-download.bin");
    let mut seen = Seen::default();
    let opts = DownloadOptions { retry: quick_retries(), ..Default::default() };
    let got = api.download(&up.file.id, &dest, &opts, |e| seen.record(e)).await.expect("download despite the cut");
    assert_eq!(proxy.cuts(), 2);
    assert_eq!(seen.retries.len(), 1, "{:?}", seen.retries);
    seen.assert_progress_completes(bytes.len() as u64);
    assert_eq!(got.resumed_from, 0, "it started empty");
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_continues_a_part_and_checks_the_whole() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(7, 2 * MIB + 777);
    let path = write_file(&dir, "src.bin", &bytes);
    let file = alice.http.upload(&path, &resumable(MIB, MIB), |_| {}).await.expect("upload").file;
    let dest = dir.path().join("out.bin");
    let part = dir.path().join("out.bin.part");
    let sidecar = dir.path().join("out.bin.part.json");

    // A part left by an earlier run (here without its sidecar).
    std::fs::write(&part, &bytes[..MIB as usize]).unwrap();
    let mut seen = Seen::default();
    let got = alice.http.download(&file.id, &dest, &DownloadOptions::default(), |e| seen.record(e)).await;
    let got = got.expect("download");
    assert_eq!(got.resumed_from, MIB);
    assert_eq!(seen.hashing.last(), Some(&(MIB, MIB)), "the part is hashed, not fetched again");
    assert_eq!(seen.progress.first(), Some(&(MIB, bytes.len() as u64)));
    seen.assert_progress_completes(bytes.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert!(!part.exists() && !sidecar.exists());
    assert_eq!((got.file.id.as_str(), got.path.as_path()), (file.id.as_str(), dest.as_path()));

    // A part of something else, without a sidecar: continued, found wrong
    // at the end, downloaded again from the start.
    std::fs::write(&part, content(99, MIB)).unwrap();
    let got = alice.http.download(&file.id, &dest, &DownloadOptions::default(), |_| {}).await.expect("download");
    assert_eq!(got.resumed_from, 0);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);

    // A part whose sidecar names another file is not continued at all.
    std::fs::write(&part, content(98, MIB)).unwrap();
    std::fs::write(&sidecar, r#"{"file_id":"f_other","etag":"\"00\""}"#).unwrap();
    let got = alice.http.download(&file.id, &dest, &DownloadOptions::default(), |_| {}).await.expect("download");
    assert_eq!(got.resumed_from, 0);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);

    // Cancelled: the part stays, with its sidecar, and the next run uses it.
    std::fs::remove_file(&dest).unwrap();
    let opts = DownloadOptions::default();
    let cancel = opts.cancel.clone();
    let result = alice
        .http
        .download(&file.id, &dest, &opts, |e| {
            if let TransferEvent::Progress { done, .. } = e
                && done >= MIB
            {
                cancel.cancel();
            }
        })
        .await;
    assert!(matches!(result, Err(ClientError::Cancelled)), "{result:?}");
    assert!(!dest.exists() && part.exists() && sidecar.exists());
    let kept = std::fs::metadata(&part).unwrap().len();
    let got = alice.http.download(&file.id, &dest, &DownloadOptions::default(), |_| {}).await.expect("download");
    assert_eq!(got.resumed_from, kept);
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn file_records_urls_deletion_and_storage() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(&dir, "a.txt", b"hello files\n");
    let b = write_file(&dir, "b.bin", &content(8, 5000));
    let fa = alice.http.upload(&a, &UploadOptions::default(), |_| {}).await.expect("upload a").file;
    let fb = alice.http.upload(&b, &UploadOptions::default(), |_| {}).await.expect("upload b").file;
    assert_eq!(fa.mime, "text/plain");

    let usage = alice.http.storage_usage().await.expect("usage");
    assert_eq!((usage.used_bytes, usage.files, usage.quota_bytes), (12 + 5000, 2, 0));
    let ids = vec![fa.id.clone(), "f_nope".to_owned(), fb.id.clone()];
    let urls: Vec<String> = alice.http.file_urls(&ids).await.expect("urls").into_iter().map(|f| f.id).collect();
    assert_eq!(urls, [fa.id.clone(), fb.id.clone()]);
    assert!(bob.http.file_urls(&ids).await.expect("urls").is_empty(), "bob reads none of them");
    assert_eq!(bob.http.file_info(&fa.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));

    alice.http.delete_file(&fa.id).await.expect("delete");
    assert_eq!(alice.http.file_info(&fa.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert_eq!(alice.http.delete_file(&fa.id).await.unwrap_err().code(), Some(ErrorCode::NotFound));
    let usage = alice.http.storage_usage().await.expect("usage");
    assert_eq!((usage.used_bytes, usage.files), (5000, 1));
    let dest = dir.path().join("gone");
    let gone = alice.http.download(&fa.id, &dest, &DownloadOptions::default(), |_| {}).await;
    assert_eq!(gone.unwrap_err().code(), Some(ErrorCode::NotFound));
    assert!(!dest.exists());
}

/// A `width` × `height` PNG.
fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode png");
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn media_messages_carry_the_uploaded_file_to_the_recipient() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let dir = tempfile::tempdir().unwrap();
    let (a, _a_events) = alice.connect_tcp().await;
    let (_b, mut b_events) = bob.connect_tcp().await;
    let upload = |name: &str, bytes: Vec<u8>| {
        let path = write_file(&dir, name, &bytes);
        let http = alice.http.clone();
        async move { http.upload(&path, &UploadOptions::default(), |_| {}).await.expect("upload").file }
    };
    let image = upload("cat.png", png(64, 48)).await;
    assert_eq!((image.width, image.height, image.mime.as_str()), (64, 48, "image/png"));
    let doc = upload("报告.pdf", content(9, 10_000)).await;
    assert_eq!(image_content(&doc), None, "not an image");
    let voice = upload("note.ogg", content(10, 4000)).await;
    let video = upload("clip.mp4", content(11, 9000)).await;

    let sends: [(v1::MessageContent, &FileInfo, &str, &str); 4] = [
        (image_content(&image).expect("an image"), &image, "image", "[Image]"),
        (file_content(&doc), &doc, "file", "[File] 报告.pdf"),
        (voice_content(&voice, 7_400), &voice, "voice", "[Voice 0:07]"),
        (video_content(&video, 62_000, 1280, 720), &video, "video", "[Video 1:02]"),
    ];
    for (i, (content, file, kind, preview)) in sends.iter().enumerate() {
        a.send_with_id(format!("media-{i}"), Target::User(bob.id), content.clone()).await.expect("sent");
        let m = next_message(&mut b_events, WAIT).await;
        // The server adds an image's thumbnail when it is made already.
        let mut got = m.content.clone();
        if let Some(Kind::Image(i)) = got.as_mut().and_then(|c| c.kind.as_mut())
            && let Some(t) = i.thumbnail.take()
        {
            assert!(t.mime.starts_with("image/") && t.file_id != file.id, "{t:?}");
        }
        assert_eq!(got.as_ref(), Some(content), "as sent");
        assert_eq!((kind_of(&m), text_of(&m).as_ref()), (*kind, *preview));
        assert_eq!(media_file_of(&m), Some(&file_ref(file)));
    }
    let m = next_message_of(&bob, &alice, 1).await;
    let Some(Kind::Image(img)) = m.content.and_then(|c| c.kind) else { panic!("not an image") };
    assert_eq!((img.width, img.height, img.file.map(|f| f.file_id)), (64, 48, Some(image.id.clone())));
}

/// Message `seq` of the direct conversation of `a` and `b`, as `a` pulls it.
async fn next_message_of(a: &TestUser, b: &TestUser, seq: u64) -> v1::Message {
    let conversation = ferry_testkit::ids::direct_conversation(a.id, b.id);
    let batch = a.http.messages(&conversation, seq - 1, 1).await.expect("pull");
    batch.messages.into_iter().next().expect("the message")
}

/// The recipient of a media message may read its file (docs/HTTP_API.md,
/// "Files": "whoever can see a message that references it").
#[tokio::test(flavor = "multi_thread")]
async fn the_recipient_of_a_media_message_can_download_its_file() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(12, 20_000);
    let path = write_file(&dir, "for-bob.bin", &bytes);
    let file = alice.http.upload(&path, &UploadOptions::default(), |_| {}).await.expect("upload").file;
    let send = ferry_client::send_message("m1", Target::User(bob.id), file_content(&file));
    alice.http.send(&send).await.expect("sent");
    assert_eq!(fetch(&bob, &file.id, &dir).await, bytes);
}
