//! Files over real sockets (docs/HTTP_API.md, "Files"): one-request and
//! multipart uploads, what the server records about them, ranged and
//! conditional downloads with their headers, who may read a file and signed
//! URLs, thumbnails (EXIF orientation, decompression bombs), instant upload
//! with its proof, content stored once, tus 1.0 uploads step by step and
//! resumed from a second client after a dropped connection, every refusal
//! with its code, the sweeper, and a stock tus client (tuspy).
//!
//! Access through messages (a file named by a message's `files`) is not
//! tested here yet: TODO(messages) — the server-side wiring that fills
//! `NewMessage::files` from media message content is being written.

use std::{
    io::Cursor,
    path::{Path, PathBuf},
    time::Duration,
};

use ferry_testkit::{
    TestServer, TestUser, WAIT,
    files::{FileApi, content, header, hex, sha256_hex, tus_checksum, tus_metadata, upload_offset},
    http::{Answer, answer},
};
use image::{DynamicImage, GenericImageView, ImageFormat, RgbImage, RgbaImage};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::{io::AsyncWriteExt, net::TcpStream};

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------- helpers

/// An image encoded as `format`.
fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image.write_to(&mut Cursor::new(&mut out), format).expect("encode");
    out
}

/// A `w`×`h` RGB PNG with a gradient (so it compresses, but not to nothing).
fn png(w: u32, h: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]))),
        ImageFormat::Png,
    )
}

/// CRC-32 as PNG chunks use it (ISO-HDLC).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let body: Vec<u8> = kind.iter().chain(data).copied().collect();
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// A decompression bomb: a few dozen bytes of well-formed PNG whose header
/// claims `w`×`h` RGB pixels (its one IDAT holds an empty zlib stream).
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, adaptive, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

/// A `w`×`h` JPEG stored sideways: its top half red, its bottom half blue,
/// with an EXIF APP1 segment (written by hand) saying orientation 6 —
/// "rotate 90° clockwise to display" — so it displays `h`×`w`, red on the
/// right.
fn jpeg_rotated(w: u32, h: u32) -> Vec<u8> {
    let img =
        RgbImage::from_fn(w, h, |_, y| if y < h / 2 { image::Rgb([220, 20, 20]) } else { image::Rgb([20, 20, 220]) });
    let jpeg = encode(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg);
    assert_eq!(&jpeg[..2], b"\xFF\xD8", "a JPEG starts with SOI");
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(b"MM\x00\x2A\x00\x00\x00\x08"); // big-endian TIFF, IFD0 at 8
    exif.extend_from_slice(&[0x00, 0x01]); // one entry
    exif.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00]); // Orientation = 6
    exif.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    let mut out = b"\xFF\xD8\xFF\xE1".to_vec();
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Regular files under `dir`, recursively (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The blob files of the local backend.
fn blob_files(server: &TestServer) -> Vec<PathBuf> {
    files_under(&server.data_dir().join("files"))
}

/// The staged file of an upload (`Location` `/api/v1/uploads/<id>`).
fn staged_part(server: &TestServer, location: &str) -> PathBuf {
    let id = location.rsplit('/').next().expect("upload id");
    server.data_dir().join("uploads").join(format!("{id}.part"))
}

/// A JSON error answer's (status, code).
fn refusal(a: &Answer) -> (u16, &str) {
    (a.status, a.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error: {} {}", a.status, a.body)))
}

/// A response's (status, error code), reading its JSON body.
async fn refused(resp: Response) -> (u16, String) {
    let a = answer(resp).await;
    let code = a.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error: {} {}", a.status, a.body));
    (a.status, code.to_string())
}

fn id_of(file: &Value) -> String {
    file["id"].as_str().unwrap_or_else(|| panic!("no id in {file}")).to_string()
}

/// Percent-decodes RFC 5987 `value-chars`.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().expect("UTF-8").into_owned()
}

/// The name a `Content-Disposition` carries in `filename*=UTF-8''…`.
fn disposition_name(disposition: &str) -> String {
    let encoded = disposition
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("filename*=UTF-8''"))
        .unwrap_or_else(|| panic!("no filename* in {disposition}"));
    percent_decode(encoded)
}

/// A multipart/form-data body with one part `field` holding `bytes`.
fn multipart(field: &str, filename: Option<&str>, mime: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "ferry-test-boundary-7MA4YWxkTrZu0gW";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n").into_bytes();
    let filename = filename.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"{filename}\r\nContent-Type: {mime}\r\n\r\n"
        )
        .into_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload_multipart(files: &FileApi, user: &TestUser, content_type: &str, body: Vec<u8>) -> Answer {
    let req = files.request(Method::POST, "/files", Some(&user.token), &[("content-type", content_type)]).body(body);
    answer(files.send(req).await).await
}

/// Sends a PATCH announcing `announced` bytes, writes only `sent`, and
/// hangs up: a client killed mid-request.
async fn patch_and_hang_up(
    server: &TestServer,
    user: &TestUser,
    location: &str,
    offset: u64,
    announced: u64,
    sent: &[u8],
) {
    let mut stream = TcpStream::connect(server.http_addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {announced}\r\n\r\n",
        server.http_addr, user.token
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(sent).await.expect("write body");
    stream.flush().await.expect("flush");
    drop(stream);
}

/// Polls HEAD until the upload's offset is `want`; the last offset seen.
async fn wait_for_offset(files: &FileApi, user: &TestUser, location: &str, want: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let resp = files.tus_head(user, location).await;
        assert_eq!(resp.status(), 200, "HEAD {location}");
        let offset = upload_offset(&resp);
        if offset == want || tokio::time::Instant::now() > deadline {
            return offset;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ------------------------------------------------------ one-request uploads

#[tokio::test]
async fn one_request_uploads_record_the_content_and_download_byte_identical() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);

    // A raw body with ?name=.
    let bytes = content(300_000, 1);
    let file = files.upload_ok(&alice, "notes 2026.bin", "application/octet-stream", bytes.clone()).await;
    let id = id_of(&file);
    assert_eq!(file["name"], "notes 2026.bin");
    assert_eq!(file["size"], 300_000);
    assert_eq!(file["sha256"], sha256_hex(&bytes));
    assert_eq!(file["mime"], "application/octet-stream");
    assert_eq!(file["owner"], alice.id);
    assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(0), Some(0)));
    assert!(file["thumbnail_url"].is_null(), "no thumbnail for noise: {file}");
    let url = file["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("/api/v1/files/{id}?u={}&e=", alice.id)), "{url}");
    assert!(
        file["url_expires_at"].as_i64().expect("url_expires_at") > file["created_at"].as_i64().expect("created_at")
    );
    assert_eq!(files.download(&alice, &id).await, bytes, "byte-identical");
    let info = files.info(&alice, &id).await;
    assert_eq!((info.status, &info.body["file"]["sha256"]), (200, &file["sha256"]));

    // A PNG declared as a PDF is recorded as what it is, with its size.
    let image = png(400, 300);
    let file = files.upload_ok(&alice, "scan.pdf", "application/pdf", image.clone()).await;
    assert_eq!(file["mime"], "image/png", "sniffed, not declared");
    assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(400), Some(300)));
    assert!(file["thumbnail_url"].as_str().is_some_and(|u| u.contains("/thumbnail?")), "{file}");
    assert_eq!(files.download(&alice, &id_of(&file)).await, image);

    // Multipart: the part's filename and type, other parts ignored.
    let text = "第一行\nsecond line\n".repeat(100).into_bytes();
    let (ct, body) = multipart("file", Some("笔记.txt"), "text/plain", &text);
    let a = upload_multipart(&files, &alice, &ct, body).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let file = &a.body["file"];
    assert_eq!((file["name"].as_str(), file["mime"].as_str()), (Some("笔记.txt"), Some("text/plain")));
    assert_eq!(file["sha256"], sha256_hex(&text));
    assert_eq!(files.download(&alice, &id_of(file)).await, text);

    // A body cut short of its Content-Length stores nothing.
    let mut stream = TcpStream::connect(server.http_addr).await.unwrap();
    let head = format!(
        "POST /api/v1/files?name=cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n",
        alice.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&content(40_000, 26)).await.unwrap();
    stream.shutdown().await.unwrap(); // half-close: the answer can still come back
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut reply)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400") && reply.contains("bad_request"), "{reply}");
    // (One-request uploads stage as `s-*.part`; thumbnails being made in
    // the background as `t-*`.)
    let staged: Vec<PathBuf> = files_under(&server.data_dir().join("uploads"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("s-")))
        .collect();
    assert!(staged.is_empty(), "nothing left staged: {staged:?}");

    // Refusals.
    let (ct, body) = multipart("other", None, "text/plain", b"no file part");
    assert_eq!(refusal(&upload_multipart(&files, &alice, &ct, body).await), (400, "bad_request"));
    assert_eq!(refusal(&files.upload(&alice, "empty.txt", "text/plain", Vec::new()).await), (400, "invalid_argument"));
    assert_eq!(refusal(&files.upload(&alice, "a/b.txt", "text/plain", b"x".to_vec()).await), (400, "invalid_argument"));

    let storage = files.get(Some(&alice.token), "/me/storage", &[]).await;
    let storage = answer(storage).await.body;
    assert_eq!(storage["files"], 3, "{storage}");
    assert_eq!(storage["used_bytes"], (bytes.len() + image.len() + text.len()) as u64, "{storage}");
}

// ------------------------------------------------------------- downloads

#[tokio::test]
async fn ranged_and_conditional_downloads_follow_rfc_9110() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let bytes = content(10_000, 2);
    let name = "季度报告 2026（终稿）.bin";
    let file = files.upload_ok(&alice, name, "application/octet-stream", bytes.clone()).await;
    let path = format!("/files/{}", id_of(&file));
    let token = Some(alice.token.as_str());

    // The whole file and its headers.
    let whole = files.get(token, &path, &[]).await;
    assert_eq!(whole.status(), 200);
    let etag = header(&whole, "etag").expect("ETag");
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&bytes)), "the quoted SHA-256");
    let modified = header(&whole, "last-modified").expect("Last-Modified");
    let created = file["created_at"].as_i64().unwrap() / 1000;
    let modified_secs = httpdate(&modified);
    assert_eq!(modified_secs, created, "Last-Modified is the upload time: {modified}");
    assert_eq!(header(&whole, "content-type").as_deref(), Some("application/octet-stream"));
    assert_eq!(header(&whole, "content-length").as_deref(), Some("10000"));
    assert_eq!(header(&whole, "cache-control").as_deref(), Some("private, max-age=31536000, immutable"));
    assert_eq!(header(&whole, "x-content-type-options").as_deref(), Some("nosniff"));
    assert_eq!(header(&whole, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(header(&whole, "content-security-policy").as_deref(), Some("default-src 'none'; sandbox"));
    let disposition = header(&whole, "content-disposition").expect("Content-Disposition");
    assert!(disposition.starts_with("attachment; filename=\""), "{disposition}");
    assert_eq!(disposition_name(&disposition), name, "the Chinese name round-trips: {disposition}");
    assert_eq!(whole.bytes().await.unwrap(), bytes);

    // Single ranges: start, middle, suffix, open-ended, past the end.
    for (range, from, to) in [
        ("bytes=0-99", 0, 100),
        ("bytes=4321-5432", 4321, 5433),
        ("bytes=-100", 9900, 10_000),
        ("bytes=9000-", 9000, 10_000),
        ("bytes=9990-20000", 9990, 10_000),
        ("bytes=9999-9999", 9999, 10_000),
    ] {
        let resp = files.get(token, &path, &[("range", range)]).await;
        assert_eq!(resp.status(), 206, "{range}");
        assert_eq!(header(&resp, "content-range"), Some(format!("bytes {from}-{}/10000", to - 1)), "{range}");
        assert_eq!(header(&resp, "content-length"), Some((to - from).to_string()), "{range}");
        assert_eq!(header(&resp, "etag").as_deref(), Some(etag.as_str()));
        assert_eq!(resp.bytes().await.unwrap(), bytes[from..to], "{range}");
    }

    // Unsatisfiable: 416 with the size, and the JSON error.
    for range in ["bytes=10000-10100", "bytes=20000-"] {
        let resp = files.get(token, &path, &[("range", range)]).await;
        assert_eq!(resp.status(), 416, "{range}");
        assert_eq!(header(&resp, "content-range").as_deref(), Some("bytes */10000"), "{range}");
        assert_eq!(header(&resp, "content-type").as_deref(), Some("application/json"), "an error body is JSON");
        assert_eq!(refused(resp).await, (416, "range_not_satisfiable".into()));
    }

    // Several ranges, or a malformed one: the whole file.
    for range in ["bytes=0-9,20-29", "bytes=abc", "items=0-5"] {
        let resp = files.get(token, &path, &[("range", range)]).await;
        assert_eq!(resp.status(), 200, "{range}");
        assert!(header(&resp, "content-range").is_none(), "{range}");
        assert_eq!(resp.bytes().await.unwrap(), bytes, "{range}");
    }

    // If-Range: the range holds only while the validator matches.
    for (validator, status) in [(etag.as_str(), 206), (modified.as_str(), 206), ("\"0000stale\"", 200)] {
        let resp = files.get(token, &path, &[("range", "bytes=0-99"), ("if-range", validator)]).await;
        assert_eq!(resp.status(), status, "If-Range: {validator}");
        let len = if status == 206 { 100 } else { 10_000 };
        assert_eq!(resp.bytes().await.unwrap().len(), len, "If-Range: {validator}");
    }

    // Conditional requests.
    let resp = files.get(token, &path, &[("if-none-match", &etag)]).await;
    assert_eq!(resp.status(), 304);
    assert_eq!(header(&resp, "etag").as_deref(), Some(etag.as_str()));
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = files.get(token, &path, &[("if-none-match", "\"other\", W/\"x\"")]).await;
    assert_eq!(resp.status(), 200);
    let resp = files.get(token, &path, &[("if-modified-since", &modified)]).await;
    assert_eq!(resp.status(), 304);
    let resp = files.get(token, &path, &[("if-match", "\"other\"")]).await;
    assert_eq!(refused(resp).await, (412, "precondition_failed".into()));
    let resp = files.get(token, &path, &[("if-match", &etag), ("range", "bytes=-10")]).await;
    assert_eq!(resp.status(), 206);

    // HEAD: the same headers, no body.
    for (headers, status, len) in [(&[][..], 200, "10000"), (&[("range", "bytes=10-19")][..], 206, "10")] {
        let resp = files.send(files.request(Method::HEAD, &path, token, headers)).await;
        assert_eq!(resp.status(), status);
        assert_eq!(header(&resp, "content-length").as_deref(), Some(len));
        assert_eq!(header(&resp, "etag").as_deref(), Some(etag.as_str()));
        assert!(header(&resp, "content-disposition").is_some());
        assert!(resp.bytes().await.unwrap().is_empty(), "HEAD has no body");
    }

    // An image is shown inline, its name kept too.
    let image = files.upload_ok(&alice, "照片.png", "image/png", png(20, 10)).await;
    let resp = files.get(token, &format!("/files/{}", id_of(&image)), &[]).await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some("image/png"));
    let disposition = header(&resp, "content-disposition").unwrap();
    assert!(disposition.starts_with("inline;"), "{disposition}");
    assert_eq!(disposition_name(&disposition), "照片.png");

    // What could run script on this origin is never shown inline.
    for (name, mime, body) in [
        ("x.svg", "image/svg+xml", &b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"[..]),
        ("x.html", "text/html", &b"<html><body><script>alert(1)</script></body></html>"[..]),
    ] {
        let file = files.upload_ok(&alice, name, mime, body.to_vec()).await;
        let resp = files.get(token, &format!("/files/{}", id_of(&file)), &[]).await;
        assert_eq!(header(&resp, "content-type").as_deref(), Some(mime));
        assert!(header(&resp, "content-disposition").unwrap().starts_with("attachment;"), "{name}");
        assert_eq!(header(&resp, "content-security-policy").as_deref(), Some("default-src 'none'; sandbox"));
    }
}

/// Seconds since the epoch of an HTTP date (IMF-fixdate).
fn httpdate(s: &str) -> i64 {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let parts: Vec<&str> = s.split_whitespace().collect();
    assert_eq!((parts.len(), parts[5]), (6, "GMT"), "not an IMF-fixdate: {s}");
    let day: i64 = parts[1].parse().unwrap();
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| *m == parts[2])
        .unwrap() as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[4].split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn only_the_uploader_and_signed_urls_read_a_file() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let files = FileApi::new(&server);
    let bytes = content(5000, 3);
    let file = files.upload_ok(&alice, "private.bin", "application/octet-stream", bytes.clone()).await;
    let id = id_of(&file);

    // TODO(messages): bob reads it once a message he can see names it
    // (NewMessage::files); not before, and not after it is recalled.

    // A stranger cannot tell it from a file that does not exist.
    for path in [format!("/files/{id}"), format!("/files/{id}/info"), format!("/files/{id}/thumbnail")] {
        assert_eq!(refused(files.get(Some(&bob.token), &path, &[]).await).await, (404, "not_found".into()), "{path}");
    }
    let missing = "AAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        refused(files.get(Some(&alice.token), &format!("/files/{missing}"), &[]).await).await,
        (404, "not_found".into())
    );
    assert_eq!(refused(files.get(None, &format!("/files/{id}"), &[]).await).await, (401, "unauthenticated".into()));
    let urls = answer(
        files
            .send(
                files.request(Method::POST, "/files/urls", Some(&bob.token), &[]).json(&json!({"ids": [id, missing]})),
            )
            .await,
    )
    .await;
    assert_eq!((urls.status, urls.body["files"].as_array().map(Vec::len)), (200, Some(0)), "{}", urls.body);
    let urls = answer(
        files
            .send(
                files
                    .request(Method::POST, "/files/urls", Some(&alice.token), &[])
                    .json(&json!({"ids": [id, missing]})),
            )
            .await,
    )
    .await;
    assert_eq!(urls.body["files"][0]["id"], id, "{}", urls.body);
    assert_eq!(urls.body["files"][0]["url"], file["url"], "a URL handed out twice in a row is the same URL");

    // The signed URL works without a token; a tampered one does not.
    let url = file["url"].as_str().unwrap().to_string();
    let resp = files.get(None, &url, &[("range", "bytes=0-9")]).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.unwrap(), bytes[..10]);
    assert_eq!(files.get(None, &url, &[]).await.bytes().await.unwrap(), bytes);
    let (base, sig) = url.rsplit_once("&s=").unwrap();
    // Another first character: a well-formed signature, not the right one.
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    let e: i64 = base.split("&e=").nth(1).unwrap().parse().unwrap();
    for tampered in [
        format!("{base}&s={flipped}"),
        url.replace(&format!("u={}", alice.id), &format!("u={}", bob.id)),
        url.replace(&format!("e={e}"), &format!("e={}", e + 3600)),
        url.replace(&format!("/files/{id}"), &format!("/files/{missing}")),
        format!("{base}&s="),
    ] {
        assert_eq!(refused(files.get(None, &tampered, &[]).await).await, (404, "not_found".into()), "{tampered}");
    }

    // Only the owner deletes; then nobody reads it, not even by its URL.
    let delete =
        |user: &TestUser| files.send(files.request(Method::DELETE, &format!("/files/{id}"), Some(&user.token), &[]));
    assert_eq!(refused(delete(&bob).await).await, (404, "not_found".into()));
    assert_eq!(delete(&alice).await.status(), 204);
    assert_eq!(
        refused(files.get(Some(&alice.token), &format!("/files/{id}"), &[]).await).await,
        (404, "not_found".into())
    );
    assert_eq!(refused(files.get(None, &url, &[]).await).await, (404, "not_found".into()));
    assert_eq!(refused(delete(&alice).await).await, (404, "not_found".into()));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as i64
}

/// A fresh signed URL of `id` that downloads without a token, and when it
/// expires. With a TTL of seconds a slow machine may get to it too late: it
/// then asks again, but only once the clock has passed the expiry.
async fn working_url(files: &FileApi, user: &TestUser, id: &str) -> (String, i64) {
    for _ in 0..5 {
        let file = files.info(user, id).await.body["file"].clone();
        let (url, expires_at) = (file["url"].as_str().unwrap().to_string(), file["url_expires_at"].as_i64().unwrap());
        let resp = files.get(None, &url, &[]).await;
        if resp.status() == 200 {
            return (url, expires_at);
        }
        assert!(now_ms() >= expires_at, "refused before it expired: {}", resp.status());
    }
    panic!("no signed URL of {id} worked");
}

#[tokio::test]
async fn signed_urls_expire() {
    let server = TestServer::start_with(|c| c.files.url_ttl_secs = 2).await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let file = files.upload_ok(&alice, "soon.bin", "application/octet-stream", content(100, 4)).await;
    let id = id_of(&file);
    let (url, expires_at) = working_url(&files, &alice, &id).await;
    assert!(expires_at - now_ms() <= 2000, "at most the TTL ahead: {}", expires_at - now_ms());
    // Wait it out.
    while now_ms() <= expires_at + 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused(files.get(None, &url, &[]).await).await, (403, "expired".into()));
    assert_eq!(refused(files.get(None, &url, &[("range", "bytes=0-1")]).await).await, (403, "expired".into()));
    // A fresh one works again.
    let (fresh, _) = working_url(&files, &alice, &id).await;
    assert_ne!(fresh, url);
}

// ------------------------------------------------------------ thumbnails

#[tokio::test]
async fn thumbnails_are_bounded_follow_exif_and_bombs_are_refused() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let files = FileApi::new(&server);

    // A wide PNG: a JPEG thumbnail, 320 px on the longer edge.
    let file = files.upload_ok(&alice, "wide.png", "image/png", png(1000, 600)).await;
    let resp = files.get(Some(&alice.token), &format!("/files/{}/thumbnail", id_of(&file)), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(header(&resp, "x-content-type-options").as_deref(), Some("nosniff"));
    let thumb = image::load_from_memory(&resp.bytes().await.unwrap()).expect("the thumbnail decodes");
    assert_eq!(thumb.dimensions(), (320, 192), "aspect ratio kept");
    // Its signed URL works without a token; bob gets nothing.
    let turl = file["thumbnail_url"].as_str().unwrap();
    let resp = files.get(None, turl, &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(image::load_from_memory(&resp.bytes().await.unwrap()).unwrap().dimensions(), (320, 192));
    let resp = files.get(Some(&bob.token), &format!("/files/{}/thumbnail", id_of(&file)), &[]).await;
    assert_eq!(refused(resp).await, (404, "not_found".into()));
    let info = files.info(&alice, &id_of(&file)).await.body;
    let thumb_id = info["file"]["thumbnail_id"].as_str().expect("the thumbnail is recorded").to_string();
    let resp = files.get(Some(&alice.token), &format!("/files/{thumb_id}"), &[]).await;
    assert_eq!(resp.status(), 200, "a thumbnail is a file its owner reads");

    // A transparent PNG keeps its alpha (a PNG thumbnail).
    let rgba = encode(
        DynamicImage::ImageRgba8(RgbaImage::from_pixel(640, 640, image::Rgba([1, 2, 3, 100]))),
        ImageFormat::Png,
    );
    let file = files.upload_ok(&alice, "glass.png", "image/png", rgba).await;
    let resp = files.get(Some(&alice.token), &format!("/files/{}/thumbnail", id_of(&file)), &[]).await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some("image/png"));
    assert_eq!(image::load_from_memory(&resp.bytes().await.unwrap()).unwrap().dimensions(), (320, 320));

    // A JPEG stored 800x400 with EXIF orientation 6 displays 400x800.
    let file = files.upload_ok(&alice, "portrait.jpg", "image/jpeg", jpeg_rotated(800, 400)).await;
    assert_eq!(file["mime"], "image/jpeg");
    assert_eq!((file["width"].as_u64(), file["height"].as_u64()), (Some(400), Some(800)), "EXIF rotation applied");
    let resp = files.get(Some(&alice.token), &format!("/files/{}/thumbnail", id_of(&file)), &[]).await;
    assert_eq!(resp.status(), 200);
    let thumb = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap().to_rgb8();
    assert_eq!(thumb.dimensions(), (160, 320), "a portrait thumbnail");
    // Stored top (red) is displayed on the right.
    let (left, right) = (thumb.get_pixel(40, 160), thumb.get_pixel(120, 160));
    assert!(right[0] > 150 && right[2] < 100, "right is red: {right:?}");
    assert!(left[2] > 150 && left[0] < 100, "left is blue: {left:?}");

    // A decompression bomb: 100000x100000 pixels claimed by ~70 bytes.
    let bomb = png_bomb(100_000, 100_000);
    assert!(bomb.len() < 100);
    let a = files.upload(&alice, "bomb.png", "image/png", bomb.clone()).await;
    assert_eq!(refusal(&a), (422, "image_too_large"), "{}", a.body);
    let a = files.upload(&alice, "bomb.bin", "application/octet-stream", bomb.clone()).await;
    assert_eq!(refusal(&a), (422, "image_too_large"), "sniffed, whatever it is called: {}", a.body);
    // Through tus too: the upload is discarded.
    let location = files.tus_create_ok(&alice, bomb.len() as u64, &[("filename", "bomb.png")]).await;
    let resp = files.tus_patch(&alice, &location, 0, bomb, None).await;
    assert_eq!(refused(resp).await, (422, "image_too_large".into()));
    assert_eq!(files.tus_head(&alice, &location).await.status(), 404);

    // Not an image: no thumbnail.
    let file = files.upload_ok(&alice, "data.bin", "image/png", content(2000, 5)).await;
    assert_eq!(file["mime"], "application/octet-stream", "declared image, but it is not one");
    let resp = files.get(Some(&alice.token), &format!("/files/{}/thumbnail", id_of(&file)), &[]).await;
    assert_eq!(refused(resp).await, (404, "not_found".into()));
}

// -------------------------------------------------- instant upload, dedup

/// The proof of a challenge: hex SHA-256 of the nonce bytes and the range.
fn prove(challenge: &Value, bytes: &[u8]) -> String {
    let nonce = challenge["nonce"].as_str().unwrap();
    let nonce: Vec<u8> =
        (0..nonce.len()).step_by(2).map(|i| u8::from_str_radix(&nonce[i..i + 2], 16).unwrap()).collect();
    assert_eq!(nonce.len(), 16);
    let (offset, length) =
        (challenge["offset"].as_u64().unwrap() as usize, challenge["length"].as_u64().unwrap() as usize);
    assert!(length > 0 && offset + length <= bytes.len(), "{challenge}");
    let mut h = Sha256::new();
    h.update(&nonce);
    h.update(&bytes[offset..offset + length]);
    hex(&h.finalize())
}

async fn post_json(files: &FileApi, user: &TestUser, path: &str, body: Value) -> Answer {
    answer(files.send(files.request(Method::POST, path, Some(&user.token), &[]).json(&body)).await).await
}

#[tokio::test]
async fn instant_upload_needs_a_proof_and_content_is_stored_once() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let files = FileApi::new(&server);
    let bytes = content(300_000, 6);
    let sha = sha256_hex(&bytes);
    let original = files.upload_ok(&alice, "big.bin", "application/octet-stream", bytes.clone()).await;

    // Unknown content (or a wrong size): upload it normally.
    let a = post_json(&files, &bob, "/files/instant", json!({"sha256": sha256_hex(b"nope"), "size": 4})).await;
    assert_eq!(refusal(&a), (404, "not_found"));
    let a = post_json(&files, &bob, "/files/instant", json!({"sha256": sha, "size": 299_999})).await;
    assert_eq!(refusal(&a), (404, "not_found"));
    let a = post_json(&files, &bob, "/files/instant", json!({"sha256": "xyz", "size": 1})).await;
    assert_eq!(refusal(&a), (400, "invalid_argument"));

    let a = post_json(&files, &bob, "/files/instant", json!({"sha256": sha, "size": 300_000})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let challenge = a.body["challenge"].clone();
    let token = challenge["token"].as_str().unwrap();

    // A wrong proof: the hash alone does not grant the content.
    let wrong = prove(&challenge, &content(300_000, 7));
    let a =
        post_json(&files, &bob, "/files/instant/proof", json!({"token": token, "proof": wrong, "name": "mine.bin"}))
            .await;
    assert_eq!(refusal(&a), (403, "forbidden"), "{}", a.body);
    let a = post_json(&files, &bob, "/files/instant/proof", json!({"token": token, "proof": sha, "name": "mine.bin"}))
        .await;
    assert_eq!(refusal(&a), (403, "forbidden"), "the digest is no proof");
    // Someone else's challenge.
    let right = prove(&challenge, &bytes);
    let a = post_json(&files, &alice, "/files/instant/proof", json!({"token": token, "proof": right, "name": "x.bin"}))
        .await;
    assert_eq!(refusal(&a), (400, "invalid_argument"), "{}", a.body);
    // The right proof: a new file of bob's, the same content.
    let a =
        post_json(&files, &bob, "/files/instant/proof", json!({"token": token, "proof": right, "name": "mine.bin"}))
            .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let mine = a.body["file"].clone();
    assert_ne!(mine["id"], original["id"]);
    assert_eq!(
        (mine["owner"].as_i64(), mine["sha256"].as_str(), mine["size"].as_u64()),
        (Some(bob.id), Some(sha.as_str()), Some(300_000))
    );
    assert_eq!(mine["name"], "mine.bin");
    assert_eq!(files.download(&bob, &id_of(&mine)).await, bytes);

    // Stored once: alice again, and carol by plain upload, add no blob.
    files.upload_ok(&alice, "again.bin", "application/octet-stream", bytes.clone()).await;
    let carol = server.user("carol").await;
    files.upload_ok(&carol, "hers.bin", "application/octet-stream", bytes.clone()).await;
    assert_eq!(blob_files(&server).len(), 1, "{:?}", blob_files(&server));

    // Deleting one owner's file breaks nobody else's.
    let delete = files.request(Method::DELETE, &format!("/files/{}", id_of(&original)), Some(&alice.token), &[]);
    assert_eq!(files.send(delete).await.status(), 204);
    assert_eq!(files.download(&bob, &id_of(&mine)).await, bytes);
    // A different content is a second blob.
    files.upload_ok(&alice, "other.bin", "application/octet-stream", content(1000, 8)).await;
    assert_eq!(blob_files(&server).len(), 2);

    // An instant copy of an image is an image too: its type, size and
    // thumbnail come from the stored bytes.
    let picture = jpeg_rotated(600, 300);
    files.upload_ok(&alice, "pic.jpg", "image/jpeg", picture.clone()).await;
    let a =
        post_json(&files, &bob, "/files/instant", json!({"sha256": sha256_hex(&picture), "size": picture.len()})).await;
    let challenge = a.body["challenge"].clone();
    let proof = prove(&challenge, &picture);
    let a = post_json(
        &files,
        &bob,
        "/files/instant/proof",
        json!({"token": challenge["token"], "proof": proof, "name": "copy.jpg", "mime": "application/pdf"}),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let copy = &a.body["file"];
    assert_eq!(
        (copy["mime"].as_str(), copy["width"].as_u64(), copy["height"].as_u64()),
        (Some("image/jpeg"), Some(300), Some(600)),
        "{copy}"
    );
    let resp = files.get(Some(&bob.token), &format!("/files/{}/thumbnail", id_of(copy)), &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(image::load_from_memory(&resp.bytes().await.unwrap()).unwrap().dimensions(), (160, 320));
}

// -------------------------------------------------------------------- tus

#[tokio::test]
async fn tus_uploads_in_chunks_with_every_check() {
    let server = TestServer::start_with(|c| c.files.max_file_bytes = 64 << 20).await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let files = FileApi::new(&server);

    // OPTIONS needs no token and says what is supported.
    let resp = files.send(files.request(Method::OPTIONS, "/uploads", None, &[])).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(header(&resp, "tus-version").as_deref(), Some("1.0.0"));
    let extensions = header(&resp, "tus-extension").expect("Tus-Extension");
    for ext in ["creation", "creation-with-upload", "termination", "checksum", "expiration"] {
        assert!(extensions.split(',').any(|e| e.trim() == ext), "{ext} in {extensions}");
    }
    assert_eq!(header(&resp, "tus-max-size"), Some((64u64 << 20).to_string()));
    assert_eq!(header(&resp, "tus-checksum-algorithm").as_deref(), Some("sha256"));

    // Creation, with the first bytes in the body.
    let bytes = content(3 * MIB + 777, 9);
    let sha = sha256_hex(&bytes);
    let metadata = [("filename", "视频 素材.mp4"), ("filetype", "video/mp4"), ("sha256", sha.as_str())];
    let resp = files.tus_create(&alice, bytes.len() as u64, &metadata, Some(bytes[..1000].to_vec())).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(upload_offset(&resp), 1000, "creation-with-upload took the body");
    assert!(header(&resp, "upload-expires").is_some_and(|e| e.ends_with(" GMT")), "{:?}", resp.headers());
    let location = header(&resp, "location").unwrap();
    assert!(staged_part(&server, &location).exists(), "staged on disk");

    // HEAD: where it stands.
    let resp = files.tus_head(&alice, &location).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(upload_offset(&resp), 1000);
    assert_eq!(header(&resp, "upload-length"), Some(bytes.len().to_string()));
    assert_eq!(header(&resp, "upload-metadata"), Some(tus_metadata(&metadata)));
    assert_eq!(header(&resp, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
    assert!(header(&resp, "ferry-file-id").is_none());

    // Refusals that keep the upload as it was.
    let piece = bytes[1000..1000 + MIB].to_vec();
    let resp = files.tus_patch(&alice, &location, 1000, piece.clone(), Some(tus_checksum(b"something else"))).await;
    assert_eq!(resp.status(), 460);
    assert_eq!(refused(resp).await, (460, "checksum_mismatch".into()));
    assert_eq!(upload_offset(&files.tus_head(&alice, &location).await), 1000, "nothing of a mismatched PATCH is kept");
    let resp = files.tus_patch(&alice, &location, 999, piece.clone(), None).await;
    assert_eq!(refused(resp).await, (409, "conflict".into()));
    let resp = files.tus_patch(&alice, &location, 0, piece.clone(), None).await;
    assert_eq!(refused(resp).await, (409, "conflict".into()));
    let no_version = files
        .request(
            Method::PATCH,
            &location,
            Some(&alice.token),
            &[("upload-offset", "1000"), ("content-type", "application/offset+octet-stream")],
        )
        .body(piece.clone());
    let resp = files.send(no_version).await;
    assert_eq!(header(&resp, "tus-version").as_deref(), Some("1.0.0"));
    assert_eq!(refused(resp).await, (412, "precondition_failed".into()));
    let resp =
        files.send(files.request(Method::HEAD, &location, Some(&alice.token), &[("tus-resumable", "0.2.2")])).await;
    assert_eq!(resp.status(), 412);
    let wrong_type = files
        .request(
            Method::PATCH,
            &location,
            Some(&alice.token),
            &[("tus-resumable", "1.0.0"), ("upload-offset", "1000"), ("content-type", "application/octet-stream")],
        )
        .body(piece.clone());
    assert_eq!(refused(files.send(wrong_type).await).await, (415, "unsupported_media_type".into()));
    // Another user cannot see, append to or cancel it.
    assert_eq!(files.tus_head(&bob, &location).await.status(), 404);
    assert_eq!(
        refused(files.tus_patch(&bob, &location, 1000, piece.clone(), None).await).await,
        (404, "not_found".into())
    );
    assert_eq!(refused(files.tus_delete(&bob, &location).await).await, (404, "not_found".into()));
    assert_eq!(upload_offset(&files.tus_head(&alice, &location).await), 1000);
    // An id no upload could have (a path, percent-encoded) is no upload.
    let escape = "/api/v1/uploads/..%2F..%2Fferry.db";
    assert_eq!(refused(files.tus_patch(&alice, escape, 0, piece.clone(), None).await).await, (404, "not_found".into()));
    assert_eq!(refused(files.tus_delete(&alice, escape).await).await, (404, "not_found".into()));

    // PATCHes in chunks, each checked; HEAD follows.
    let mut offset = 1000;
    let mut file_id = None;
    for chunk in bytes[1000..].chunks(MIB) {
        let resp = files.tus_patch(&alice, &location, offset, chunk.to_vec(), Some(tus_checksum(chunk))).await;
        assert_eq!(resp.status(), 204, "PATCH at {offset}");
        assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
        offset += chunk.len() as u64;
        assert_eq!(upload_offset(&resp), offset);
        assert_eq!(upload_offset(&files.tus_head(&alice, &location).await), offset);
        file_id = header(&resp, "ferry-file-id");
    }
    let file_id = file_id.expect("the last PATCH names the file");
    let resp = files.tus_head(&alice, &location).await;
    assert_eq!(header(&resp, "ferry-file-id").as_deref(), Some(file_id.as_str()), "HEAD after completion too");
    assert!(!staged_part(&server, &location).exists(), "the staged file went to the blob store");
    // A finished upload takes nothing more.
    assert_eq!(
        refused(files.tus_patch(&alice, &location, offset, vec![1], None).await).await,
        (409, "conflict".into())
    );

    let info = files.info(&alice, &file_id).await.body["file"].clone();
    assert_eq!((info["name"].as_str(), info["sha256"].as_str()), (Some("视频 素材.mp4"), Some(sha.as_str())));
    assert_eq!(info["size"], bytes.len() as u64);
    assert_eq!(files.download(&alice, &file_id).await, bytes);

    // Bytes past Upload-Length are refused; termination deletes the bytes.
    let location = files.tus_create_ok(&alice, 100, &[("filename", "short.bin")]).await;
    let resp = files.tus_patch(&alice, &location, 0, content(150, 10), None).await;
    assert_eq!(refused(resp).await, (413, "payload_too_large".into()));
    assert_eq!(upload_offset(&files.tus_head(&alice, &location).await), 0);
    let resp = files.tus_patch(&alice, &location, 0, content(60, 10), None).await;
    assert_eq!(upload_offset(&resp), 60);
    let resp = files.tus_delete(&alice, &location).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(files.tus_head(&alice, &location).await.status(), 404);
    assert!(!staged_part(&server, &location).exists(), "termination deleted the bytes");
    assert_eq!(
        refused(files.tus_patch(&alice, &location, 60, content(40, 10), None).await).await,
        (404, "not_found".into())
    );

    // Creation refusals.
    let no_length = files.request(Method::POST, "/uploads", Some(&alice.token), &[("tus-resumable", "1.0.0")]);
    assert_eq!(refused(files.send(no_length).await).await, (400, "bad_request".into()));
    let resp = files.tus_create(&alice, 10, &[("sha256", "not hex")], None).await;
    assert_eq!(refused(resp).await, (400, "invalid_argument".into()));
    let resp = files.tus_create(&alice, (64 << 20) + 1, &[], None).await;
    assert_eq!(refused(resp).await, (413, "payload_too_large".into()));
}

#[tokio::test]
async fn a_dropped_upload_resumes_from_a_second_client() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let bytes = content(6 * MIB + 4321, 11);
    let sha = sha256_hex(&bytes);
    let location =
        files.tus_create_ok(&alice, bytes.len() as u64, &[("filename", "resume.bin"), ("sha256", &sha)]).await;

    // The first client sends a first chunk, then dies in the middle of the
    // second PATCH.
    let resp = files.tus_patch(&alice, &location, 0, bytes[..MIB].to_vec(), None).await;
    assert_eq!(upload_offset(&resp), MIB as u64);
    let cut = MIB + 2 * MIB + 12_345;
    patch_and_hang_up(&server, &alice, &location, MIB as u64, (bytes.len() - MIB) as u64, &bytes[MIB..cut]).await;

    // A second process, logged in on another device: HEAD, then PATCH the rest.
    let alice2 = server.login("alice").await;
    let second = FileApi::new(&server);
    let offset = wait_for_offset(&second, &alice2, &location, cut as u64).await;
    assert_eq!(offset, cut as u64, "what arrived before the connection dropped is kept");
    let resp = second.tus_patch(&alice2, &location, offset, bytes[cut..].to_vec(), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(upload_offset(&resp), bytes.len() as u64);
    let id = header(&resp, "ferry-file-id").expect("complete");
    let back = second.download(&alice2, &id).await;
    assert_eq!(back.len(), bytes.len());
    assert_eq!(sha256_hex(&back), sha, "byte-identical");

    // A cut-short PATCH with a checksum keeps nothing of itself.
    let location = files.tus_create_ok(&alice, 3 * MIB as u64, &[("filename", "checked.bin")]).await;
    let part = content(3 * MIB, 12);
    let mut stream = TcpStream::connect(server.http_addr).await.unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Upload-Checksum: {}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        alice.token,
        tus_checksum(&part),
        part.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&part[..MIB]).await.unwrap();
    drop(stream);
    // The server has seen the hang-up once a new PATCH gets the lock.
    let resp = files.tus_patch(&alice, &location, 0, part.clone(), Some(tus_checksum(&part))).await;
    assert_eq!(resp.status(), 204, "{:?}", resp.headers());
    assert!(header(&resp, "ferry-file-id").is_some());
}

#[tokio::test]
async fn an_announced_sha256_mismatch_discards_the_upload() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let bytes = content(2 * MIB, 13);
    let announced = sha256_hex(&content(2 * MIB, 14));
    let location =
        files.tus_create_ok(&alice, bytes.len() as u64, &[("filename", "liar.bin"), ("sha256", &announced)]).await;
    let resp = files.tus_patch(&alice, &location, 0, bytes[..MIB].to_vec(), None).await;
    assert_eq!(resp.status(), 204);
    let resp = files.tus_patch(&alice, &location, MIB as u64, bytes[MIB..].to_vec(), None).await;
    assert_eq!(resp.status(), 460);
    assert_eq!(header(&resp, "tus-resumable").as_deref(), Some("1.0.0"));
    assert_eq!(refused(resp).await, (460, "checksum_mismatch".into()));
    assert_eq!(files.tus_head(&alice, &location).await.status(), 404, "the upload is gone");
    assert!(!staged_part(&server, &location).exists());
    let storage = answer(files.get(Some(&alice.token), "/me/storage", &[]).await).await.body;
    assert_eq!((storage["files"].as_u64(), storage["used_bytes"].as_u64()), (Some(0), Some(0)), "nothing published");
    assert!(blob_files(&server).is_empty(), "no blob: {:?}", blob_files(&server));
    let a =
        post_json(&files, &alice, "/files/instant", json!({"sha256": sha256_hex(&bytes), "size": bytes.len()})).await;
    assert_eq!(refusal(&a), (404, "not_found"), "the content is not stored");
}

#[tokio::test]
async fn limits_refuse_before_bytes_are_wasted() {
    let server = TestServer::start_with(|c| {
        c.files.max_concurrent_uploads = 2;
        c.files.quota_bytes_per_user = 1_000_000;
        c.files.max_simple_upload_bytes = 700_000;
        c.files.max_file_bytes = 5_000_000;
        c.files.blocked_mime = vec!["application/x-msdownload".into()];
        c.limits.max_http_body_bytes = 4096;
    })
    .await;
    let files = FileApi::new(&server);

    // File bodies have their own limits; the JSON ones keep the API's.
    let many: Vec<String> = (0..1000).map(|i| format!("id{i}")).collect();
    let dave = server.user("dave").await;
    for (path, body) in [
        ("/files/urls", json!({"ids": many})),
        ("/files/instant", json!({"sha256": "0".repeat(64), "size": 1, "pad": "x".repeat(5000)})),
        ("/files/instant/proof", json!({"token": "t".repeat(5000), "proof": "p", "name": "n"})),
    ] {
        assert_eq!(refusal(&post_json(&files, &dave, path, body).await), (413, "payload_too_large"), "{path}");
    }

    // Concurrent uploads.
    let carol = server.user("carol").await;
    let first = files.tus_create_ok(&carol, 100, &[]).await;
    files.tus_create_ok(&carol, 100, &[]).await;
    assert_eq!(refused(files.tus_create(&carol, 100, &[], None).await).await, (422, "limit_exceeded".into()));
    files.tus_create_ok(&dave, 100, &[]).await; // per user
    assert_eq!(files.tus_delete(&carol, &first).await.status(), 204);
    let third = files.tus_create_ok(&carol, 100, &[]).await;
    // A finished upload no longer counts.
    assert_eq!(files.tus_patch(&carol, &third, 0, content(100, 15), None).await.status(), 204);
    files.tus_create_ok(&carol, 100, &[]).await;

    // Size and quota.
    let erin = server.user("erin").await;
    let a = files.upload(&erin, "big.bin", "application/octet-stream", content(800_000, 16)).await;
    assert_eq!(refusal(&a), (413, "payload_too_large"));
    assert_eq!(refused(files.tus_create(&erin, 5_000_001, &[], None).await).await, (413, "payload_too_large".into()));
    let first = content(600_000, 17);
    files.upload_ok(&erin, "first.bin", "application/octet-stream", first.clone()).await;
    let instant = json!({"sha256": sha256_hex(&first), "size": first.len()});
    assert_eq!(
        refusal(&post_json(&files, &erin, "/files/instant", instant).await),
        (413, "quota_exceeded"),
        "instant too"
    );
    let a = files.upload(&erin, "second.bin", "application/octet-stream", content(600_000, 18)).await;
    assert_eq!(refusal(&a), (413, "quota_exceeded"));
    let (ct, body) = multipart("file", Some("third.bin"), "application/octet-stream", &content(600_000, 19));
    assert_eq!(
        refusal(&upload_multipart(&files, &erin, &ct, body).await),
        (413, "quota_exceeded"),
        "without a known size too"
    );
    assert_eq!(refused(files.tus_create(&erin, 500_000, &[], None).await).await, (413, "quota_exceeded".into()));
    let storage = answer(files.get(Some(&erin.token), "/me/storage", &[]).await).await.body;
    assert_eq!(storage, json!({"used_bytes": 600_000, "files": 1, "quota_bytes": 1_000_000}));

    // Blocked types, by what the content is (a PE executable starts "MZ").
    let frank = server.user("frank").await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".to_vec();
    exe.extend(content(20_000, 20));
    for declared in ["application/octet-stream", "application/x-msdownload", "text/plain"] {
        let a = files.upload(&frank, "setup.exe", declared, exe.clone()).await;
        assert_eq!(refusal(&a), (415, "unsupported_media_type"), "declared {declared}: {}", a.body);
    }
    let resp = files.tus_create(&frank, exe.len() as u64, &[("filetype", "application/x-msdownload")], None).await;
    assert_eq!(refused(resp).await, (415, "unsupported_media_type".into()), "refused by its declared type at once");
    let location = files.tus_create_ok(&frank, exe.len() as u64, &[("filename", "innocent.txt")]).await;
    let resp = files.tus_patch(&frank, &location, 0, exe.clone(), None).await;
    assert_eq!(refused(resp).await, (415, "unsupported_media_type".into()), "refused by its content");
    assert_eq!(files.tus_head(&frank, &location).await.status(), 404, "and discarded");
    assert!(!staged_part(&server, &location).exists());
    files.upload_ok(&frank, "fine.bin", "application/octet-stream", content(1000, 21)).await;
}

#[tokio::test]
async fn the_sweeper_removes_abandoned_uploads() {
    let server = TestServer::start_with(|c| {
        c.files.upload_expiry_secs = 1;
        c.files.sweep_interval_secs = 1;
    })
    .await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let location = files.tus_create_ok(&alice, 10_000, &[("filename", "abandoned.bin")]).await;
    let part = staged_part(&server, &location);
    assert!(part.exists(), "staged at creation: {}", part.display());
    // Some bytes, then nothing more (whether this lands before the
    // 1-second expiry does not matter to what follows).
    let _ = files.tus_patch(&alice, &location, 0, content(4000, 22), None).await;
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    while part.exists() {
        assert!(tokio::time::Instant::now() < deadline, "{} was never swept", part.display());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(files.tus_head(&alice, &location).await.status(), 404);
    assert_eq!(
        refused(files.tus_patch(&alice, &location, 0, content(10, 23), None).await).await,
        (404, "not_found".into())
    );

    // Content no file uses any more goes too.
    let file = files.upload_ok(&alice, "gone.bin", "application/octet-stream", content(3000, 25)).await;
    assert_eq!(blob_files(&server).len(), 1);
    let delete = files.request(Method::DELETE, &format!("/files/{}", id_of(&file)), Some(&alice.token), &[]);
    assert_eq!(files.send(delete).await.status(), 204);
    while !blob_files(&server).is_empty() {
        assert!(tokio::time::Instant::now() < deadline + 3 * WAIT, "unused content was never swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----------------------------------------------------- a stock tus client

/// tuspy (PyPI) uploads a file in 1 MiB chunks, each with its sha256
/// Upload-Checksum; prints the upload's URL.
const TUSPY: &str = r#"
import hashlib, sys
from tusclient import client
from tusclient.uploader import Uploader
Uploader.CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)
endpoint, token, path, name = sys.argv[1:5]
c = client.TusClient(endpoint, headers={"Authorization": "Bearer " + token})
u = c.uploader(path, chunk_size=1024 * 1024, metadata={"filename": name}, upload_checksum=True)
u.upload()
print(u.url)
"#;

#[tokio::test]
async fn a_stock_tus_client_uploads() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("source.bin");
    let bytes = content(5 * MIB + 123, 24);
    std::fs::write(&path, &bytes).unwrap();

    let out = tokio::time::timeout(
        6 * WAIT,
        tokio::process::Command::new("python3")
            .arg("-c")
            .arg(TUSPY)
            .arg(files.url("/uploads"))
            .arg(&alice.token)
            .arg(&path)
            .arg("数据 tuspy.bin")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("tuspy finished")
    .unwrap_or_else(|e| panic!("cannot run python3 ({e}); the tests need python3 with tuspy (.ci/run installs it)"));
    assert!(
        out.status.success(),
        "tuspy failed ({}); is it installed? `python3 -m pip install tuspy==1.1.0` (.ci/run does)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let location = url.strip_prefix(&server.http_url()).unwrap_or_else(|| panic!("tuspy's upload URL: {url}"));
    let resp = files.tus_head(&alice, location).await;
    assert_eq!(upload_offset(&resp), bytes.len() as u64);
    let id = header(&resp, "ferry-file-id").expect("complete");
    let info = files.info(&alice, &id).await.body["file"].clone();
    assert_eq!(
        (info["name"].as_str(), info["sha256"].as_str()),
        (Some("数据 tuspy.bin"), Some(sha256_hex(&bytes).as_str()))
    );
    assert_eq!(files.download(&alice, &id).await, bytes);
}

// ------------------------------------------------ clients that go silent

/// Staged one-request uploads (`s-*.part`) in the data dir.
fn scratch_files(server: &TestServer) -> usize {
    std::fs::read_dir(server.data_dir().join("uploads"))
        .map(|d| d.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().starts_with("s-"))).count())
        .unwrap_or(0)
}

/// Starts a one-request upload announcing `announced` bytes, sends `sent`,
/// and keeps the connection open (the caller drops it).
async fn stalled_post(server: &TestServer, user: &TestUser, announced: usize, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.http_addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/files?name=stall.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {announced}\r\n\r\n",
        server.http_addr, user.token
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(sent).await.expect("write body");
    stream.flush().await.expect("flush");
    stream
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn abandoned_and_stalled_uploads_hold_nothing() {
    let server = TestServer::start_with(|c| c.files.max_concurrent_uploads = 2).await;
    let alice = server.user("alice").await;
    let files = FileApi::new(&server);

    // One-request uploads: at most `max_concurrent_uploads` at once per
    // user, and one whose client hangs up leaves no staged bytes behind.
    let first = stalled_post(&server, &alice, 2 * MIB, &content(MIB, 1)).await;
    let second = stalled_post(&server, &alice, 2 * MIB, &content(MIB, 2)).await;
    wait_until("both uploads are staged", || scratch_files(&server) == 2).await;
    let a = files.upload(&alice, "third.bin", "application/octet-stream", content(1000, 3)).await;
    assert_eq!(refusal(&a), (422, "limit_exceeded"));
    drop(first);
    drop(second);
    wait_until("the abandoned uploads are removed", || scratch_files(&server) == 0).await;
    let a = files.upload(&alice, "fourth.bin", "application/octet-stream", content(1000, 4)).await;
    assert_eq!(a.status, 201, "the places were given back: {}", a.body);

    // A resumable upload whose connection stalls without closing (a phone
    // changing networks): the client's next request takes over once the
    // stalled one has received nothing for a while, and the bytes that
    // arrived are kept.
    let bytes = content(3 * MIB, 5);
    let location = files.tus_create_ok(&alice, bytes.len() as u64, &[("filename", "stall.bin")]).await;
    let mut stalled = TcpStream::connect(server.http_addr).await.expect("connect");
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        alice.token,
        bytes.len()
    );
    stalled.write_all(head.as_bytes()).await.expect("write head");
    stalled.write_all(&bytes[..MIB]).await.expect("write body");
    stalled.flush().await.expect("flush");
    // Only once the server has taken those bytes (on a loaded machine they
    // can still sit in the socket buffer when the next request arrives).
    let part = staged_part(&server, &location);
    wait_until("the stalled request's bytes are staged", || {
        std::fs::metadata(&part).is_ok_and(|m| m.len() >= MIB as u64)
    })
    .await;
    // The new request (from offset 0, all it knows) waits for the stalled
    // one to let go, then learns the offset moved: 409, as tus says.
    let resp = files.tus_patch(&alice, &location, 0, bytes.clone(), None).await;
    assert_eq!(refused(resp).await, (409, "conflict".into()));
    let offset = upload_offset(&files.tus_head(&alice, &location).await);
    assert_eq!(offset, MIB as u64, "what the stalled request received is durable");
    let resp = files.tus_patch(&alice, &location, offset, bytes[MIB..].to_vec(), None).await;
    assert_eq!(resp.status(), 204);
    let id = header(&resp, "ferry-file-id").expect("complete");
    assert_eq!(files.download(&alice, &id).await, bytes);
    drop(stalled);
}
