//! Contacts: profiles, user search, friend requests, friends with remarks,
//! the blocklist, and the versioned incremental sync of all of them.
//!
//! Every change pushes `changed{domain:"contacts", version}` to every device
//! of every user whose contacts changed; a device that was offline catches up
//! with `contact_changes(since)`.

use std::sync::Arc;

use ferry_core::{ApiError, ErrorCode, UserId, validate};
use ferry_store::{Block, ContactChanges, Friend, FriendRequest, ProfilePatch, RequestStatus, Store, StoreError, User};

use super::{check_avatar, check_len, notify::Notifier, now_ms};
use crate::{
    bus::{Bus, Invalidation},
    error::store_error,
};

/// Whom a friend request goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addressee {
    Id(UserId),
    Username(String),
}

pub struct Contacts {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    notifier: Arc<Notifier>,
}

impl Contacts {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, notifier: Arc<Notifier>) -> Self {
        Self { store, bus, notifier }
    }

    /// Tells every device of `users` that their contacts changed.
    async fn notify(&self, users: &[UserId]) {
        self.notifier.contacts(users).await;
    }

    fn friends_changed(&self, a: UserId, b: UserId) {
        self.bus.invalidate(Invalidation::Friends(a));
        self.bus.invalidate(Invalidation::Friends(b));
    }

    async fn existing_user(&self, id: UserId) -> Result<User, ApiError> {
        self.store
            .user_by_id(id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
    }

    /// Updates the caller's profile. An avatar is empty, a URL, or an image
    /// file the caller uploaded ([`check_avatar`]).
    pub async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<User, ApiError> {
        if let Some(d) = &patch.display_name {
            if d.trim().is_empty() {
                return Err(ApiError::invalid("display_name must not be empty"));
            }
            check_len("display_name", d, 64)?;
        }
        check_len("bio", patch.bio.as_deref().unwrap_or(""), 256)?;
        if let Some(avatar) = patch.avatar.as_deref().filter(|a| !a.is_empty()) {
            let current = self.existing_user(user).await?.avatar;
            check_avatar(&*self.store, user, avatar, &current).await?;
        }
        let patch = ProfilePatch { display_name: patch.display_name.map(|d| d.trim().to_owned()), ..patch };
        let updated = self.store.update_profile(user, patch).await.map_err(store_error)?;
        self.bus.invalidate(Invalidation::User(user));
        Ok(updated)
    }

    /// Finds users by exact username or numeric id.
    pub async fn search(&self, query: &str) -> Result<Vec<User>, ApiError> {
        let query = query.trim();
        let mut found = Vec::new();
        if let Ok(id) = query.parse::<UserId>() {
            found.extend(self.store.user_by_id(id).await.map_err(store_error)?);
        }
        if let Ok(name) = validate::username(query)
            && let Some(u) = self.store.user_by_name(&name).await.map_err(store_error)?
            && !found.iter().any(|f: &User| f.id == u.id)
        {
            found.push(u);
        }
        Ok(found)
    }

    /// Sends a friend request to a user named by id or username (or accepts
    /// their pending one).
    pub async fn request_to(&self, from: UserId, to: Addressee, greeting: &str) -> Result<FriendRequest, ApiError> {
        let to = match to {
            Addressee::Id(id) => id,
            Addressee::Username(name) => super::accounts::user_by_name(&*self.store, &name).await?.id,
        };
        self.request(from, to, greeting).await
    }

    /// Sends a friend request (or accepts the other side's pending one).
    pub async fn request(&self, from: UserId, to: UserId, greeting: &str) -> Result<FriendRequest, ApiError> {
        check_len("greeting", greeting, 256)?;
        if from == to {
            return Err(ApiError::invalid("you cannot befriend yourself"));
        }
        self.existing_user(to).await?;
        if self.store.is_blocked(to, from).await.map_err(store_error)? {
            return Err(ApiError::new(ErrorCode::Blocked, "this user does not accept your requests"));
        }
        if self.store.is_friend(from, to).await.map_err(store_error)? {
            return Err(ApiError::new(ErrorCode::Conflict, "you are already friends"));
        }
        // If they already asked us, the store accepts their request instead.
        let request = match self.store.upsert_friend_request(from, to, greeting, now_ms()).await {
            Ok(r) => r,
            Err(StoreError::Conflict(_)) => return Err(ApiError::new(ErrorCode::Conflict, "you are already friends")),
            Err(e) => return Err(store_error(e)),
        };
        if request.status == RequestStatus::Accepted {
            self.friends_changed(from, to);
        }
        self.notify(&[from, to]).await;
        Ok(request)
    }

    /// Accepts or declines a request addressed to `user`.
    pub async fn respond(&self, user: UserId, request_id: i64, accept: bool) -> Result<FriendRequest, ApiError> {
        let request = self
            .store
            .friend_request(request_id)
            .await
            .map_err(store_error)?
            .filter(|r| r.to == user)
            .ok_or_else(|| ApiError::not_found(format!("no friend request {request_id} to you")))?;
        if request.status != RequestStatus::Pending {
            return Err(ApiError::new(ErrorCode::Conflict, "the request was already handled"));
        }
        let resolved = self.store.resolve_friend_request(request_id, accept, now_ms()).await.map_err(store_error)?;
        if accept {
            self.friends_changed(request.from, request.to);
        }
        self.notify(&[request.from, request.to]).await;
        Ok(resolved)
    }

    pub async fn requests(&self, user: UserId) -> Result<Vec<FriendRequest>, ApiError> {
        self.store.friend_requests_of(user).await.map_err(store_error)
    }

    pub async fn friends(&self, user: UserId) -> Result<Vec<Friend>, ApiError> {
        self.store.friends_of(user).await.map_err(store_error)
    }

    /// Ends a friendship (both sides).
    pub async fn remove(&self, user: UserId, friend: UserId) -> Result<(), ApiError> {
        if !self.store.delete_friend(user, friend, now_ms()).await.map_err(store_error)? {
            return Err(ApiError::not_found(format!("user {friend} is not your friend")));
        }
        self.friends_changed(user, friend);
        self.notify(&[user, friend]).await;
        Ok(())
    }

    /// Sets the private alias for a friend.
    pub async fn set_remark(&self, user: UserId, friend: UserId, remark: &str) -> Result<Friend, ApiError> {
        check_len("remark", remark, 64)?;
        let f = self.store.set_remark(user, friend, remark.trim()).await.map_err(|e| match e {
            StoreError::NotFound(_) => ApiError::not_found(format!("user {friend} is not your friend")),
            other => store_error(other),
        })?;
        self.notify(&[user]).await;
        Ok(f)
    }

    pub async fn block(&self, user: UserId, target: UserId) -> Result<Block, ApiError> {
        if user == target {
            return Err(ApiError::invalid("you cannot block yourself"));
        }
        self.existing_user(target).await?;
        let b = self.store.block(user, target, now_ms()).await.map_err(store_error)?;
        self.bus.invalidate(Invalidation::Blocks(user));
        self.notify(&[user]).await;
        Ok(b)
    }

    pub async fn unblock(&self, user: UserId, target: UserId) -> Result<(), ApiError> {
        if !self.store.unblock(user, target, now_ms()).await.map_err(store_error)? {
            return Err(ApiError::not_found(format!("user {target} is not blocked")));
        }
        self.bus.invalidate(Invalidation::Blocks(user));
        self.notify(&[user]).await;
        Ok(())
    }

    pub async fn blocks(&self, user: UserId) -> Result<Vec<Block>, ApiError> {
        self.store.blocks_of(user).await.map_err(store_error)
    }

    pub async fn changes(&self, user: UserId, since: u64) -> Result<ContactChanges, ApiError> {
        self.store.contact_changes(user, since).await.map_err(store_error)
    }
}
