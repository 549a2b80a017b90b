//! `group …`: create and inspect groups, manage members, moderate, handle
//! join requests. Groups are named by id (`5` or `g_5`), members by
//! username. Also the `@name` mention resolution that `send --group` and
//! `chat` share.

use std::{
    collections::{HashMap, HashSet},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Result;
use clap::Subcommand;
use ferry_client::{
    Group, GroupUpdate, HttpApi, JoinOutcome, JoinRequest, Member, MentionNames, Mentions, NewGroup, RequestStatus,
    mention_names,
};
use ferry_core::{ErrorCode, JoinPolicy, Role, UserId};
use serde_json::{Value, json};

use super::{Ctx, Names, contacts::user_id, not_found};
use crate::output::sanitize;

/// `ferry group …`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group; prints its id.
    Create {
        /// Group name.
        name: String,
        /// First members besides you: usernames, comma-separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
        /// Who may join without an invitation: free, approval or invite_only.
        #[arg(long, value_parser = parse_join_policy)]
        join_policy: Option<JoinPolicy>,
        /// Print the group as a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List your groups.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show a group.
    Info {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List every member (username, role, nickname, muted).
    Members {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Invite users (added at once, or pending approval).
    Invite {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Usernames.
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Remove a member (owner and admins).
    Kick {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
    /// Mute a member for some minutes (owner and admins).
    Mute {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
        /// How long.
        #[arg(long, default_value_t = 10)]
        minutes: u32,
    },
    /// Lift a member's mute.
    Unmute {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
    /// Mute everyone but the owner and admins.
    MuteAll {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
    },
    /// Lift the group-wide mute.
    UnmuteAll {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
    },
    /// Make a member an admin (owner).
    Admin {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
    /// Make an admin a plain member again (owner).
    Unadmin {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
    /// Hand the group to another member (owner).
    Transfer {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username of the new owner.
        user: String,
    },
    /// Post a notice (owner and admins).
    Notice {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// The notice.
        text: String,
    },
    /// Rename the group (owner and admins).
    Rename {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// New name.
        name: String,
    },
    /// Set your nickname in the group ("" clears it).
    Nickname {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// The nickname.
        nickname: String,
    },
    /// Join a group, or ask to if it needs approval.
    Join {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// A note for the admins.
        #[arg(long)]
        message: Option<String>,
    },
    /// Leave a group (owners transfer it first).
    Leave {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
    },
    /// Dismiss a group (owner).
    Dismiss {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
    },
    /// List pending join requests (owner and admins).
    Requests {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Approve USER's pending join request.
    Approve {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
    /// Reject USER's pending join request.
    Reject {
        /// Group id.
        #[arg(value_parser = parse_group_id)]
        id: i64,
        /// Username.
        user: String,
    },
}

/// Runs one `group` subcommand.
pub async fn run(ctx: &Ctx, cmd: GroupCommand) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let mut names = Names::new(http.clone());
    names.insert(profile.user_id, profile.username.clone());
    match cmd {
        GroupCommand::Create { name, members, join_policy, json } => {
            let mut ids = Vec::new();
            for member in members.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
                ids.push(user_id(&http, member).await?);
            }
            let new = NewGroup { name, members: ids, join_policy, ..Default::default() };
            let group = http.create_group(&new).await?;
            if json {
                println!("{}", group_json(&group, &profile.username));
            } else {
                println!("{}", group.id);
            }
        }
        GroupCommand::List { json } => {
            let groups = http.groups().await?;
            names.resolve(groups.iter().map(|g| g.owner_id)).await?;
            for g in &groups {
                if json {
                    println!("{}", group_json(g, &names.name(g.owner_id)));
                } else {
                    println!("{}", group_line(g));
                }
            }
        }
        GroupCommand::Info { id, json } => {
            let g = http.group(id).await?;
            names.resolve([g.owner_id]).await?;
            let owner = names.name(g.owner_id);
            if json {
                println!("{}", group_json(&g, &owner));
            } else {
                println!("{}", info_text(&g, &owner));
            }
        }
        GroupCommand::Members { id, json } => {
            let mut members: Vec<Member> = http.all_members(id).await?.into_iter().filter(|m| !m.left).collect();
            names.resolve(members.iter().map(|m| m.user_id)).await?;
            members.sort_by(|a, b| b.role.cmp(&a.role).then_with(|| names.name(a.user_id).cmp(&names.name(b.user_id))));
            let now = now_ms();
            for m in &members {
                let name = names.name(m.user_id);
                if json {
                    println!("{}", member_json(m, &name, now));
                } else {
                    println!("{}", member_line(m, &name, now));
                }
            }
        }
        GroupCommand::Invite { id, users } => {
            let mut ids = Vec::new();
            for user in &users {
                let uid = user_id(&http, user).await?;
                names.insert(uid, user.clone());
                ids.push(uid);
            }
            let invited = http.invite(id, &ids).await?;
            for uid in &invited.added {
                println!("added {} to group {id}", names.name(*uid));
            }
            for r in &invited.pending {
                println!("invited {} to group {id} (waiting for approval, request #{})", names.name(r.user_id), r.id);
            }
        }
        GroupCommand::Kick { id, user } => {
            http.remove_member(id, user_id(&http, &user).await?).await?;
            println!("removed {user} from group {id}");
        }
        GroupCommand::Mute { id, user, minutes } => {
            http.mute_member(id, user_id(&http, &user).await?, minutes).await?;
            println!("muted {user} in group {id} for {minutes} minutes");
        }
        GroupCommand::Unmute { id, user } => {
            http.unmute_member(id, user_id(&http, &user).await?).await?;
            println!("unmuted {user} in group {id}");
        }
        GroupCommand::MuteAll { id } => {
            http.update_group(id, &GroupUpdate { mute_all: Some(true), ..Default::default() }).await?;
            println!("muted group {id}: only the owner and admins may speak");
        }
        GroupCommand::UnmuteAll { id } => {
            http.update_group(id, &GroupUpdate { mute_all: Some(false), ..Default::default() }).await?;
            println!("unmuted group {id}");
        }
        GroupCommand::Admin { id, user } => {
            http.set_member_role(id, user_id(&http, &user).await?, Role::Admin).await?;
            println!("{user} is now an admin of group {id}");
        }
        GroupCommand::Unadmin { id, user } => {
            http.set_member_role(id, user_id(&http, &user).await?, Role::Member).await?;
            println!("{user} is no longer an admin of group {id}");
        }
        GroupCommand::Transfer { id, user } => {
            http.transfer_group(id, user_id(&http, &user).await?).await?;
            println!("{user} now owns group {id}");
        }
        GroupCommand::Notice { id, text } => {
            http.update_group(id, &GroupUpdate { notice: Some(text), ..Default::default() }).await?;
            println!("notice of group {id} posted");
        }
        GroupCommand::Rename { id, name } => {
            let g = http.update_group(id, &GroupUpdate { name: Some(name), ..Default::default() }).await?;
            println!("group {id} is now named {}", sanitize(&g.name));
        }
        GroupCommand::Nickname { id, nickname } => {
            http.set_group_nickname(id, &nickname).await?;
            println!("nickname in group {id} set");
        }
        GroupCommand::Join { id, message } => match http.join_group(id, message.as_deref()).await? {
            JoinOutcome::Joined => println!("joined group {id}"),
            JoinOutcome::Requested(r) => println!("asked to join group {id} (request #{})", r.id),
        },
        GroupCommand::Leave { id } => {
            http.leave_group(id).await?;
            println!("left group {id}");
        }
        GroupCommand::Dismiss { id } => {
            http.dismiss_group(id).await?;
            println!("dismissed group {id}");
        }
        GroupCommand::Requests { id, json } => {
            let requests: Vec<JoinRequest> =
                http.group_requests(id).await?.into_iter().filter(|r| r.status == RequestStatus::Pending).collect();
            names.resolve(requests.iter().flat_map(|r| std::iter::once(r.user_id).chain(r.inviter_id))).await?;
            for r in &requests {
                let inviter = r.inviter_id.map(|i| names.name(i));
                if json {
                    let v = json!({
                        "id": r.id, "group_id": r.group_id, "user": names.name(r.user_id), "user_id": r.user_id,
                        "inviter": inviter, "inviter_id": r.inviter_id, "message": r.message,
                        "status": r.status, "created_at": r.created_at,
                    });
                    println!("{v}");
                } else {
                    println!("{}", join_request_line(r, &names.name(r.user_id), inviter.as_deref()));
                }
            }
        }
        GroupCommand::Approve { id, user } => {
            let request = pending_join(&http, id, &user).await?;
            http.approve_join_request(request).await?;
            println!("approved {user} into group {id}");
        }
        GroupCommand::Reject { id, user } => {
            let request = pending_join(&http, id, &user).await?;
            http.reject_join_request(request).await?;
            println!("rejected {user}'s request to join group {id}");
        }
    }
    Ok(())
}

/// `5` or `g_5` → 5.
pub fn parse_group_id(s: &str) -> Result<i64, String> {
    let digits = s.trim().strip_prefix("g_").unwrap_or(s.trim());
    match digits.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("not a group id: {s:?} (expected a number like 5 or g_5)")),
    }
}

fn parse_join_policy(s: &str) -> Result<JoinPolicy, String> {
    s.parse().map_err(|_| format!("expected free, approval or invite_only, got {s:?}"))
}

/// The mentions of `text` sent to group `group_id`: `@all`, and `@name` for
/// every name that is a current member (other tokens are just text).
pub async fn resolve_mentions(http: &HttpApi, group_id: i64, text: &str) -> Result<Mentions> {
    let tokens = mention_names(text);
    if tokens.names.is_empty() {
        return Ok(Mentions { user_ids: Vec::new(), all: tokens.all });
    }
    let mut users = HashMap::new();
    for name in &tokens.names {
        match http.user_by_name(name).await {
            Ok(user) => {
                users.insert(name.clone(), user.id);
            }
            // An address, a word after '@': not a user, so not a mention.
            Err(e) if matches!(e.code(), Some(ErrorCode::NotFound | ErrorCode::InvalidArgument)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if users.is_empty() {
        return Ok(Mentions { user_ids: Vec::new(), all: tokens.all });
    }
    let members: HashSet<UserId> =
        http.all_members(group_id).await?.into_iter().filter(|m| !m.left).map(|m| m.user_id).collect();
    Ok(pick_mentions(&tokens, &users, &members))
}

/// The mentions among `tokens` whose name resolved (`users`) to a member.
fn pick_mentions(tokens: &MentionNames, users: &HashMap<String, UserId>, members: &HashSet<UserId>) -> Mentions {
    let mut user_ids: Vec<UserId> = Vec::new();
    for id in tokens.names.iter().filter_map(|n| users.get(n)) {
        if members.contains(id) && !user_ids.contains(id) {
            user_ids.push(*id);
        }
    }
    Mentions { user_ids, all: tokens.all }
}

/// The id of `user`'s pending request to join group `id`.
async fn pending_join(http: &HttpApi, id: i64, user: &str) -> Result<i64> {
    let uid = user_id(http, user).await?;
    let requests = http.group_requests(id).await?;
    match requests.iter().find(|r| r.user_id == uid && r.status == RequestStatus::Pending) {
        Some(r) => Ok(r.id),
        None => Err(not_found(format!("no pending request from {user} to join group {id}"))),
    }
}

/// A group as a JSON object: the API's fields plus the owner's username.
fn group_json(g: &Group, owner: &str) -> Value {
    let mut v = serde_json::to_value(g).unwrap_or_else(|_| json!({}));
    v["owner"] = json!(owner);
    v
}

/// `5 g_5 team (3 members)` — a line of `group list`.
fn group_line(g: &Group) -> String {
    let state = if g.dismissed { ", dismissed" } else { "" };
    format!("{} {} {} ({} members{state})", g.id, g.conversation_id, sanitize(&g.name), g.member_count)
}

/// The `group info` text.
fn info_text(g: &Group, owner: &str) -> String {
    let mut lines = vec![
        format!("group {} ({}): {}", g.id, g.conversation_id, sanitize(&g.name)),
        format!("owner: {owner}"),
        format!("members: {}", g.member_count),
        format!("join policy: {}", g.join_policy),
    ];
    if g.invite_needs_approval {
        lines.push("invitations need approval".into());
    }
    if !g.notice.is_empty() {
        lines.push(format!("notice: {}", sanitize(&g.notice)));
    }
    if !g.intro.is_empty() {
        lines.push(format!("intro: {}", sanitize(&g.intro)));
    }
    if g.mute_all {
        lines.push("muted: only the owner and admins may speak".into());
    }
    if g.dismissed {
        lines.push("dismissed".into());
    }
    lines.join("\n")
}

fn member_json(m: &Member, name: &str, now: i64) -> Value {
    json!({
        "user_id": m.user_id, "username": name, "role": m.role, "nickname": m.nickname,
        "muted": m.is_muted_at(now), "muted_until": m.muted_until, "joined_at": m.joined_at,
    })
}

/// `bob admin nickname="Bee" muted(9m left)` — a line of `group members`.
fn member_line(m: &Member, name: &str, now: i64) -> String {
    let mut line = format!("{name} {}", m.role);
    if !m.nickname.is_empty() {
        line.push_str(&format!(" nickname={:?}", m.nickname));
    }
    if m.is_muted_at(now) {
        let minutes = (m.muted_until - now + 59_999) / 60_000;
        line.push_str(&format!(" muted({minutes}m left)"));
    }
    line
}

/// `#9 carol (invited by bob): let me in` — a line of `group requests`.
fn join_request_line(r: &JoinRequest, user: &str, inviter: Option<&str>) -> String {
    let mut line = format!("#{} {user}", r.id);
    if let Some(inviter) = inviter {
        line.push_str(&format!(" (invited by {inviter})"));
    }
    if !r.message.is_empty() {
        line.push_str(&format!(": {}", sanitize(&r.message)));
    }
    line
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Group {
        serde_json::from_value(json!({
            "id": 5, "conversation_id": "g_5", "name": "team", "owner_id": 1, "join_policy": "approval",
            "member_count": 3, "notice": "be nice", "mute_all": true,
        }))
        .unwrap()
    }

    fn member(role: Role, nickname: &str, muted_until: i64) -> Member {
        Member {
            user_id: 2,
            role,
            nickname: nickname.into(),
            muted_until,
            joined_at: 0,
            join_seq: 0,
            version: 0,
            left: false,
        }
    }

    #[test]
    fn group_ids_parse_with_or_without_prefix() {
        assert_eq!(parse_group_id("5"), Ok(5));
        assert_eq!(parse_group_id("g_12"), Ok(12));
        assert!(parse_group_id("d_1_2").is_err());
        assert!(parse_group_id("0").is_err());
        assert!(parse_group_id("team").is_err());
        assert_eq!(parse_join_policy("invite_only"), Ok(JoinPolicy::InviteOnly));
        assert!(parse_join_policy("open").is_err());
    }

    #[test]
    fn mentions_keep_members_only() {
        let tokens = mention_names("@bob @carol @dave @bob @all");
        let users = HashMap::from([("bob".to_owned(), 2), ("carol".to_owned(), 3)]);
        let members = HashSet::from([1, 2]);
        assert_eq!(pick_mentions(&tokens, &users, &members), Mentions { user_ids: vec![2], all: true });
    }

    #[test]
    fn groups_render() {
        let g = group();
        assert_eq!(group_line(&g), "5 g_5 team (3 members)");
        let info = info_text(&g, "alice");
        assert!(info.starts_with("group 5 (g_5): team\nowner: alice\nmembers: 3\njoin policy: approval"));
        assert!(info.contains("notice: be nice") && info.contains("muted: only the owner"));
        let v = group_json(&g, "alice");
        assert_eq!((v["id"].as_i64(), v["conversation_id"].as_str()), (Some(5), Some("g_5")));
        assert_eq!((v["name"].as_str(), v["owner"].as_str()), (Some("team"), Some("alice")));
    }

    #[test]
    fn members_render() {
        assert_eq!(member_line(&member(Role::Owner, "", 0), "alice", 1000), "alice owner");
        let muted = member(Role::Member, "Bee", 1000 + 9 * 60_000 + 1);
        assert_eq!(member_line(&muted, "bob", 1000), "bob member nickname=\"Bee\" muted(10m left)");
        let v = member_json(&muted, "bob", 1000);
        assert_eq!(
            (v["username"].as_str(), v["role"].as_str(), v["muted"].as_bool()),
            (Some("bob"), Some("member"), Some(true))
        );
        assert_eq!(v["nickname"], "Bee");
        let r: JoinRequest = serde_json::from_value(json!({
            "id": 9, "group_id": 5, "user_id": 3, "inviter_id": 2, "message": "hi", "status": "pending",
        }))
        .unwrap();
        assert_eq!(join_request_line(&r, "carol", Some("bob")), "#9 carol (invited by bob): hi");
    }
}
