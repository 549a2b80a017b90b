//! Groups over real sockets: every permission rule allowed and refused,
//! system messages in the seq stream, join policies, history visibility,
//! mentions, limits, a multi-device scenario with an offline member, and a
//! 10,000-member group whose message reaches every online member once.

use std::time::Duration;

use ferry_client::{Target, v1};
use ferry_testkit::{TestServer, TestUser, next_message, text_of};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// One HTTP call with `user`'s token; returns (status, JSON body).
async fn call(server: &TestServer, user: &TestUser, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1{path}", server.http_url());
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = http.request(method, url).bearer_auth(&user.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// Asserts an error response with `status` and `code`.
fn refused((status, body): (u16, Value), want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

fn ok((status, body): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{status} {body}");
    body
}

async fn create_group(server: &TestServer, owner: &TestUser, members: &[&TestUser], extra: Value) -> i64 {
    let mut body = json!({ "name": "crew", "members": members.iter().map(|m| m.id).collect::<Vec<_>>() });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let created = ok(call(server, owner, "POST", "/groups", Some(body)).await);
    created["group"]["id"].as_i64().unwrap()
}

async fn say(server: &TestServer, user: &TestUser, group: i64, text: &str) -> (u16, Value) {
    let body = json!({ "client_msg_id": format!("{}-{}", user.username, rand_id()), "conversation_id": format!("g_{group}"), "text": text });
    call(server, user, "POST", "/messages", Some(body)).await
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

async fn history(server: &TestServer, user: &TestUser, group: i64) -> Vec<Value> {
    let page =
        ok(call(server, user, "GET", &format!("/conversations/g_{group}/messages?after_seq=0&limit=1000"), None).await);
    page["messages"].as_array().unwrap().clone()
}

fn events(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["kind"] == "system")
        .map(|m| m["system"]["event"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn create_then_everyone_sees_the_same_seq_stream() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&server, &alice, &[&bob, &carol], json!({ "notice": "welcome" })).await;

    let info = ok(call(&server, &bob, "GET", &format!("/groups/{g}"), None).await)["group"].clone();
    assert_eq!(
        (info["name"].as_str(), info["owner_id"].as_i64(), info["member_count"].as_u64()),
        (Some("crew"), Some(alice.id), Some(3))
    );
    let members = ok(call(&server, &carol, "GET", &format!("/groups/{g}/members"), None).await);
    let roles: Vec<(i64, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_i64().unwrap(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&(alice.id, "owner".into())) && roles.contains(&(bob.id, "member".into())));

    ok(say(&server, &bob, g, "hi all").await);
    ok(say(&server, &carol, g, "hey").await);
    for user in [&alice, &bob, &carol] {
        let h = history(&server, user, g).await;
        let seqs: Vec<u64> = h.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, vec![1, 2, 3], "one dense stream for everyone");
        assert_eq!(h[0]["system"]["event"], "group_created");
        assert_eq!(h[1]["text"], "hi all");
    }
    // The group is in every member's conversation list, unread counted.
    let convs = ok(call(&server, &alice, "GET", "/conversations", None).await);
    let c = convs["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversation_id"] == format!("g_{g}"))
        .unwrap()
        .clone();
    assert_eq!((c["kind"].as_str(), c["max_seq"].as_u64(), c["unread"].as_u64()), (Some("group"), Some(3), Some(2)));

    // Outsiders can neither read nor write.
    let dave = server.user("dave").await;
    refused(say(&server, &dave, g, "let me in").await, 404, "not_found");
    refused(call(&server, &dave, "GET", &format!("/conversations/g_{g}/messages"), None).await, 404, "not_found");
    refused(call(&server, &dave, "GET", &format!("/groups/{g}/members"), None).await, 404, "not_found");
}

#[tokio::test]
async fn moderation_follows_the_ranks() {
    let server = TestServer::start().await;
    let owner = server.user("owner").await;
    let (admin, admin2) = (server.user("admin").await, server.user("admin2").await);
    let (m1, m2, m3) = (server.user("mem1").await, server.user("mem2").await, server.user("mem3").await);
    let g = create_group(&server, &owner, &[&admin, &admin2, &m1, &m2, &m3], json!({})).await;
    let role = |_: &TestUser, r: &str| json!({ "role": r });

    // Only the owner appoints admins.
    refused(
        call(&server, &m1, "PUT", &format!("/groups/{g}/members/{}/role", m2.id), Some(role(&m2, "admin"))).await,
        403,
        "forbidden",
    );
    for a in [&admin, &admin2] {
        ok(call(&server, &owner, "PUT", &format!("/groups/{g}/members/{}/role", a.id), Some(role(a, "admin"))).await);
    }
    refused(
        call(&server, &admin, "PUT", &format!("/groups/{g}/members/{}/role", m1.id), Some(role(&m1, "admin"))).await,
        403,
        "forbidden",
    );

    // Mute: admins mute members, not admins or the owner; members mute nobody.
    let mute = |m: u32| Some(json!({ "minutes": m }));
    let c = ok(call(&server, &admin, "PUT", &format!("/groups/{g}/members/{}/mute", m1.id), mute(10)).await);
    assert!(c["member"]["muted_until"].as_i64().unwrap() > 0);
    refused(
        call(&server, &admin, "PUT", &format!("/groups/{g}/members/{}/mute", admin2.id), mute(10)).await,
        403,
        "forbidden",
    );
    refused(
        call(&server, &admin, "PUT", &format!("/groups/{g}/members/{}/mute", owner.id), mute(10)).await,
        403,
        "forbidden",
    );
    refused(
        call(&server, &m2, "PUT", &format!("/groups/{g}/members/{}/mute", m3.id), mute(10)).await,
        403,
        "forbidden",
    );
    ok(call(&server, &owner, "PUT", &format!("/groups/{g}/members/{}/mute", admin2.id), mute(5)).await);

    // A muted member cannot speak; unmuted, they can. A muted admin cannot either.
    refused(say(&server, &m1, g, "let me talk").await, 403, "member_muted");
    ok(call(&server, &admin, "DELETE", &format!("/groups/{g}/members/{}/mute", m1.id), None).await);
    ok(say(&server, &m1, g, "thanks").await);

    // Mute-all: members are silenced, admins and the owner speak; members cannot toggle it.
    refused(
        call(&server, &m2, "PATCH", &format!("/groups/{g}"), Some(json!({ "mute_all": true }))).await,
        403,
        "forbidden",
    );
    ok(call(&server, &admin, "PATCH", &format!("/groups/{g}"), Some(json!({ "mute_all": true }))).await);
    refused(say(&server, &m2, g, "hello?").await, 403, "group_muted");
    ok(say(&server, &admin, g, "admins only now").await);
    ok(say(&server, &owner, g, "and the owner").await);
    ok(call(&server, &owner, "PATCH", &format!("/groups/{g}"), Some(json!({ "mute_all": false }))).await);
    ok(say(&server, &m2, g, "free again").await);

    // Remove: admins remove members, not admins/owner; members remove nobody; the owner removes admins.
    refused(call(&server, &m2, "DELETE", &format!("/groups/{g}/members/{}", m3.id), None).await, 403, "forbidden");
    refused(
        call(&server, &admin, "DELETE", &format!("/groups/{g}/members/{}", admin2.id), None).await,
        403,
        "forbidden",
    );
    refused(
        call(&server, &admin, "DELETE", &format!("/groups/{g}/members/{}", owner.id), None).await,
        403,
        "forbidden",
    );
    ok(call(&server, &admin, "DELETE", &format!("/groups/{g}/members/{}", m3.id), None).await);
    ok(call(&server, &owner, "DELETE", &format!("/groups/{g}/members/{}", admin2.id), None).await);
    refused(say(&server, &m3, g, "am I out?").await, 404, "not_found");

    // Info edits and announcements: owner/admins only.
    refused(
        call(&server, &m1, "PATCH", &format!("/groups/{g}"), Some(json!({ "name": "mine" }))).await,
        403,
        "forbidden",
    );
    ok(call(
        &server,
        &admin,
        "PATCH",
        &format!("/groups/{g}"),
        Some(json!({ "name": "crew 2", "notice": "read the rules" })),
    )
    .await);

    // The removed member saw their removal; everyone's stream records it all.
    let h = history(&server, &owner, g).await;
    let ev = events(&h);
    for e in [
        "role_changed",
        "member_muted",
        "member_unmuted",
        "mute_all",
        "unmute_all",
        "member_removed",
        "group_updated",
        "notice_posted",
    ] {
        assert!(ev.contains(&e.to_string()), "{e} missing from {ev:?}");
    }
    let muted = h.iter().find(|m| m["system"]["event"] == "member_muted").unwrap();
    assert!(muted["text"].as_str().unwrap().contains("muted mem1 for 10 minutes"), "{muted}");
    assert_eq!(muted["system"]["target_ids"][0].as_i64(), Some(m1.id));
}

#[tokio::test]
async fn ownership_leaving_and_dismissal() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&server, &alice, &[&bob, &carol], json!({})).await;

    refused(call(&server, &alice, "POST", &format!("/groups/{g}/leave"), None).await, 403, "forbidden");
    refused(
        call(&server, &bob, "POST", &format!("/groups/{g}/transfer"), Some(json!({ "user_id": carol.id }))).await,
        403,
        "forbidden",
    );
    ok(call(&server, &alice, "POST", &format!("/groups/{g}/transfer"), Some(json!({ "user_id": bob.id }))).await);
    let info = ok(call(&server, &carol, "GET", &format!("/groups/{g}"), None).await);
    assert_eq!(info["group"]["owner_id"].as_i64(), Some(bob.id));
    // The old owner is now an admin and may leave.
    refused(call(&server, &alice, "POST", &format!("/groups/{g}/dismiss"), None).await, 403, "forbidden");
    ok(call(&server, &alice, "POST", &format!("/groups/{g}/leave"), None).await);
    refused(call(&server, &alice, "GET", &format!("/conversations/g_{g}/messages"), None).await, 404, "not_found");
    let groups = ok(call(&server, &alice, "GET", "/groups", None).await);
    assert!(groups["groups"].as_array().unwrap().is_empty());

    // Dismissed: nobody posts, history stays readable.
    refused(call(&server, &carol, "POST", &format!("/groups/{g}/dismiss"), None).await, 403, "forbidden");
    ok(call(&server, &bob, "POST", &format!("/groups/{g}/dismiss"), None).await);
    refused(say(&server, &bob, g, "anyone?").await, 403, "group_dismissed");
    refused(say(&server, &carol, g, "hello?").await, 403, "group_dismissed");
    let ev = events(&history(&server, &carol, g).await);
    assert_eq!(ev, vec!["group_created", "owner_transferred", "member_left", "group_dismissed"]);
}

#[tokio::test]
async fn join_policies_and_approvals() {
    let server = TestServer::start().await;
    let (owner, member, outsider, late) = (
        server.user("owner").await,
        server.user("member").await,
        server.user("outsider").await,
        server.user("late").await,
    );

    // Free: anyone joins at once.
    let free = create_group(&server, &owner, &[&member], json!({ "join_policy": "free" })).await;
    let j = call(&server, &outsider, "POST", &format!("/groups/{free}/join"), Some(json!({}))).await;
    assert_eq!(ok(j)["joined"], true);
    ok(say(&server, &outsider, free, "I'm in").await);
    refused(call(&server, &outsider, "POST", &format!("/groups/{free}/join"), Some(json!({}))).await, 409, "conflict");

    // Approval: a request waits; members cannot approve; an admin/owner can.
    let appr = create_group(&server, &owner, &[&member], json!({ "join_policy": "approval" })).await;
    let (status, body) =
        call(&server, &outsider, "POST", &format!("/groups/{appr}/join"), Some(json!({ "message": "pls" }))).await;
    assert_eq!(status, 202, "{body}");
    let rid = body["request"]["id"].as_i64().unwrap();
    refused(say(&server, &outsider, appr, "early").await, 404, "not_found");
    refused(call(&server, &member, "GET", &format!("/groups/{appr}/requests"), None).await, 403, "forbidden");
    refused(call(&server, &member, "POST", &format!("/groups/requests/{rid}/approve"), None).await, 403, "forbidden");
    let pending = ok(call(&server, &owner, "GET", &format!("/groups/{appr}/requests"), None).await);
    assert_eq!(pending["requests"][0]["message"], "pls");
    ok(call(&server, &owner, "POST", &format!("/groups/requests/{rid}/approve"), None).await);
    refused(call(&server, &owner, "POST", &format!("/groups/requests/{rid}/approve"), None).await, 409, "conflict");
    ok(say(&server, &outsider, appr, "approved").await);

    // Invite-only: no requests; plain members cannot invite; admins can.
    let closed = create_group(&server, &owner, &[&member], json!({ "join_policy": "invite_only" })).await;
    refused(call(&server, &late, "POST", &format!("/groups/{closed}/join"), Some(json!({}))).await, 403, "forbidden");
    refused(call(&server, &late, "GET", &format!("/groups/{closed}"), None).await, 404, "not_found");
    refused(
        call(&server, &member, "POST", &format!("/groups/{closed}/members"), Some(json!({ "user_ids": [late.id] })))
            .await,
        403,
        "forbidden",
    );
    let inv =
        ok(call(&server, &owner, "POST", &format!("/groups/{closed}/members"), Some(json!({ "user_ids": [late.id] })))
            .await);
    assert_eq!(inv["added"][0].as_i64(), Some(late.id));

    // Invitations needing approval: a member's invite becomes a pending request.
    let gated = create_group(&server, &owner, &[&member], json!({ "invite_needs_approval": true })).await;
    let inv =
        ok(call(&server, &member, "POST", &format!("/groups/{gated}/members"), Some(json!({ "user_ids": [late.id] })))
            .await);
    assert!(inv["added"].as_array().unwrap().is_empty());
    let rid = inv["pending"][0]["id"].as_i64().unwrap();
    assert_eq!(inv["pending"][0]["inviter_id"].as_i64(), Some(member.id));
    refused(say(&server, &late, gated, "early").await, 404, "not_found");
    ok(call(&server, &owner, "POST", &format!("/groups/requests/{rid}/reject"), None).await);
    refused(say(&server, &late, gated, "rejected").await, 404, "not_found");
    // The owner's own invitation needs no approval.
    ok(call(&server, &owner, "POST", &format!("/groups/{gated}/members"), Some(json!({ "user_ids": [late.id] })))
        .await);
    ok(say(&server, &late, gated, "in").await);
}

#[tokio::test]
async fn new_members_see_history_from_their_join_point() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&server, &alice, &[&bob], json!({})).await;
    ok(say(&server, &alice, g, "before carol").await);
    ok(call(&server, &alice, "POST", &format!("/groups/{g}/members"), Some(json!({ "user_ids": [carol.id] }))).await);
    ok(say(&server, &bob, g, "after carol").await);
    let seen: Vec<Value> = history(&server, &carol, g).await;
    let texts: Vec<&str> = seen.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, vec!["alice added carol", "after carol"]);
    assert_eq!(seen[0]["seq"].as_u64(), Some(3));
    assert_eq!(history(&server, &bob, g).await.len(), 4);

    // With full history, a newcomer sees everything.
    let server =
        TestServer::start_with(|c| c.groups.history_for_new_members = ferry_server::config::HistoryVisibility::Full)
            .await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&server, &alice, &[&bob], json!({})).await;
    ok(say(&server, &alice, g, "before carol").await);
    ok(call(&server, &alice, "POST", &format!("/groups/{g}/members"), Some(json!({ "user_ids": [carol.id] }))).await);
    assert_eq!(history(&server, &carol, g).await.len(), 3);
}

#[tokio::test]
async fn mentions_are_recorded_until_read() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&server, &alice, &[&bob, &carol], json!({})).await;
    let conv = format!("g_{g}");
    let mentioned = |v: &Value| -> bool {
        v["conversations"].as_array().unwrap().iter().find(|c| c["conversation_id"] == conv).unwrap()["mentioned"]
            .as_bool()
            .unwrap()
    };

    let body =
        json!({ "client_msg_id": "m-1", "conversation_id": conv, "text": "@bob look", "mention_user_ids": [bob.id] });
    let ack = ok(call(&server, &carol, "POST", "/messages", Some(body)).await);
    assert!(mentioned(&ok(call(&server, &bob, "GET", "/conversations", None).await)));
    assert!(!mentioned(&ok(call(&server, &alice, "GET", "/conversations", None).await)));
    let seq = ack["seq"].as_u64().unwrap();
    ok(call(&server, &bob, "POST", &format!("/conversations/{conv}/read"), Some(json!({ "seq": seq }))).await);
    assert!(!mentioned(&ok(call(&server, &bob, "GET", "/conversations", None).await)));

    // @all: owner/admins only; it mentions everyone but the sender.
    let all =
        |id: &str| json!({ "client_msg_id": id, "conversation_id": conv, "text": "@all meeting", "mention_all": true });
    refused(call(&server, &carol, "POST", "/messages", Some(all("m-2"))).await, 403, "forbidden");
    ok(call(&server, &alice, "POST", "/messages", Some(all("m-3"))).await);
    assert!(mentioned(&ok(call(&server, &bob, "GET", "/conversations", None).await)));
    assert!(mentioned(&ok(call(&server, &carol, "GET", "/conversations", None).await)));
    assert!(!mentioned(&ok(call(&server, &alice, "GET", "/conversations", None).await)));
}

#[tokio::test]
async fn limits_on_group_size_and_groups_per_user() {
    let server = TestServer::start_with(|c| {
        c.groups.max_members = 3;
        c.groups.max_groups_per_user = 2;
    })
    .await;
    let (a, b, c, d) =
        (server.user("anna").await, server.user("bert").await, server.user("cora").await, server.user("dirk").await);
    refused(
        call(&server, &a, "POST", "/groups", Some(json!({ "name": "big", "members": [b.id, c.id, d.id] }))).await,
        422,
        "limit_exceeded",
    );
    let g = create_group(&server, &a, &[&b, &c], json!({})).await;
    refused(
        call(&server, &a, "POST", &format!("/groups/{g}/members"), Some(json!({ "user_ids": [d.id] }))).await,
        422,
        "limit_exceeded",
    );
    create_group(&server, &a, &[], json!({})).await;
    refused(
        call(&server, &a, "POST", "/groups", Some(json!({ "name": "third", "members": [] }))).await,
        422,
        "limit_exceeded",
    );
    refused(
        call(&server, &d, "POST", "/groups", Some(json!({ "name": "x", "members": [a.id] }))).await,
        422,
        "limit_exceeded",
    );
    refused(
        call(&server, &a, "POST", "/groups", Some(json!({ "name": "", "members": [] }))).await,
        400,
        "invalid_argument",
    );
    refused(
        call(&server, &d, "POST", "/groups", Some(json!({ "name": "ghosts", "members": [999_999] }))).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn member_list_syncs_incrementally() {
    let server = TestServer::start().await;
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let g = create_group(&server, &alice, &[&bob, &carol], json!({})).await;
    let full = ok(call(&server, &bob, "GET", &format!("/groups/{g}/members/changes?since=0"), None).await);
    let v1 = full["version"].as_u64().unwrap();
    assert_eq!(full["members"].as_array().unwrap().len(), 3);
    assert!(
        ok(call(&server, &bob, "GET", &format!("/groups/{g}/members/changes?since={v1}"), None).await)["members"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    ok(call(&server, &alice, "POST", &format!("/groups/{g}/members"), Some(json!({ "user_ids": [dave.id] }))).await);
    ok(call(&server, &alice, "DELETE", &format!("/groups/{g}/members/{}", carol.id), None).await);
    let delta = ok(call(&server, &bob, "GET", &format!("/groups/{g}/members/changes?since={v1}"), None).await);
    assert!(delta["version"].as_u64().unwrap() > v1);
    let mut rows: Vec<(i64, bool)> = delta["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_i64().unwrap(), m["left"].as_bool().unwrap()))
        .collect();
    rows.sort_unstable();
    let mut want = vec![(carol.id, true), (dave.id, false)];
    want.sort_unstable();
    assert_eq!(rows, want, "only the changes, removals as tombstones");
}

#[tokio::test]
async fn three_devices_and_an_offline_member_converge() {
    let server = TestServer::start().await;
    server.http().register("alice", ferry_testkit::PASSWORD, None).await.unwrap();
    let alice_phone = server.login_on("alice", "ios").await;
    let alice_laptop = server.login_on("alice", "cli").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let g = create_group(&server, &alice_phone, &[&bob, &carol], json!({})).await;
    let conv = format!("g_{g}");

    let (phone, mut phone_ev) = alice_phone.connect_tcp().await;
    let (_laptop, mut laptop_ev) = alice_laptop.connect_ws().await;
    let (b, mut bob_ev) = bob.connect_ws_json().await;
    // carol stays offline.
    for i in 1..=3 {
        phone.send_text(Target::Conversation(conv.clone()), format!("from alice {i}")).await.unwrap();
        b.send_text(Target::Conversation(conv.clone()), format!("from bob {i}")).await.unwrap();
    }
    // Seq 1 (the creation event) predates the connections; the client fills
    // that gap when the first push (seq 2) arrives. Every device then holds
    // 1..=7, in order, once.
    for ev in [&mut phone_ev, &mut laptop_ev, &mut bob_ev] {
        let mut seqs = Vec::new();
        while seqs.last() != Some(&7) {
            let m = next_message(ev, WAIT).await;
            if m.conversation_id == conv {
                seqs.push(m.seq);
            }
        }
        assert_eq!(seqs, (1..=7).collect::<Vec<_>>(), "every device, every message, in order, once");
    }

    // Carol comes online and catches up by sync: everything, in order, once.
    let (c, _c_ev) = carol.connect_tcp().await;
    let synced: Vec<v1::Message> = c.sync().await.unwrap().into_iter().filter(|m| m.conversation_id == conv).collect();
    assert_eq!(synced.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    assert!(matches!(
        synced[0].content.as_ref().and_then(|c| c.kind.as_ref()),
        Some(v1::message_content::Kind::System(_))
    ));
    assert_eq!(text_of(&synced[6]), "from bob 3");
}

#[tokio::test]
async fn a_ten_thousand_member_group_delivers_once_to_every_online_member() {
    const MEMBERS: usize = 10_000;
    const ONLINE: usize = 1_000;
    let server = TestServer::start_with(|c| {
        c.groups.max_members = 10_001;
        // Raw connections do not ping; setting up 10k users takes a while.
        c.gateway.heartbeat_interval_ms = 300_000;
        c.gateway.idle_timeout_ms = 600_000;
    })
    .await;
    let owner = server.user("owner").await;

    // Register members concurrently; log in (and connect) the first ONLINE.
    let http = server.http();
    let names: Vec<String> = (0..MEMBERS).map(|i| format!("m{i:05}")).collect();
    let mut ids = Vec::with_capacity(MEMBERS);
    for chunk in names.chunks(200) {
        let regs = chunk.iter().map(|n| http.register(n, ferry_testkit::PASSWORD, None));
        for r in futures_util::future::join_all(regs).await {
            ids.push(r.unwrap().id);
        }
    }
    let created =
        ok(call(&server, &owner, "POST", "/groups", Some(json!({ "name": "all hands", "members": ids }))).await);
    let g = created["group"]["id"].as_i64().unwrap();
    assert_eq!(created["group"]["member_count"].as_u64(), Some(MEMBERS as u64 + 1));

    let mut conns = Vec::with_capacity(ONLINE);
    for chunk in names[..ONLINE].chunks(100) {
        let logins = chunk.iter().map(|n| server.login(n));
        for user in futures_util::future::join_all(logins).await {
            conns.push(user.raw_tcp().await.0);
        }
    }

    // One message; each online member receives it exactly once.
    let (o, _oe) = owner.connect_tcp().await;
    let ack = o.send_text(Target::Conversation(format!("g_{g}")), "hello, everyone").await.unwrap();
    let receivers = conns.into_iter().map(|mut conn| async move {
        let mut got = 0;
        loop {
            let frame = conn.recv_timeout(WAIT).await.unwrap().expect("push");
            if let Some(v1::frame::Body::Message(m)) = frame.body {
                assert_eq!((m.seq, text_of(&m)), (ack.seq, "hello, everyone"));
                got += 1;
                // Prove there is no second copy: a ping's pong must be next.
                let id = conn.send_body(v1::frame::Body::Ping(v1::Ping { client_time: 1 })).await.unwrap();
                loop {
                    let f = conn.recv_timeout(WAIT).await.unwrap().expect("pong");
                    match f.body {
                        Some(v1::frame::Body::Pong(_)) if f.id == id => return got,
                        Some(v1::frame::Body::Message(m)) => panic!("duplicate or extra message seq {}", m.seq),
                        _ => {}
                    }
                }
            }
        }
    });
    let counts = futures_util::future::join_all(receivers).await;
    assert_eq!(counts.len(), ONLINE);
    assert!(counts.iter().all(|c| *c == 1));

    // Every member (online or not) can read it; the member list pages through all.
    let mut after = 0;
    let mut seen = 0;
    loop {
        let page =
            ok(call(&server, &owner, "GET", &format!("/groups/{g}/members?after={after}&limit=1000"), None).await);
        seen += page["members"].as_array().unwrap().len();
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, MEMBERS + 1);
    let last = server.login(&names[MEMBERS - 1]).await;
    let h = history(&server, &last, g).await;
    assert_eq!(h.last().unwrap()["text"], "hello, everyone");
}
