//! One blob-store suite, two backends: `Blobs` over a local directory and
//! over S3, the latter against a real S3-protocol server (moto, started per
//! test on loopback; `.ci/run` installs it — without it these tests fail,
//! they never skip). Then a whole node on the S3 backend: a tus upload big
//! enough for a multipart upload to S3, ranged downloads, a thumbnail and
//! an instant upload, all read back from the bucket; and an upload that
//! outlives the bucket failing as it is published.

use std::{ops::Range, path::Path};

use ferry_server::{
    Config,
    media::blobs::{BlobError, Blobs},
};
use ferry_testkit::{
    TestServer,
    files::{FileApi, content, header, sha256_hex},
    http::answer,
    s3::Moto,
};
use futures_util::TryStreamExt;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;

/// Writes `bytes` to a staged file under `dir`, as an upload leaves it.
fn stage(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("stage");
    path
}

async fn read(blobs: &Blobs, key: &str, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
    let stream = blobs.read(key, range).await?;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}

fn is_not_found<T>(r: Result<T, BlobError>) -> bool {
    matches!(r, Err(BlobError::NotFound(_)))
}

/// What every backend must do.
async fn blob_store_suite(blobs: Blobs) {
    let staging = tempfile::tempdir().expect("staging dir");

    // Publish stores a staged file; then it is there, whole, and the
    // staged file is left for the caller (who removes it once the store
    // recorded the blob).
    let small = content(1000, 100);
    let key = Blobs::new_key(&Sha256::digest(&small).into());
    let staged = stage(staging.path(), "small.part", &small);
    blobs.publish(&staged, &key).await.expect("publish");
    assert!(staged.exists(), "the staged file stays for the caller");
    std::fs::remove_file(&staged).expect("the caller removes it");
    assert_eq!(blobs.size(&key).await.expect("size"), 1000);
    assert_eq!(read(&blobs, &key, 0..1000).await.expect("read"), small);
    assert_eq!(read(&blobs, &key, 10..20).await.expect("read"), small[10..20]);
    assert_eq!(read(&blobs, &key, 999..1000).await.expect("read"), small[999..]);
    assert!(read(&blobs, &key, 500..500).await.expect("empty range").is_empty());
    assert_eq!(blobs.read_range(&key, 100..164).await.expect("read_range"), small[100..164]);

    // Keys are never reused.
    assert_ne!(Blobs::new_key(&[7; 32]), Blobs::new_key(&[7; 32]));
    let other = Blobs::new_key(&[7; 32]);
    assert!(other.starts_with("blobs/07/0707"), "{other}");

    // Bigger than one S3 part (8 MiB): a multipart upload there.
    let large = content(9 * MIB + 12_345, 101);
    let large_key = Blobs::new_key(&Sha256::digest(&large).into());
    blobs.publish(&stage(staging.path(), "large.part", &large), &large_key).await.expect("publish large");
    assert_eq!(blobs.size(&large_key).await.expect("size"), large.len() as u64);
    let whole = read(&blobs, &large_key, 0..large.len() as u64).await.expect("read large");
    assert_eq!(sha256_hex(&whole), sha256_hex(&large));
    let across = (8 * MIB - 100) as u64..(8 * MIB + 100) as u64;
    assert_eq!(
        read(&blobs, &large_key, across.clone()).await.expect("read across parts"),
        large[8 * MIB - 100..8 * MIB + 100]
    );
    assert_eq!(blobs.read_range(&large_key, across).await.expect("read_range"), large[8 * MIB - 100..8 * MIB + 100]);
    let tail = large.len() as u64 - 10..large.len() as u64;
    assert_eq!(read(&blobs, &large_key, tail).await.expect("tail"), large[large.len() - 10..]);

    // Missing keys: NotFound, from every read.
    let missing = Blobs::new_key(&[0; 32]);
    assert!(is_not_found(read(&blobs, &missing, 0..10).await), "read of a missing blob");
    assert!(is_not_found(blobs.read_range(&missing, 0..10).await), "read_range of a missing blob");
    assert!(is_not_found(blobs.size(&missing).await), "size of a missing blob");

    // Delete; deleting what is not there is no error.
    blobs.delete(&key).await.expect("delete");
    assert!(is_not_found(blobs.size(&key).await));
    assert!(is_not_found(read(&blobs, &key, 0..10).await));
    blobs.delete(&key).await.expect("deleting again is fine");
    blobs.delete(&missing).await.expect("deleting a missing blob is fine");
    // The other blob is untouched.
    assert_eq!(blobs.read_range(&large_key, 0..16).await.expect("still there"), large[..16]);
    blobs.delete(&large_key).await.expect("delete large");
    assert!(is_not_found(blobs.size(&large_key).await));
}

#[tokio::test]
async fn local_directory_backend() {
    let dir = tempfile::tempdir().expect("dir");
    let blobs = Blobs::local(dir.path().join("files")).expect("local blobs");
    assert_eq!(blobs.kind(), "local");
    blob_store_suite(blobs).await;
}

#[tokio::test]
async fn s3_backend_against_moto() {
    let moto = Moto::start("ferry-suite").await;
    let mut config = Config::default();
    moto.configure(&mut config);
    let blobs = Blobs::open(&config).expect("S3 blobs");
    assert_eq!(blobs.kind(), "s3");
    blob_store_suite(blobs).await;
}

#[tokio::test]
async fn a_node_on_s3_uploads_and_serves_ranges() {
    let moto = Moto::start("ferry-node").await;
    let server = TestServer::start_with(|c| {
        moto.configure(c);
        c.files.s3.prefix = "node-a".into();
    })
    .await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let files = FileApi::new(&server);

    // A tus upload over one S3 part: published by a multipart upload.
    let bytes = content(9 * MIB + 4321, 102);
    let id = files.tus_upload(&alice, "big.bin", &bytes, 4 * MIB).await;
    let resp = files.get(Some(&alice.token), &format!("/files/{id}"), &[("range", "bytes=8388000-8389000")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(header(&resp, "content-range"), Some(format!("bytes 8388000-8389000/{}", bytes.len())));
    assert_eq!(resp.bytes().await.unwrap(), bytes[8_388_000..=8_389_000]);
    let resp = files.get(Some(&alice.token), &format!("/files/{id}"), &[("range", "bytes=-5")]).await;
    assert_eq!(resp.bytes().await.unwrap(), bytes[bytes.len() - 5..]);
    let whole = files.download(&alice, &id).await;
    assert_eq!(sha256_hex(&whole), sha256_hex(&bytes));
    assert!(!server.data_dir().join("files").exists(), "nothing in the local blob directory");
    let keys = moto.keys().await;
    assert_eq!(keys.len(), 1, "one object: {keys:?}");
    assert!(keys[0].starts_with(&format!("node-a/blobs/{}/", &sha256_hex(&bytes)[..2])), "under the prefix: {keys:?}");

    // An image's thumbnail is made from (and stored to) the bucket.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 0])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let file = files.upload_ok(&alice, "pic.png", "image/png", png).await;
    let resp = files.get(Some(&alice.token), &format!("/files/{}/thumbnail", file["id"].as_str().unwrap()), &[]).await;
    assert_eq!(resp.status(), 200);
    let thumb = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 240));

    // Instant upload reads its challenge range from the bucket.
    let req = files
        .request(Method::POST, "/files/instant", Some(&bob.token), &[])
        .json(&json!({"sha256": sha256_hex(&bytes), "size": bytes.len()}));
    let challenge = answer(files.send(req).await).await.body["challenge"].clone();
    let nonce = challenge["nonce"].as_str().expect("a challenge");
    let nonce: Vec<u8> = (0..32).step_by(2).map(|i| u8::from_str_radix(&nonce[i..i + 2], 16).unwrap()).collect();
    let (offset, length) =
        (challenge["offset"].as_u64().unwrap() as usize, challenge["length"].as_u64().unwrap() as usize);
    let mut h = Sha256::new();
    h.update(&nonce);
    h.update(&bytes[offset..offset + length]);
    let proof = ferry_testkit::files::hex(&h.finalize());
    let req = files
        .request(Method::POST, "/files/instant/proof", Some(&bob.token), &[])
        .json(&json!({"token": challenge["token"], "proof": proof, "name": "same.bin"}));
    let a = answer(files.send(req).await).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let mine = a.body["file"]["id"].as_str().unwrap().to_string();
    assert_eq!(files.download(&bob, &mine).await.len(), bytes.len());
}

/// The store failing as the last byte arrives is no reason to throw the
/// upload away: it stays, at an offset short of its end (the end is
/// recorded only with the file, else a stock client resuming would take
/// HEAD's `Upload-Offset == Upload-Length` for done), and the client sends
/// the rest again once storage is back.
#[tokio::test]
async fn an_upload_survives_a_storage_outage_while_it_is_published() {
    let moto = Moto::start("ferry-outage").await;
    let server = TestServer::start_with(|c| moto.configure(c)).await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let bytes = content(3 * MIB, 103);
    let sha = sha256_hex(&bytes);
    let location =
        files.tus_create_ok(&alice, bytes.len() as u64, &[("filename", "outage.bin"), ("sha256", &sha)]).await;
    let resp = files.tus_patch(&alice, &location, 0, bytes[..2 * MIB].to_vec(), None).await;
    assert_eq!(resp.status(), 204);

    moto.delete_bucket().await;
    let resp = files.tus_patch(&alice, &location, 2 * MIB as u64, bytes[2 * MIB..].to_vec(), None).await;
    assert_eq!(answer(resp).await.code(), "unavailable");
    let resp = files.tus_head(&alice, &location).await;
    assert_eq!(resp.status(), 200, "the upload is kept");
    let offset = ferry_testkit::files::upload_offset(&resp);
    assert!(offset < bytes.len() as u64, "HEAD does not say complete before the file exists: {offset}");
    assert!(header(&resp, "ferry-file-id").is_none());

    moto.create_bucket().await;
    let resp = files.tus_patch(&alice, &location, offset, bytes[offset as usize..].to_vec(), None).await;
    assert_eq!(resp.status(), 204);
    let id = header(&resp, "ferry-file-id").expect("published on the retry");
    assert_eq!(ferry_testkit::files::upload_offset(&files.tus_head(&alice, &location).await), bytes.len() as u64);
    assert_eq!(sha256_hex(&files.download(&alice, &id).await), sha);
}
