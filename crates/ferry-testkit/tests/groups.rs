//! Groups over real sockets: every permission rule allowed and refused,
//! system messages in the seq stream, join policies, history visibility,
//! mentions, limits, a multi-device scenario with an offline member, and a
//! 10,000-member group whose message reaches every online member once.

use std::time::Duration;

use ferry_client::{Target, content::system_of, v1};
use ferry_testkit::{
    PASSWORD, TestServer, TestUser, WAIT,
    http::{Api, proto},
    ids::group_conversation,
    next_message, text_of,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Fan-out to a thousand raw connections on a machine of two shared cores
/// gets twice the usual wait.
const FANOUT_WAIT: Duration = WAIT.saturating_mul(2);

/// Asserts an error response with `status` and `code`.
fn refused((status, body): (u16, Value), want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

fn ok((status, body): (u16, Value)) -> Value {
    assert!((200..300).contains(&status), "{status} {body}");
    body
}

async fn create_group(api: &Api, owner: &TestUser, members: &[&TestUser], extra: Value) -> i64 {
    let mut body = json!({ "name": "crew", "members": members.iter().map(|m| m.id).collect::<Vec<_>>() });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let created = ok(api.call(Method::POST, "/groups", owner, Some(body)).await);
    created["group"]["id"].as_i64().unwrap()
}

/// Sends `text` to the group over HTTP (a proto3-JSON `SendMessage`).
async fn say(api: &Api, user: &TestUser, group: i64, text: &str) -> (u16, Value) {
    let body = json!({
        "clientMsgId": format!("{}-{}", user.username, rand_id()),
        "conversationId": group_conversation(group),
        "content": { "text": { "text": text } },
    });
    api.call(Method::POST, "/messages", user, Some(body)).await
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Everything `user` may read of the group (a `v1.MessageBatch` over HTTP).
async fn history(api: &Api, user: &TestUser, group: i64) -> Vec<v1::Message> {
    let page = ok(api
        .call(Method::GET, &format!("/conversations/g_{group}/messages?after_seq=0&limit=1000"), user, None)
        .await);
    proto::<v1::MessageBatch>(&page).messages
}

fn events(messages: &[v1::Message]) -> Vec<String> {
    messages.iter().filter_map(system_of).map(|s| s.event.clone()).collect()
}

#[tokio::test]
async fn create_then_everyone_sees_the_same_seq_stream() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&api, &alice, &[&bob, &carol], json!({ "notice": "welcome" })).await;

    let info = ok(api.call(Method::GET, &format!("/groups/{g}"), &bob, None).await)["group"].clone();
    assert_eq!(
        (info["name"].as_str(), info["owner_id"].as_i64(), info["member_count"].as_u64()),
        (Some("crew"), Some(alice.id), Some(3))
    );
    let members = ok(api.call(Method::GET, &format!("/groups/{g}/members"), &carol, None).await);
    let roles: Vec<(i64, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_i64().unwrap(), m["role"].as_str().unwrap().to_owned()))
        .collect();
    assert!(roles.contains(&(alice.id, "owner".into())) && roles.contains(&(bob.id, "member".into())));

    ok(say(&api, &bob, g, "hi all").await);
    ok(say(&api, &carol, g, "hey").await);
    for user in [&alice, &bob, &carol] {
        let h = history(&api, user, g).await;
        let seqs: Vec<u64> = h.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3], "one dense stream for everyone");
        assert_eq!(system_of(&h[0]).map(|s| s.event.as_str()), Some("group_created"));
        assert_eq!(text_of(&h[1]), "hi all");
    }
    // The group is in every member's conversation list, unread counted.
    let convs = ok(api.call(Method::GET, "/conversations", &alice, None).await);
    let c = convs["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["conversationId"] == group_conversation(g))
        .unwrap()
        .clone();
    // proto3 JSON, as the long connection's text frames: 64-bit counts are strings.
    assert_eq!((c["kind"].as_str(), c["maxSeq"].as_str(), c["unread"].as_str()), (Some("group"), Some("3"), Some("2")));

    // Outsiders can neither read nor write.
    let dave = server.user("dave").await;
    refused(say(&api, &dave, g, "let me in").await, 404, "not_found");
    refused(api.call(Method::GET, &format!("/conversations/g_{g}/messages"), &dave, None).await, 404, "not_found");
    refused(api.call(Method::GET, &format!("/groups/{g}/members"), &dave, None).await, 404, "not_found");
}

#[tokio::test]
async fn moderation_follows_the_ranks() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let owner = server.user("owner").await;
    let (admin, admin2) = (server.user("admin").await, server.user("admin2").await);
    let (m1, m2, m3) = (server.user("mem1").await, server.user("mem2").await, server.user("mem3").await);
    let g = create_group(&api, &owner, &[&admin, &admin2, &m1, &m2, &m3], json!({})).await;
    let role = |_: &TestUser, r: &str| json!({ "role": r });

    // Only the owner appoints admins.
    refused(
        api.call(Method::PUT, &format!("/groups/{g}/members/{}/role", m2.id), &m1, Some(role(&m2, "admin"))).await,
        403,
        "forbidden",
    );
    for a in [&admin, &admin2] {
        ok(api.call(Method::PUT, &format!("/groups/{g}/members/{}/role", a.id), &owner, Some(role(a, "admin"))).await);
    }
    refused(
        api.call(Method::PUT, &format!("/groups/{g}/members/{}/role", m1.id), &admin, Some(role(&m1, "admin"))).await,
        403,
        "forbidden",
    );

    // Mute: admins mute members, not admins or the owner; members mute nobody.
    let mute = |m: u32| Some(json!({ "minutes": m }));
    let c = ok(api.call(Method::PUT, &format!("/groups/{g}/members/{}/mute", m1.id), &admin, mute(10)).await);
    assert!(c["member"]["muted_until"].as_i64().unwrap() > 0);
    refused(
        api.call(Method::PUT, &format!("/groups/{g}/members/{}/mute", admin2.id), &admin, mute(10)).await,
        403,
        "forbidden",
    );
    refused(
        api.call(Method::PUT, &format!("/groups/{g}/members/{}/mute", owner.id), &admin, mute(10)).await,
        403,
        "forbidden",
    );
    refused(
        api.call(Method::PUT, &format!("/groups/{g}/members/{}/mute", m3.id), &m2, mute(10)).await,
        403,
        "forbidden",
    );
    ok(api.call(Method::PUT, &format!("/groups/{g}/members/{}/mute", admin2.id), &owner, mute(5)).await);

    // A muted member cannot speak; unmuted, they can. A muted admin cannot either.
    refused(say(&api, &m1, g, "let me talk").await, 403, "member_muted");
    ok(api.call(Method::DELETE, &format!("/groups/{g}/members/{}/mute", m1.id), &admin, None).await);
    ok(say(&api, &m1, g, "thanks").await);

    // Mute-all: members are silenced, admins and the owner speak; members cannot toggle it.
    refused(
        api.call(Method::PATCH, &format!("/groups/{g}"), &m2, Some(json!({ "mute_all": true }))).await,
        403,
        "forbidden",
    );
    ok(api.call(Method::PATCH, &format!("/groups/{g}"), &admin, Some(json!({ "mute_all": true }))).await);
    refused(say(&api, &m2, g, "hello?").await, 403, "group_muted");
    ok(say(&api, &admin, g, "admins only now").await);
    ok(say(&api, &owner, g, "and the owner").await);
    ok(api.call(Method::PATCH, &format!("/groups/{g}"), &owner, Some(json!({ "mute_all": false }))).await);
    ok(say(&api, &m2, g, "free again").await);

    // Remove: admins remove members, not admins/owner; members remove nobody; the owner removes admins.
    refused(api.call(Method::DELETE, &format!("/groups/{g}/members/{}", m3.id), &m2, None).await, 403, "forbidden");
    refused(
        api.call(Method::DELETE, &format!("/groups/{g}/members/{}", admin2.id), &admin, None).await,
        403,
        "forbidden",
    );
    refused(
        api.call(Method::DELETE, &format!("/groups/{g}/members/{}", owner.id), &admin, None).await,
        403,
        "forbidden",
    );
    ok(api.call(Method::DELETE, &format!("/groups/{g}/members/{}", m3.id), &admin, None).await);
    ok(api.call(Method::DELETE, &format!("/groups/{g}/members/{}", admin2.id), &owner, None).await);
    refused(say(&api, &m3, g, "am I out?").await, 404, "not_found");

    // Info edits and announcements: owner/admins only.
    refused(
        api.call(Method::PATCH, &format!("/groups/{g}"), &m1, Some(json!({ "name": "mine" }))).await,
        403,
        "forbidden",
    );
    ok(api
        .call(
            Method::PATCH,
            &format!("/groups/{g}"),
            &admin,
            Some(json!({ "name": "crew 2", "notice": "read the rules" })),
        )
        .await);

    // The removed member saw their removal; everyone's stream records it all.
    let h = history(&api, &owner, g).await;
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
    let muted = h.iter().filter_map(system_of).find(|s| s.event == "member_muted").unwrap();
    assert!(muted.text.contains("muted mem1 for 10 minutes"), "{muted:?}");
    assert_eq!(muted.target_ids.first(), Some(&m1.id));
}

#[tokio::test]
async fn ownership_leaving_and_dismissal() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&api, &alice, &[&bob, &carol], json!({})).await;

    refused(api.call(Method::POST, &format!("/groups/{g}/leave"), &alice, None).await, 403, "forbidden");
    refused(
        api.call(Method::POST, &format!("/groups/{g}/transfer"), &bob, Some(json!({ "user_id": carol.id }))).await,
        403,
        "forbidden",
    );
    ok(api.call(Method::POST, &format!("/groups/{g}/transfer"), &alice, Some(json!({ "user_id": bob.id }))).await);
    let info = ok(api.call(Method::GET, &format!("/groups/{g}"), &carol, None).await);
    assert_eq!(info["group"]["owner_id"].as_i64(), Some(bob.id));
    // The old owner is now an admin and may leave.
    refused(api.call(Method::POST, &format!("/groups/{g}/dismiss"), &alice, None).await, 403, "forbidden");
    ok(api.call(Method::POST, &format!("/groups/{g}/leave"), &alice, None).await);
    refused(api.call(Method::GET, &format!("/conversations/g_{g}/messages"), &alice, None).await, 404, "not_found");
    let groups = ok(api.call(Method::GET, "/groups", &alice, None).await);
    assert!(groups["groups"].as_array().unwrap().is_empty());

    // Dismissed: nobody posts, history stays readable.
    refused(api.call(Method::POST, &format!("/groups/{g}/dismiss"), &carol, None).await, 403, "forbidden");
    ok(api.call(Method::POST, &format!("/groups/{g}/dismiss"), &bob, None).await);
    refused(say(&api, &bob, g, "anyone?").await, 403, "group_dismissed");
    refused(say(&api, &carol, g, "hello?").await, 403, "group_dismissed");
    let ev = events(&history(&api, &carol, g).await);
    assert_eq!(ev, vec!["group_created", "owner_transferred", "member_left", "group_dismissed"]);
}

#[tokio::test]
async fn join_policies_and_approvals() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (owner, member, outsider, late) = (
        server.user("owner").await,
        server.user("member").await,
        server.user("outsider").await,
        server.user("late").await,
    );

    // Free: anyone joins at once.
    let free = create_group(&api, &owner, &[&member], json!({ "join_policy": "free" })).await;
    let j = api.call(Method::POST, &format!("/groups/{free}/join"), &outsider, Some(json!({}))).await;
    assert_eq!(ok(j)["joined"], true);
    ok(say(&api, &outsider, free, "I'm in").await);
    refused(api.call(Method::POST, &format!("/groups/{free}/join"), &outsider, Some(json!({}))).await, 409, "conflict");

    // Approval: a request waits; members cannot approve; an admin/owner can.
    let appr = create_group(&api, &owner, &[&member], json!({ "join_policy": "approval" })).await;
    let (status, body) =
        api.call(Method::POST, &format!("/groups/{appr}/join"), &outsider, Some(json!({ "message": "pls" }))).await;
    assert_eq!(status, 202, "{body}");
    let rid = body["request"]["id"].as_i64().unwrap();
    refused(say(&api, &outsider, appr, "early").await, 404, "not_found");
    refused(api.call(Method::GET, &format!("/groups/{appr}/requests"), &member, None).await, 403, "forbidden");
    refused(api.call(Method::POST, &format!("/groups/requests/{rid}/approve"), &member, None).await, 403, "forbidden");
    let pending = ok(api.call(Method::GET, &format!("/groups/{appr}/requests"), &owner, None).await);
    assert_eq!(pending["requests"][0]["message"], "pls");
    ok(api.call(Method::POST, &format!("/groups/requests/{rid}/approve"), &owner, None).await);
    refused(api.call(Method::POST, &format!("/groups/requests/{rid}/approve"), &owner, None).await, 409, "conflict");
    ok(say(&api, &outsider, appr, "approved").await);

    // Invite-only: no requests; plain members cannot invite; admins can.
    let closed = create_group(&api, &owner, &[&member], json!({ "join_policy": "invite_only" })).await;
    // To an outsider an invite-only group is indistinguishable from none.
    refused(api.call(Method::POST, &format!("/groups/{closed}/join"), &late, Some(json!({}))).await, 404, "not_found");
    refused(api.call(Method::POST, "/groups/987654/join", &late, Some(json!({}))).await, 404, "not_found");
    refused(api.call(Method::GET, &format!("/groups/{closed}"), &late, None).await, 404, "not_found");
    refused(
        api.call(Method::POST, &format!("/groups/{closed}/members"), &member, Some(json!({ "user_ids": [late.id] })))
            .await,
        403,
        "forbidden",
    );
    let inv = ok(api
        .call(Method::POST, &format!("/groups/{closed}/members"), &owner, Some(json!({ "user_ids": [late.id] })))
        .await);
    assert_eq!(inv["added"][0].as_i64(), Some(late.id));

    // Invitations needing approval: a member's invite becomes a pending request.
    let gated = create_group(&api, &owner, &[&member], json!({ "invite_needs_approval": true })).await;
    let inv = ok(api
        .call(Method::POST, &format!("/groups/{gated}/members"), &member, Some(json!({ "user_ids": [late.id] })))
        .await);
    assert!(inv["added"].as_array().unwrap().is_empty());
    let rid = inv["pending"][0]["id"].as_i64().unwrap();
    assert_eq!(inv["pending"][0]["inviter_id"].as_i64(), Some(member.id));
    refused(say(&api, &late, gated, "early").await, 404, "not_found");
    ok(api.call(Method::POST, &format!("/groups/requests/{rid}/reject"), &owner, None).await);
    refused(say(&api, &late, gated, "rejected").await, 404, "not_found");
    // The owner's own invitation needs no approval.
    ok(api
        .call(Method::POST, &format!("/groups/{gated}/members"), &owner, Some(json!({ "user_ids": [late.id] })))
        .await);
    ok(say(&api, &late, gated, "in").await);
}

#[tokio::test]
async fn new_members_see_history_from_their_join_point() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&api, &alice, &[&bob], json!({})).await;
    ok(say(&api, &alice, g, "before carol").await);
    ok(api.call(Method::POST, &format!("/groups/{g}/members"), &alice, Some(json!({ "user_ids": [carol.id] }))).await);
    ok(say(&api, &bob, g, "after carol").await);
    let seen = history(&api, &carol, g).await;
    let texts: Vec<String> = seen.iter().map(|m| text_of(m).into_owned()).collect();
    assert_eq!(texts, vec!["alice added carol", "after carol"]);
    assert_eq!(seen[0].seq, 3);
    assert_eq!(history(&api, &bob, g).await.len(), 4);

    // With full history, a newcomer sees everything.
    let server =
        TestServer::start_with(|c| c.groups.history_for_new_members = ferry_server::config::HistoryVisibility::Full)
            .await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&api, &alice, &[&bob], json!({})).await;
    ok(say(&api, &alice, g, "before carol").await);
    ok(api.call(Method::POST, &format!("/groups/{g}/members"), &alice, Some(json!({ "user_ids": [carol.id] }))).await);
    assert_eq!(history(&api, &carol, g).await.len(), 3);
}

#[tokio::test]
async fn mentions_are_recorded_until_read() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol) = (server.user("alice").await, server.user("bob").await, server.user("carol").await);
    let g = create_group(&api, &alice, &[&bob, &carol], json!({})).await;
    let conv = group_conversation(g);
    let mentioned = |v: &Value| -> bool {
        let list = proto::<v1::ConversationList>(v);
        list.conversations.iter().find(|c| c.conversation_id == conv).unwrap().mentioned
    };

    let body = json!({
        "clientMsgId": "m-1",
        "conversationId": conv,
        "content": { "text": { "text": "@bob look", "mentionUserIds": [bob.id.to_string()] } },
    });
    let ack = ok(api.call(Method::POST, "/messages", &carol, Some(body)).await);
    assert!(mentioned(&ok(api.call(Method::GET, "/conversations", &bob, None).await)));
    assert!(!mentioned(&ok(api.call(Method::GET, "/conversations", &alice, None).await)));
    let seq = proto::<v1::SendAck>(&ack).seq;
    // `{"seq": N}`: proto3 JSON takes a 64-bit integer as a number or a string.
    ok(api.call(Method::POST, &format!("/conversations/{conv}/read"), &bob, Some(json!({ "seq": seq }))).await);
    assert!(!mentioned(&ok(api.call(Method::GET, "/conversations", &bob, None).await)));

    // @all: owner/admins only; it mentions everyone but the sender.
    let all = |id: &str| {
        json!({
            "clientMsgId": id,
            "conversationId": conv,
            "content": { "text": { "text": "@all meeting", "mentionAll": true } },
        })
    };
    refused(api.call(Method::POST, "/messages", &carol, Some(all("m-2"))).await, 403, "forbidden");
    ok(api.call(Method::POST, "/messages", &alice, Some(all("m-3"))).await);
    assert!(mentioned(&ok(api.call(Method::GET, "/conversations", &bob, None).await)));
    assert!(mentioned(&ok(api.call(Method::GET, "/conversations", &carol, None).await)));
    assert!(!mentioned(&ok(api.call(Method::GET, "/conversations", &alice, None).await)));
}

#[tokio::test]
async fn limits_on_group_size_and_groups_per_user() {
    let server = TestServer::start_with(|c| {
        c.groups.max_members = 3;
        c.groups.max_groups_per_user = 2;
    })
    .await;
    let api = Api::new(&server);
    let (a, b, c, d) =
        (server.user("anna").await, server.user("bert").await, server.user("cora").await, server.user("dirk").await);
    refused(
        api.call(Method::POST, "/groups", &a, Some(json!({ "name": "big", "members": [b.id, c.id, d.id] }))).await,
        422,
        "limit_exceeded",
    );
    let g = create_group(&api, &a, &[&b, &c], json!({})).await;
    refused(
        api.call(Method::POST, &format!("/groups/{g}/members"), &a, Some(json!({ "user_ids": [d.id] }))).await,
        422,
        "limit_exceeded",
    );
    create_group(&api, &a, &[], json!({})).await;
    refused(
        api.call(Method::POST, "/groups", &a, Some(json!({ "name": "third", "members": [] }))).await,
        422,
        "limit_exceeded",
    );
    refused(
        api.call(Method::POST, "/groups", &d, Some(json!({ "name": "x", "members": [a.id] }))).await,
        422,
        "limit_exceeded",
    );
    refused(
        api.call(Method::POST, "/groups", &a, Some(json!({ "name": "", "members": [] }))).await,
        400,
        "invalid_argument",
    );
    refused(
        api.call(Method::POST, "/groups", &d, Some(json!({ "name": "ghosts", "members": [999_999] }))).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn member_list_syncs_incrementally() {
    let server = TestServer::start().await;
    let api = Api::new(&server);
    let (alice, bob, carol, dave) =
        (server.user("alice").await, server.user("bob").await, server.user("carol").await, server.user("dave").await);
    let g = create_group(&api, &alice, &[&bob, &carol], json!({})).await;
    let full = ok(api.call(Method::GET, &format!("/groups/{g}/members/changes?since=0"), &bob, None).await);
    let v1 = full["version"].as_u64().unwrap();
    assert_eq!(full["members"].as_array().unwrap().len(), 3);
    assert!(
        ok(api.call(Method::GET, &format!("/groups/{g}/members/changes?since={v1}"), &bob, None).await)["members"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    ok(api.call(Method::POST, &format!("/groups/{g}/members"), &alice, Some(json!({ "user_ids": [dave.id] }))).await);
    ok(api.call(Method::DELETE, &format!("/groups/{g}/members/{}", carol.id), &alice, None).await);
    let delta = ok(api.call(Method::GET, &format!("/groups/{g}/members/changes?since={v1}"), &bob, None).await);
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
    let api = Api::new(&server);
    server.http().register("alice", PASSWORD, None).await.unwrap();
    let alice_phone = server.login_on("alice", "ios").await;
    let alice_laptop = server.login_on("alice", "cli").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let g = create_group(&api, &alice_phone, &[&bob, &carol], json!({})).await;
    let conv = group_conversation(g);

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
    let api = Api::new(&server);
    let owner = server.user("owner").await;

    // Register members concurrently; log in (and connect) the first ONLINE.
    let http = server.http();
    let names: Vec<String> = (0..MEMBERS).map(|i| format!("m{i:05}")).collect();
    let mut ids = Vec::with_capacity(MEMBERS);
    for chunk in names.chunks(200) {
        let regs = chunk.iter().map(|n| http.register(n, PASSWORD, None));
        for r in futures_util::future::join_all(regs).await {
            ids.push(r.unwrap().id);
        }
    }
    let created =
        ok(api.call(Method::POST, "/groups", &owner, Some(json!({ "name": "all hands", "members": ids }))).await);
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
    let ack = o.send_text(Target::Conversation(group_conversation(g)), "hello, everyone").await.unwrap();
    let receivers = conns.into_iter().map(|mut conn| async move {
        let mut got = 0;
        loop {
            let frame = conn.recv_timeout(FANOUT_WAIT).await.unwrap().expect("push");
            if let Some(v1::frame::Body::Message(m)) = frame.body {
                assert_eq!((m.seq, text_of(&m).as_ref()), (ack.seq, "hello, everyone"));
                got += 1;
                // Prove there is no second copy: a ping's pong must be next.
                let id = conn.send_body(v1::frame::Body::Ping(v1::Ping { client_time: 1 })).await.unwrap();
                loop {
                    let f = conn.recv_timeout(FANOUT_WAIT).await.unwrap().expect("pong");
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
            ok(api.call(Method::GET, &format!("/groups/{g}/members?after={after}&limit=1000"), &owner, None).await);
        seen += page["members"].as_array().unwrap().len();
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, MEMBERS + 1);
    let last = server.login(&names[MEMBERS - 1]).await;
    let h = history(&api, &last, g).await;
    assert_eq!(text_of(h.last().unwrap()), "hello, everyone");
}
