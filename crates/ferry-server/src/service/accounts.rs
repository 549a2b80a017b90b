//! Accounts, passwords, device sessions and login rate limits.
//!
//! Passwords are hashed with argon2id; session tokens are 256 random bits
//! handed to the client once and stored only as their SHA-256.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::Engine as _;
use ferry_core::{ApiError, ErrorCode, UserId, validate};
use ferry_store::{NewUser, Session, Store, StoreError, User};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use super::{caches::Caches, hashing::HashPool, now_ms};
use crate::{
    bus::{Bus, Invalidation, Sessions},
    config::{AuthConfig, DevicePolicy},
    error::store_error,
};

/// Most user ids one lookup may name.
pub const MAX_LOOKUP_IDS: usize = 500;

/// A successfully authenticated device session.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: Arc<User>,
    pub session: Arc<Session>,
    /// The session cache ticket it was read under: a long connection checks
    /// it after registering, so a logout that raced with the handshake wins.
    ticket: u64,
}

/// What a login returns to the client.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// The bearer token, shown once.
    pub token: String,
    pub session: Session,
    pub user: User,
}

/// Registration, login, logout and token authentication.
pub struct Accounts {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    caches: Arc<Caches>,
    config: AuthConfig,
    min_password_chars: u32,
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when the username does
    /// not exist so that timing does not reveal which usernames exist.
    dummy_hash: String,
    per_user: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    register_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    /// Where argon2 runs (bounded threads and queue).
    hashing: HashPool,
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        caches: Arc<Caches>,
        config: AuthConfig,
        min_password_chars: u32,
    ) -> Result<Self, String> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon2
            .hash_password(random_token().as_bytes(), &SaltString::generate(&mut OsRng))
            .map_err(|e| format!("argon2: {e}"))?
            .to_string();
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Ok(Self {
            per_user: RateLimiter::keyed(per_minute(config.login_per_username_per_minute)),
            per_ip: RateLimiter::keyed(per_minute(config.login_per_ip_per_minute)),
            register_per_ip: RateLimiter::keyed(per_minute(config.register_per_ip_per_minute)),
            hashing: HashPool::new(config.hash_threads, config.hash_queue)
                .map_err(|e| format!("starting the password hashing threads: {e}"))?,
            store,
            bus,
            caches,
            config,
            min_password_chars,
            argon2,
            dummy_hash,
        })
    }

    /// Creates an account.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        ip: IpAddr,
    ) -> Result<User, ApiError> {
        self.check_rate(&self.register_per_ip, &ip)?;
        let username = validate::username(username)?;
        validate::password(password, &username, self.min_password_chars)?;
        let display_name = match display_name.map(str::trim) {
            Some(d) if d.chars().count() > 64 => {
                return Err(ApiError::invalid("display_name must be at most 64 characters"));
            }
            Some(d) if !d.is_empty() => d.to_owned(),
            _ => username.clone(),
        };
        if self.store.user_by_name(&username).await.map_err(store_error)?.is_some() {
            return Err(taken(&username));
        }
        let password_hash = self.hash(password.to_owned()).await?;
        let new = NewUser { username: username.clone(), display_name, password_hash, created_at: now_ms() };
        match self.store.create_user(new).await {
            Ok(user) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(taken(&username)),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Verifies credentials and opens a session for a (new or given) device.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        platform: &str,
        device_id: Option<&str>,
        ip: IpAddr,
    ) -> Result<LoginOutcome, ApiError> {
        self.check_rate(&self.per_ip, &ip)?;
        let username = validate::username(username).map_err(|_| invalid_credentials())?;
        self.check_rate(&self.per_user, &username)?;
        let platform = validate::platform(platform)?;
        let (device_id, known_device) = match device_id {
            Some(d) if valid_device_id(d) => (d.to_owned(), true),
            Some(_) => return Err(ApiError::invalid("device_id must be 8-64 characters of letters, digits or '-'")),
            None => (random_device_id(), false),
        };
        let user = self.store.user_by_name(&username).await.map_err(store_error)?;
        let hash = user.as_ref().map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = self.verify(password.to_owned(), hash).await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            Some(u) if ok && u.disabled => return Err(ApiError::forbidden("this account is disabled")),
            _ => return Err(invalid_credentials()),
        };

        // Replace this device's earlier session, and under the one-per-platform
        // policy every session on the same platform; kick their connections.
        // A device id minted just now (96 random bits) has no earlier session.
        let mut replaced = if known_device {
            self.store.delete_device_sessions(user.id, &device_id).await.map_err(store_error)?
        } else {
            Vec::new()
        };
        if self.config.device_policy == DevicePolicy::OnePerPlatform {
            replaced.extend(self.store.delete_platform_sessions(user.id, &platform).await.map_err(store_error)?);
        }
        for old in replaced {
            self.revoked(user.id, old.token_hash, "replaced");
        }

        let token = random_token();
        let session =
            Session { token_hash: hash_token(&token), user_id: user.id, device_id, platform, created_at: now_ms() };
        self.store.create_session(session.clone()).await.map_err(store_error)?;
        tracing::info!(user_id = user.id, device = %session.device_id, platform = %session.platform, "login");
        Ok(LoginOutcome { token, session, user })
    }

    /// Revokes a token and closes the connections using it.
    pub async fn logout(&self, authed: &Authed) -> Result<(), ApiError> {
        self.store.delete_session(&authed.session.token_hash).await.map_err(store_error)?;
        self.revoked(authed.user.id, authed.session.token_hash.clone(), "logout");
        Ok(())
    }

    /// After a session was deleted from the store: forget it everywhere and
    /// close its connections.
    fn revoked(&self, user: UserId, token_hash: Vec<u8>, reason: &'static str) {
        self.bus.invalidate(Invalidation::Session(token_hash.clone()));
        self.bus.kick(user, Sessions::Token(token_hash), reason);
    }

    /// Resolves a bearer token to its session and user (from the caches;
    /// the store on a miss).
    pub async fn authenticate(&self, token: &str) -> Result<Authed, ApiError> {
        if token.is_empty() || token.len() > 128 {
            return Err(ApiError::unauthenticated());
        }
        let hash = hash_token(token);
        let (session, ticket) = self.caches.session(&hash).await?.ok_or_else(ApiError::unauthenticated)?;
        let user = self.caches.user(session.user_id).await?.ok_or_else(ApiError::unauthenticated)?;
        if user.disabled {
            return Err(ApiError::forbidden("this account is disabled"));
        }
        Ok(Authed { user, session, ticket })
    }

    /// Whether `authed` is still valid: true unless its session was revoked
    /// after it was read (checked against the store when in doubt).
    pub async fn still_valid(&self, authed: &Authed) -> Result<bool, ApiError> {
        let hash = &authed.session.token_hash;
        if !self.caches.session_revoked_since(hash, authed.ticket) {
            return Ok(true);
        }
        Ok(self.store.session_by_token_hash(hash).await.map_err(store_error)?.is_some())
    }

    /// A user by id, for profile lookups (from the cache).
    pub async fn user(&self, id: UserId) -> Result<Arc<User>, ApiError> {
        self.caches.user(id).await?.ok_or_else(|| ApiError::not_found(format!("no user {id}")))
    }

    /// A user by username; `not_found` for names that cannot exist too.
    pub async fn user_by_name(&self, name: &str) -> Result<User, ApiError> {
        user_by_name(&*self.store, name).await
    }

    /// The users among `ids` that exist (at most [`MAX_LOOKUP_IDS`]).
    pub async fn users(&self, ids: &[UserId]) -> Result<Vec<User>, ApiError> {
        if ids.len() > MAX_LOOKUP_IDS {
            return Err(ApiError::invalid(format!("at most {MAX_LOOKUP_IDS} ids")));
        }
        self.store.users_by_ids(ids).await.map_err(store_error)
    }

    fn check_rate<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            ApiError::rate_limited(wait.as_millis().max(1) as u64)
        })
    }

    /// Drops rate-limit state of keys that have been quiet (called periodically).
    pub fn forget_idle_rate_limits(&self) {
        self.per_user.retain_recent();
        self.per_ip.retain_recent();
        self.register_per_ip.retain_recent();
    }

    async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        self.hashing
            .run(move || {
                argon2.hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng)).map(|h| h.to_string())
            })
            .await?
            .map_err(|e| internal("argon2 hash", &e))
    }

    async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        let argon2 = self.argon2.clone();
        self.hashing
            .run(move || {
                let parsed = PasswordHash::new(&hash)?;
                Ok::<_, argon2::password_hash::Error>(argon2.verify_password(password.as_bytes(), &parsed).is_ok())
            })
            .await?
            .map_err(|e| internal("stored password hash", &e))
    }

    /// Hashing requests refused because the pool's queue was full.
    pub fn hashes_refused(&self) -> u64 {
        self.hashing.refused()
    }
}

fn internal(what: &str, e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what} failed");
    ApiError::internal()
}

/// A user by username (shared by the services that take usernames);
/// `not_found` for names that cannot exist too.
pub(super) async fn user_by_name(store: &dyn Store, name: &str) -> Result<User, ApiError> {
    let not_found = || ApiError::not_found(format!("no user {name}"));
    let username = validate::username(name).map_err(|_| not_found())?;
    store.user_by_name(&username).await.map_err(store_error)?.ok_or_else(not_found)
}

fn taken(username: &str) -> ApiError {
    ApiError::new(ErrorCode::UsernameTaken, format!("username {username} is taken"))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password")
}

/// SHA-256 of a token: what the store keeps.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn random_device_id() -> String {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_device_id(d: &str) -> bool {
    (8..=64).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_device_ids_are_random_and_well_formed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_token(&a).len(), 32);
        assert_ne!(hash_token(&a), hash_token(&b));
        let d = random_device_id();
        assert!(valid_device_id(&d), "{d}");
        assert!(!valid_device_id("short") && !valid_device_id("has space in it"));
    }
}
