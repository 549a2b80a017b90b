//! The commands, one module each, and what they share: resolving the server
//! and the profile, connecting, and turning user ids into names.

pub mod account;
pub mod chat;
pub mod contacts;
pub mod group;
pub mod send;
pub mod sync;

use std::collections::HashMap;

use anyhow::Result;
use ferry_client::{Client, ClientConfig, ClientError, EventReceiver, HttpApi};
use ferry_core::{ApiError, UserId};

use crate::{
    output,
    profile::{Profile, ProfileStore},
};

/// Where the server is when neither `--server` nor the profile says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The platform this client logs in as.
pub const PLATFORM: &str = "cli";

/// Global options every command sees.
#[derive(Debug)]
pub struct Ctx {
    /// `--server` / `FERRY_SERVER`, if given.
    pub server: Option<String>,
    /// Profile name.
    pub profile: String,
    /// Where profiles are saved.
    pub store: ProfileStore,
}

impl Ctx {
    /// The server for a new login: the flag, else the default.
    pub fn login_server(&self) -> String {
        self.server.clone().unwrap_or_else(|| DEFAULT_SERVER.to_owned())
    }

    /// The logged-in profile and an HTTP client carrying its token. The
    /// server is the flag if given, else the one the profile logged in to.
    pub fn session(&self) -> Result<(Profile, HttpApi)> {
        let profile = self.store.load_logged_in(&self.profile)?;
        let server = self.server.clone().unwrap_or_else(|| profile.server.clone());
        let http = HttpApi::new(server)?.with_token(profile.token()?);
        Ok((profile, http))
    }

    /// Saves the profile under the current name.
    pub fn save(&self, profile: &Profile) -> Result<()> {
        self.store.save(&self.profile, profile)
    }
}

/// Opens the long connection (WebSocket next to the HTTP server), resuming
/// from the profile's saved seqs.
pub async fn connect(http: &HttpApi, profile: &Profile) -> Result<(Client, EventReceiver)> {
    let mut config = ClientConfig::new(output::ws_url(http.base_url())?, profile.token()?);
    config.known_seqs = profile.seqs();
    Ok(Client::connect(config).await?)
}

/// A `not_found` error found on the client side (e.g. no pending request
/// from that user), reported like the server's own.
pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    ClientError::Api(ApiError::not_found(message)).into()
}

/// User id → username, looked up over HTTP once per id.
#[derive(Debug)]
pub struct Names {
    http: HttpApi,
    cache: HashMap<UserId, String>,
}

impl Names {
    /// An empty cache over `http`.
    pub fn new(http: HttpApi) -> Self {
        Self { http, cache: HashMap::new() }
    }

    /// Remembers a known name.
    pub fn insert(&mut self, id: UserId, name: impl Into<String>) {
        self.cache.insert(id, name.into());
    }

    /// Looks up every id not cached yet, in one call per 500 ids.
    pub async fn resolve(&mut self, ids: impl IntoIterator<Item = UserId>) -> Result<()> {
        let mut missing: Vec<UserId> = ids.into_iter().filter(|id| !self.cache.contains_key(id)).collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            for user in self.http.users(&missing).await? {
                self.cache.insert(user.id, user.username);
            }
        }
        Ok(())
    }

    /// The username of `id` (`#id` if unknown).
    pub fn name(&self, id: UserId) -> String {
        self.cache.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
    }
}
