//! Avatars from uploaded images, over real sockets (docs/HTTP_API.md,
//! `PATCH /me`, Groups, Files): an avatar is empty, a URL, or the id of an
//! image file the person setting it uploaded; while a file is its owner's
//! avatar or a group's, every signed-in user reads it and its thumbnail,
//! and once the avatar changes it is private again.
//!
//! HTTP is driven with `reqwest` directly, so these tests depend only on the
//! documented wire format.

use std::io::Cursor;

use ferry_testkit::{
    TestServer, TestUser,
    files::content,
    http::{Api, error_code},
};
use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::Method;
use serde_json::{Value, json};

/// A `w`×`h` PNG with a gradient, big enough to get a thumbnail.
fn png(w: u32, h: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).expect("encode");
    out
}

/// Uploads `bytes` as `user` and returns the file's id.
async fn upload(api: &Api, user: &TestUser, name: &str, mime: &str, bytes: Vec<u8>) -> String {
    api.upload(user, name, mime, bytes).await.id
}

/// `PATCH /me {"avatar": avatar}` as `user`.
async fn set_avatar(api: &Api, user: &TestUser, avatar: &str) -> (u16, Value) {
    api.call(Method::PATCH, "/me", user, Some(json!({ "avatar": avatar }))).await
}

/// Asserts a 400 `invalid_argument` whose message names `avatar`.
fn refused_avatar((status, body): (u16, Value), what: &str) {
    assert_eq!((status, error_code(&body)), (400, "invalid_argument"), "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("avatar"), "{what}: the message names the field: {message}");
}

/// `user`'s avatar as another user sees it.
async fn avatar_of(api: &Api, user: &TestUser, seen_by: &TestUser) -> Value {
    api.get(&format!("/users/{}", user.id), seen_by).await["user"]["avatar"].clone()
}

/// What `user` gets of file `id`: `/files/{id}/info`, `/files/urls`, the
/// download with a token, the download by the signed URL without one, and
/// the thumbnail both ways. Asserts they agree (all readable or none) and
/// that the content is `bytes`; returns whether `user` reads it.
async fn reads(api: &Api, user: &TestUser, id: &str, bytes: &[u8]) -> bool {
    let (status, info) = api.call(Method::GET, &format!("/files/{id}/info"), user, None).await;
    let (_, urls) = api.call(Method::POST, "/files/urls", user, Some(json!({ "ids": [id] }))).await;
    let listed = urls["files"].as_array().expect("a list of files");
    let (download, body) = api.download(&format!("/files/{id}"), Some(user)).await;
    let (thumbnail, _) = api.download(&format!("/files/{id}/thumbnail"), Some(user)).await;
    if status != 200 {
        assert_eq!(status, 404, "{info}");
        assert!(listed.is_empty(), "/files/urls leaves out what {} cannot read: {urls}", user.username);
        assert_eq!((download, thumbnail), (404, 404), "{} reads neither file nor thumbnail", user.username);
        return false;
    }
    let file = &info["file"];
    assert_eq!(file["id"], id, "{info}");
    assert_eq!(listed.len(), 1, "{urls}");
    assert_eq!(listed[0]["id"], id, "{urls}");
    assert_eq!((download, body.as_slice()), (200, bytes), "{} downloads the content", user.username);
    let (signed, body) = api.download(file["url"].as_str().expect("a signed URL"), None).await;
    assert_eq!((signed, body.as_slice()), (200, bytes), "the signed URL works without a token");
    assert_eq!(thumbnail, 200, "{} reads the thumbnail", user.username);
    let (signed, thumb) = api.download(file["thumbnail_url"].as_str().expect("a thumbnail URL"), None).await;
    assert_eq!(signed, 200, "the signed thumbnail URL works");
    image::load_from_memory(&thumb).expect("the thumbnail is an image");
    // The thumbnail by its own id, through the one-level thumbnail rule.
    let (_, info) = api.call(Method::GET, &format!("/files/{id}/info"), user, None).await;
    let thumbnail_id = info["file"]["thumbnail_id"].as_str().expect("the thumbnail is recorded");
    let (status, thumb_info) = api.call(Method::GET, &format!("/files/{thumbnail_id}/info"), user, None).await;
    assert_eq!(status, 200, "the thumbnail's own info: {thumb_info}");
    true
}

#[tokio::test]
async fn a_profile_avatar_image_is_readable_by_every_user_until_it_changes() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let bytes = png(400, 300);
    let face = upload(&api, &alice, "face.png", "image/png", bytes.clone()).await;
    assert!(!reads(&api, &bob, &face, &bytes).await, "private before it is an avatar");

    let (status, body) = set_avatar(&api, &alice, &face).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["avatar"], face.as_str());
    assert_eq!(avatar_of(&api, &alice, &bob).await, face.as_str(), "others see the file id");
    assert!(reads(&api, &alice, &face, &bytes).await, "the owner");
    assert!(reads(&api, &bob, &face, &bytes).await, "a stranger reads the avatar and its thumbnail");
    assert!(reads(&api, &carol, &face, &bytes).await, "another stranger too");
    let (status, body) = set_avatar(&api, &alice, &face).await;
    assert_eq!(status, 200, "setting it again is no change: {body}");

    // Her other files stay private.
    let other_bytes = png(64, 64);
    let other = upload(&api, &alice, "other.png", "image/png", other_bytes.clone()).await;
    assert!(!reads(&api, &bob, &other, &other_bytes).await, "a file that is no avatar");

    // A URL avatar still works, and the file is private again.
    let (status, body) = set_avatar(&api, &alice, "https://img.example/alice.png").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(avatar_of(&api, &alice, &bob).await, "https://img.example/alice.png");
    assert!(!reads(&api, &bob, &face, &bytes).await, "changed away: private again");
    assert!(reads(&api, &alice, &face, &bytes).await, "still the owner's");

    // Deleting the avatar's file leaves the profile naming it, and nobody
    // reads it any more.
    assert_eq!(set_avatar(&api, &alice, &face).await.0, 200);
    let (status, body) = api.call(Method::DELETE, &format!("/files/{face}"), &alice, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(avatar_of(&api, &alice, &bob).await, face.as_str(), "the avatar dangles");
    for user in [&bob, &alice] {
        assert!(!reads(&api, user, &face, &bytes).await, "deleted: 404 for {}", user.username);
    }
    let (status, body) = set_avatar(&api, &alice, "").await;
    assert_eq!((status, &body["user"]["avatar"]), (200, &json!("")), "cleared: {body}");
}

#[tokio::test]
async fn only_an_image_you_uploaded_can_be_your_avatar() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let bytes = png(120, 80);
    let hers = upload(&api, &alice, "hers.png", "image/png", bytes.clone()).await;

    // Bob can read her image through a message, but it is not his to publish.
    let message = json!({
        "clientMsgId": "share-1",
        "userId": bob.id,
        "content": { "file": { "file": { "fileId": hers } } },
    });
    let (status, body) = api.call(Method::POST, "/messages", &alice, Some(message)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(api.download(&format!("/files/{hers}"), Some(&bob)).await.0, 200, "bob reads it");
    refused_avatar(set_avatar(&api, &bob, &hers).await, "someone else's image");
    assert_eq!(api.download(&format!("/files/{hers}"), Some(&carol)).await.0, 404, "nothing was published");

    // His own files, but no image: a text file, and noise declared as PNG
    // (the type is sniffed from the content).
    let notes = upload(&api, &bob, "notes.txt", "text/plain", b"not a face".to_vec()).await;
    refused_avatar(set_avatar(&api, &bob, &notes).await, "a text file");
    let fake = api.upload(&bob, "fake.png", "image/png", content(2000, 7)).await;
    assert_eq!((fake.mime.as_str(), fake.width), ("application/octet-stream", 0));
    refused_avatar(set_avatar(&api, &bob, &fake.id).await, "noise declared as an image");
    refused_avatar(set_avatar(&api, &bob, "AAAAAAAAAAAAAAAAAAAAAA").await, "no such file");

    // Neither a URL nor a file id.
    let long = format!("https://img.example/{}", "a".repeat(1024));
    for bad in ["not an avatar", " ", "ftp://img.example/b.png", "https://", "data:image/png;base64,AAAA", &long] {
        refused_avatar(set_avatar(&api, &bob, bad).await, bad);
    }
    assert_eq!(avatar_of(&api, &bob, &alice).await, "", "every refusal changed nothing");

    // His own image is fine.
    let mine = upload(&api, &bob, "mine.png", "image/png", png(50, 50)).await;
    let (status, body) = set_avatar(&api, &bob, &mine).await;
    assert_eq!((status, &body["user"]["avatar"]), (200, &json!(mine)), "{body}");
}

/// Creates group "crew" as `owner` with `members` and `extra` fields.
async fn create_group(api: &Api, owner: &TestUser, members: &[&TestUser], extra: Value) -> (u16, Value) {
    let mut body = json!({ "name": "crew", "members": members.iter().map(|m| m.id).collect::<Vec<_>>() });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    api.call(Method::POST, "/groups", owner, Some(body)).await
}

/// `PATCH /groups/{id}` as `user`.
async fn update_group(api: &Api, user: &TestUser, id: i64, patch: Value) -> (u16, Value) {
    api.call(Method::PATCH, &format!("/groups/{id}"), user, Some(patch)).await
}

#[tokio::test]
async fn a_group_avatar_from_an_editors_image_is_readable_by_non_members() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (owner, admin, member, outsider) = (
        server.user("owner").await,
        server.user("admin").await,
        server.user("member").await,
        server.user("outsider").await,
    );
    let logo_bytes = png(300, 300);
    let logo = upload(&api, &owner, "logo.png", "image/png", logo_bytes.clone()).await;
    let notes = upload(&api, &owner, "notes.txt", "text/plain", b"minutes".to_vec()).await;

    // Created with a non-image: refused; with the owner's image: readable
    // by someone who is not in the group.
    refused_avatar(create_group(&api, &owner, &[&admin, &member], json!({ "avatar": notes })).await, "a text file");
    let (status, body) = create_group(&api, &owner, &[&admin, &member], json!({ "avatar": logo })).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["group"]["avatar"], logo.as_str());
    let id = body["group"]["id"].as_i64().expect("group id");
    assert!(reads(&api, &outsider, &logo, &logo_bytes).await, "a non-member reads the group's avatar");
    assert!(reads(&api, &member, &logo, &logo_bytes).await, "a member too");

    // An admin saving the settings with the avatar as it is: no check, the
    // owner's image stays; naming another of the owner's files: refused.
    let (status, body) = api
        .call(Method::PUT, &format!("/groups/{id}/members/{}/role", admin.id), &owner, Some(json!({ "role": "admin" })))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = update_group(&api, &admin, id, json!({ "avatar": logo, "intro": "hello" })).await;
    assert_eq!((status, &body["group"]["avatar"]), (200, &json!(logo)), "{body}");
    let spare = upload(&api, &owner, "spare.png", "image/png", png(40, 40)).await;
    refused_avatar(update_group(&api, &admin, id, json!({ "avatar": spare })).await, "the owner's other image");

    // A plain member may not edit the group at all.
    let own = upload(&api, &member, "own.png", "image/png", png(40, 40)).await;
    let (status, body) = update_group(&api, &member, id, json!({ "avatar": own })).await;
    assert_eq!((status, error_code(&body)), (403, "forbidden"), "{body}");

    // The admin's own image replaces the logo, which is private again.
    let badge_bytes = png(200, 100);
    let badge = upload(&api, &admin, "badge.png", "image/png", badge_bytes.clone()).await;
    let (status, body) = update_group(&api, &admin, id, json!({ "avatar": badge })).await;
    assert_eq!((status, &body["group"]["avatar"]), (200, &json!(badge)), "{body}");
    assert!(reads(&api, &outsider, &badge, &badge_bytes).await, "the new avatar");
    assert!(!reads(&api, &outsider, &logo, &logo_bytes).await, "the old one is private again");

    // Readable is not yours: the outsider cannot make the badge the avatar
    // of a group of their own.
    refused_avatar(
        create_group(&api, &outsider, &[], json!({ "avatar": badge })).await,
        "a public avatar of another's",
    );

    // A URL still works, and the badge is private again.
    let (status, body) = update_group(&api, &owner, id, json!({ "avatar": "https://img.example/crew.png" })).await;
    assert_eq!(status, 200, "{body}");
    assert!(!reads(&api, &outsider, &badge, &badge_bytes).await, "no avatar any more");
}
