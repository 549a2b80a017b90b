//! `friend …`, `block USER`, `unblock USER`: friends, friend requests and
//! blocks, by username.

use anyhow::Result;
use clap::Subcommand;
use ferry_client::{FriendRequest, HttpApi, RequestStatus, UserRef};
use ferry_core::UserId;
use serde_json::json;

use super::{Ctx, Names, not_found};
use crate::output::sanitize;

/// `ferry friend …`
#[derive(Debug, Subcommand)]
pub enum FriendCommand {
    /// Ask USER to be friends (accepts their request if they already asked).
    Add {
        /// Username.
        user: String,
        /// A note for them.
        #[arg(long)]
        greeting: Option<String>,
    },
    /// Accept USER's pending friend request.
    Accept {
        /// Who asked.
        user: String,
    },
    /// Decline USER's pending friend request.
    Decline {
        /// Who asked.
        user: String,
    },
    /// Stop being friends with USER.
    Remove {
        /// Username.
        user: String,
    },
    /// List your friends (username, remark).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// List friend requests you sent and received, newest first.
    Requests {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Set your private name for friend USER ("" clears it).
    Remark {
        /// Username.
        user: String,
        /// The remark.
        text: String,
    },
}

/// Runs one `friend` subcommand.
pub async fn friend(ctx: &Ctx, cmd: FriendCommand) -> Result<()> {
    let (profile, http) = ctx.session()?;
    let me = profile.user_id;
    match cmd {
        FriendCommand::Add { user, greeting } => {
            let request = http.send_friend_request(UserRef::Name(&user), greeting.as_deref()).await?;
            match request.status {
                RequestStatus::Accepted => println!("you and {user} are now friends"),
                _ => println!("friend request sent to {user}"),
            }
        }
        FriendCommand::Accept { user } => {
            let from = user_id(&http, &user).await?;
            let request = pending_from(&http.friend_requests().await?, from, me, &user)?;
            http.accept_friend_request(request).await?;
            println!("you and {user} are now friends");
        }
        FriendCommand::Decline { user } => {
            let from = user_id(&http, &user).await?;
            let request = pending_from(&http.friend_requests().await?, from, me, &user)?;
            http.decline_friend_request(request).await?;
            println!("declined {user}'s friend request");
        }
        FriendCommand::Remove { user } => {
            http.remove_friend(user_id(&http, &user).await?).await?;
            println!("removed {user} from your friends");
        }
        FriendCommand::List { json } => {
            let friends = http.friends().await?;
            let mut names = Names::new(http);
            names.resolve(friends.iter().map(|f| f.user_id)).await?;
            let mut rows: Vec<_> = friends.iter().filter(|f| !f.deleted).map(|f| (names.name(f.user_id), f)).collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, f) in rows {
                if json {
                    let v = json!({"username": name, "user_id": f.user_id, "remark": f.remark, "since": f.created_at});
                    println!("{v}");
                } else if f.remark.is_empty() {
                    println!("{name}");
                } else {
                    println!("{name} ({})", sanitize(&f.remark));
                }
            }
        }
        FriendCommand::Requests { json } => {
            let requests = http.friend_requests().await?;
            let mut names = Names::new(http);
            names.insert(me, profile.username.clone());
            names.resolve(requests.iter().flat_map(|r| [r.from_user_id, r.to_user_id])).await?;
            for r in &requests {
                let (from, to) = (names.name(r.from_user_id), names.name(r.to_user_id));
                if json {
                    let v = json!({
                        "id": r.id,
                        "direction": if r.to_user_id == me { "incoming" } else { "outgoing" },
                        "from": from, "from_id": r.from_user_id,
                        "to": to, "to_id": r.to_user_id,
                        "greeting": r.greeting, "status": r.status, "created_at": r.created_at,
                    });
                    println!("{v}");
                } else {
                    println!("{}", request_line(r, me, &from, &to));
                }
            }
        }
        FriendCommand::Remark { user, text } => {
            http.set_remark(user_id(&http, &user).await?, &text).await?;
            println!("remark for {user} set");
        }
    }
    Ok(())
}

/// `block USER`
pub async fn block(ctx: &Ctx, user: &str) -> Result<()> {
    let (_, http) = ctx.session()?;
    http.block(user_id(&http, user).await?).await?;
    println!("blocked {user}");
    Ok(())
}

/// `unblock USER`
pub async fn unblock(ctx: &Ctx, user: &str) -> Result<()> {
    let (_, http) = ctx.session()?;
    http.unblock(user_id(&http, user).await?).await?;
    println!("unblocked {user}");
    Ok(())
}

/// The id of the user named `name` (`not_found` if none).
pub async fn user_id(http: &HttpApi, name: &str) -> Result<UserId> {
    Ok(http.user_by_name(name).await?.id)
}

/// The id of `from`'s pending request to `me`.
fn pending_from(requests: &[FriendRequest], from: UserId, me: UserId, name: &str) -> Result<i64> {
    match requests.iter().find(|r| r.from_user_id == from && r.to_user_id == me && r.status == RequestStatus::Pending) {
        Some(r) => Ok(r.id),
        None => Err(not_found(format!("no pending friend request from {name}"))),
    }
}

/// `#7 from alice [pending]: hi there` / `#8 to bob [accepted]`.
fn request_line(r: &FriendRequest, me: UserId, from: &str, to: &str) -> String {
    let status = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let who = if r.to_user_id == me { format!("from {from}") } else { format!("to {to}") };
    let greeting = if r.greeting.is_empty() { String::new() } else { format!(": {}", sanitize(&r.greeting)) };
    format!("#{} {who} [{status}]{greeting}", r.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: i64, from: UserId, to: UserId, status: RequestStatus) -> FriendRequest {
        FriendRequest {
            id,
            from_user_id: from,
            to_user_id: to,
            greeting: String::new(),
            status,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_pending_request_from_a_user_is_found() {
        let list = [
            request(1, 2, 1, RequestStatus::Declined),
            request(2, 1, 2, RequestStatus::Pending),
            request(3, 2, 1, RequestStatus::Pending),
        ];
        assert_eq!(pending_from(&list, 2, 1, "bob").unwrap(), 3);
        let err = pending_from(&list[..2], 2, 1, "bob").unwrap_err();
        assert_eq!(crate::describe(&err), "not_found: no pending friend request from bob");
    }

    #[test]
    fn requests_render_with_direction() {
        let mut r = request(7, 2, 1, RequestStatus::Pending);
        r.greeting = "hi\n".into();
        assert_eq!(request_line(&r, 1, "bob", "alice"), "#7 from bob [pending]: hi\\n");
        let r = request(8, 1, 3, RequestStatus::Accepted);
        assert_eq!(request_line(&r, 1, "alice", "carol"), "#8 to carol [accepted]");
    }
}
