//! The rich content kinds over real sockets: every kind a user may send
//! reaches the peer's devices live and by sync exactly as sent, with its
//! preview line; out-of-bounds fields and server-only kinds are refused
//! with `invalid_argument` naming the field, the connection goes on and
//! nothing refused is stored; the HTTP API speaks the same kinds in
//! proto3 JSON.

use ferry_client::{
    Target,
    api::FileInfo,
    content::{kind_of, text_of},
    v1,
    v1::message_content::Kind,
};
use ferry_testkit::{TestServer, TestUser, WAIT, http::Api, http::error_code, next_message, sdk::api_code};
use reqwest::Method;
use serde_json::json;

/// Uploaded files for the media kinds, each stored as `(name, bytes)`.
struct Uploads(Vec<FileInfo>);

impl Uploads {
    async fn new(server: &TestServer, owner: &TestUser) -> Self {
        let api = Api::new(server);
        let mut files = Vec::new();
        for (name, mime) in [
            ("cat.png", "image/png"),
            ("cat-thumb.jpg", "image/jpeg"),
            ("季度报告.pdf", "application/pdf"),
            ("note.ogg", "audio/ogg"),
            ("clip.mp4", "video/mp4"),
        ] {
            let bytes = format!("the bytes of {name}").into_bytes();
            files.push(api.upload(owner, name, mime, bytes).await);
        }
        Self(files)
    }

    fn get(&self, name: &str) -> &FileInfo {
        self.0.iter().find(|f| f.name == name).expect("uploaded")
    }

    /// A reference as a client sends it: the id (and the name, which the
    /// sender may choose).
    fn sent(&self, name: &str) -> v1::FileRef {
        v1::FileRef { file_id: self.get(name).id.clone(), name: name.into(), ..Default::default() }
    }

    /// The same reference as recipients get it: filled in by the server.
    fn filled(&self, name: &str) -> v1::FileRef {
        let f = self.get(name);
        v1::FileRef {
            file_id: f.id.clone(),
            size: f.size as i64,
            mime: f.mime.clone(),
            name: f.name.clone(),
            sha256: f.sha256.clone(),
        }
    }
}

fn content(kind: Kind) -> v1::MessageContent {
    v1::MessageContent { kind: Some(kind), ..Default::default() }
}

/// One valid message of every kind a user may send as sent, as the
/// recipients get it (file references filled in), its kind and preview.
fn every_kind(
    card_user: i64,
    files: &Uploads,
) -> Vec<(v1::MessageContent, v1::MessageContent, &'static str, &'static str)> {
    type Refs<'a> = &'a dyn Fn(&str) -> v1::FileRef;
    let media = |r: Refs| {
        vec![
            (
                content(Kind::Image(v1::Image {
                    file: Some(r("cat.png")),
                    width: 1024,
                    height: 768,
                    thumbnail: Some(r("cat-thumb.jpg")),
                })),
                "image",
                "[Image]",
            ),
            (content(Kind::File(v1::File { file: Some(r("季度报告.pdf")) })), "file", "[File] 季度报告.pdf"),
            (
                content(Kind::Voice(v1::Voice {
                    file: Some(r("note.ogg")),
                    duration_ms: 7_400,
                    waveform: vec![1, 5, 9, 5, 1].into(),
                })),
                "voice",
                "[Voice 0:07]",
            ),
            (
                content(Kind::Video(v1::Video {
                    file: Some(r("clip.mp4")),
                    duration_ms: 62_000,
                    width: 1920,
                    height: 1080,
                    cover: None,
                })),
                "video",
                "[Video 1:02]",
            ),
        ]
    };
    let sent = media(&|n| files.sent(n));
    let got = media(&|n| files.filled(n));
    let mut all: Vec<_> = sent.into_iter().zip(got).map(|((s, k, p), (g, _, _))| (s, g, k, p)).collect();
    let plain = vec![
        (
            content(Kind::Location(v1::Location {
                latitude: 31.2304,
                longitude: 121.4737,
                title: "人民广场".into(),
                address: "上海市黄浦区".into(),
            })),
            "location",
            "[Location] 人民广场",
        ),
        (content(Kind::ContactCard(v1::ContactCard { user_id: card_user })), "contact_card", "[Contact card]"),
        (
            content(Kind::Link(v1::Link {
                url: "https://example.com/post?id=7#top".into(),
                title: "A post".into(),
                description: "Line one\nline two".into(),
                image: None,
            })),
            "link",
            "[Link] A post",
        ),
        (
            content(Kind::Custom(v1::Custom {
                r#type: "acme.poll".into(),
                payload_json: r#"{"question":"Lunch?","options":["noodles","rice"]}"#.into(),
                fallback_text: "[Poll] Lunch?".into(),
            })),
            "custom",
            "[Poll] Lunch?",
        ),
    ];
    all.extend(plain.into_iter().map(|(c, k, p)| (c.clone(), c, k, p)));
    all
}

#[tokio::test]
async fn every_kind_reaches_both_devices_and_sync_as_sent() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let (a, _a_events) = alice.connect_tcp().await;
    let (_b1, mut b1_events) = bob.connect_tcp().await;
    let (_b2, mut b2_events) = bob.connect_ws().await;
    let files = Uploads::new(&server, &alice).await;
    let kinds = every_kind(carol.id, &files);
    let mut acks = Vec::new();
    for (i, (c, _, _, _)) in kinds.iter().enumerate() {
        acks.push(a.send_with_id(format!("rich-{i}"), Target::User(bob.id), c.clone()).await.expect("sent"));
    }
    for events in [&mut b1_events, &mut b2_events] {
        for (i, (_, c, kind, preview)) in kinds.iter().enumerate() {
            let m = next_message(events, WAIT).await;
            assert_eq!(m.seq, acks[i].seq);
            assert_eq!(m.content.as_ref(), Some(c), "pushed as sent, file references filled in");
            assert_eq!((kind_of(&m), text_of(&m).as_ref()), (*kind, *preview));
        }
    }
    // Offline catch-up (sync over HTTP) returns the same content.
    let synced = bob.http.messages(&ferry_testkit::ids::direct_conversation(alice.id, bob.id), 0, 100).await;
    let synced = synced.expect("history").messages;
    let contents: Vec<_> = synced.iter().map(|m| m.content.clone().expect("content")).collect();
    let sent: Vec<_> = kinds.into_iter().map(|(_, c, _, _)| c).collect();
    assert_eq!(contents, sent);
}

#[tokio::test]
async fn out_of_bounds_fields_are_refused_naming_the_field_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (a, _events) = alice.connect_tcp().await;
    let files = Uploads::new(&server, &alice).await;
    let file = |name: &str| files.sent(name);
    let mut renamed = file("note.ogg");
    renamed.name = "../../etc/passwd".into();
    let cases = [
        (content(Kind::Image(v1::Image { file: Some(file("cat.png")), ..Default::default() })), "width"),
        (content(Kind::File(v1::File { file: None })), "file.file"),
        (content(Kind::File(v1::File { file: Some(renamed) })), "name"),
        (content(Kind::Voice(v1::Voice { file: Some(file("note.ogg")), ..Default::default() })), "duration"),
        (content(Kind::Location(v1::Location { latitude: 91.0, ..Default::default() })), "latitude"),
        (content(Kind::ContactCard(v1::ContactCard { user_id: 999_999 })), "contact_card"),
        (content(Kind::Link(v1::Link { url: "javascript:alert(1)".into(), ..Default::default() })), "link.url"),
        (
            content(Kind::Custom(v1::Custom {
                r#type: "acme.poll".into(),
                payload_json: "[1,2,3]".into(),
                fallback_text: String::new(),
            })),
            "custom.payload",
        ),
        (content(Kind::CallLog(v1::CallLog { outcome: "missed".into(), ..Default::default() })), "server"),
    ];
    for (i, (c, field)) in cases.into_iter().enumerate() {
        let e = a.send_with_id(format!("bad-{i}"), Target::User(bob.id), c).await.expect_err("refused");
        assert_eq!(api_code(&e).as_str(), "invalid_argument", "case {i}: {e}");
        assert!(e.to_string().contains(field), "case {i}: {e} should name {field}");
    }
    // The connection goes on, and only the valid message is stored.
    let good = every_kind(bob.id, &files).remove(0).0;
    let ok = a.send_with_id("good".into(), Target::User(bob.id), good).await.expect("valid");
    assert_eq!(ok.seq, 1, "no refused message took a seq");
}

#[tokio::test]
async fn http_sends_and_reads_rich_kinds_in_proto3_json() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let f = api.upload(&alice, "猫.jpg", "image/jpeg", b"not really a cat".to_vec()).await;
    let sent = json!({"image": {"file": {"fileId": f.id, "name": "猫.jpg"}, "width": 640, "height": 480}});
    let body = json!({"clientMsgId": "h-1", "userId": bob.id.to_string(), "content": sent});
    let (status, ack) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!(status, 200, "{ack}");
    let conv = ferry_testkit::ids::direct_conversation(alice.id, bob.id);
    let history = api.get(&format!("/conversations/{conv}/messages"), &bob).await;
    let filled = json!({"image": {
        "file": {"fileId": f.id, "size": f.size.to_string(), "mime": f.mime, "name": "猫.jpg", "sha256": f.sha256},
        "width": 640, "height": 480
    }});
    assert_eq!(history["messages"][0]["content"], filled, "read back with the file filled in: {history}");

    let card = json!({"contactCard": {"userId": "424242"}});
    let body = json!({"clientMsgId": "h-2", "userId": bob.id.to_string(), "content": card});
    let (status, err) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!((status, error_code(&err)), (400, "invalid_argument"), "{err}");
    let call = json!({"callLog": {"outcome": "missed", "media": "audio"}});
    let body = json!({"clientMsgId": "h-3", "userId": bob.id.to_string(), "content": call});
    let (status, err) = api.call(Method::POST, "/messages", &alice, Some(body)).await;
    assert_eq!((status, error_code(&err)), (400, "invalid_argument"), "{err}");
}
