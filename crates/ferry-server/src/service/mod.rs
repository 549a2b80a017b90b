//! Domain services: plain async Rust over the [`ferry_store::Store`] traits.
//! They know nothing of sockets or HTTP; the gateway and the HTTP routes call
//! them and map their [`ferry_core::ApiError`]s to the wire. They reach
//! sessions and caches only through the [`Bus`](crate::bus::Bus).
//!
//! The message path: [`messaging`] admits a send ([`content`] validates it),
//! [`writer`] commits it in a batch and acks, [`fanout`] pushes it.

pub mod accounts;
pub mod caches;
pub mod calls;
pub mod contacts;
pub mod content;
pub mod fanout;
pub mod groups;
pub mod hashing;
pub mod health;
pub mod ice;
pub mod messaging;
pub mod notify;
pub mod presence;
pub mod writer;

use ferry_core::{
    ApiError, UserId,
    group::GroupFacts,
    validate::{self, Avatar, AvatarFile},
};
use ferry_store::{Group, Store};

use crate::error::store_error;

/// Refuses a free-text field longer than `max` characters.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), ferry_core::ApiError> {
    if value.chars().count() > max {
        return Err(ferry_core::ApiError::invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Checks an avatar `setter` gives a profile or a group, whose avatar is
/// `current`: empty, a URL, or the id of an image file `setter` uploaded
/// (`ferry_core::validate::avatar`, `avatar_file`); a file named as an
/// avatar becomes readable by every user (`FileStore::readable_file`).
/// Setting the current value again changes nothing and is not checked
/// (an admin saving a group's settings keeps the avatar another admin set).
pub async fn check_avatar(store: &dyn Store, setter: UserId, value: &str, current: &str) -> Result<(), ApiError> {
    if value == current {
        return Ok(());
    }
    match validate::avatar(value)? {
        Avatar::None | Avatar::Url => Ok(()),
        Avatar::File(id) => {
            let file = store.file(id).await.map_err(store_error)?;
            let facts =
                file.as_ref().map(|f| AvatarFile { owner: f.owner, mime: &f.mime, width: f.width, height: f.height });
            validate::avatar_file(setter, facts)
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The group facts the permission rules take.
pub fn group_facts(g: &Group) -> GroupFacts {
    GroupFacts {
        dismissed: g.dismissed,
        mute_all: g.mute_all,
        join_policy: g.join_policy,
        invite_needs_approval: g.invite_needs_approval,
    }
}
