//! The commands, one module each, and what they share: resolving the server
//! and the profile, connecting, and turning user ids into names.

pub mod account;
pub mod calls;
pub mod chat;
pub mod contacts;
pub mod conversations;
pub mod files;
pub mod forward;
pub mod group;
pub mod hide;
pub mod ops;
pub mod search;
pub mod send;
pub mod sync;

/// Command-line words from string literals (for the argument parsers' tests).
#[cfg(test)]
pub fn test_args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

use std::collections::HashMap;

use anyhow::{Result, bail};
use ferry_client::{Client, ClientConfig, ClientError, EventReceiver, HttpApi};
use ferry_core::{ApiError, ConversationId, UserId};

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

/// The conversation a command names: `--group ID`, or a first argument
/// that is a username or a conversation id (`d_1_2`, `g_5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation<'a> {
    /// The direct conversation with this user.
    User(&'a str),
    /// A conversation by id.
    Id(ConversationId),
}

impl<'a> Conversation<'a> {
    /// Reads a conversation argument. Conversation ids win: a username that
    /// looks like one (`d_1_2` is a valid username) can still be reached by
    /// its id.
    pub fn parse(arg: &'a str) -> Self {
        arg.parse().map_or(Self::User(arg), Self::Id)
    }

    /// Splits a command's positional arguments: with `--group ID` they are
    /// all the rest, otherwise the first names the conversation.
    pub fn split(group: Option<i64>, args: &'a [String]) -> Result<(Self, &'a [String])> {
        match (group, args) {
            (Some(id), rest) => Ok((Self::Id(ConversationId::Group(id)), rest)),
            (None, [first, rest @ ..]) => Ok((Self::parse(first), rest)),
            (None, []) => bail!("name a user, a conversation id or --group ID"),
        }
    }

    /// Reads the conversation of a command that names nothing else: `--group
    /// ID` or one conversation argument, not both; `usage` is the error
    /// otherwise.
    pub fn pick(group: Option<i64>, conversation: Option<&'a str>, usage: &str) -> Result<Self> {
        match (group, conversation) {
            (Some(id), None) => Ok(Self::Id(ConversationId::Group(id))),
            (None, Some(c)) => Ok(Self::parse(c)),
            _ => bail!("usage: {usage}"),
        }
    }

    /// The conversation id, looking the user up for a direct conversation
    /// with `me`.
    pub async fn resolve(self, http: &HttpApi, me: UserId) -> Result<ConversationId> {
        match self {
            Self::User(name) => Ok(ConversationId::direct(me, http.user_by_name(name).await?.id)),
            Self::Id(id) => Ok(id),
        }
    }
}

/// Reads a message's seq as `ferry sync` shows it: `3`, or `#3` when quoted
/// past the shell.
pub fn parse_seq(seq: &str) -> Result<u64> {
    match seq.strip_prefix('#').unwrap_or(seq).parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("SEQ must be a message's number in its conversation (as `ferry sync` shows it), got {seq:?}"),
    }
}

/// Reads a comma-separated list of seqs (`3,4,#5`), sorted and without
/// repeats.
pub fn parse_seqs(list: &str) -> Result<Vec<u64>> {
    let mut seqs = list.split(',').map(|s| parse_seq(s.trim())).collect::<Result<Vec<u64>>>()?;
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversations_are_users_or_ids() {
        assert_eq!(Conversation::parse("bob"), Conversation::User("bob"));
        assert_eq!(Conversation::parse("d_1_2"), Conversation::Id(ConversationId::direct(2, 1)));
        assert_eq!(Conversation::parse("g_5"), Conversation::Id(ConversationId::Group(5)));
        // Not well-formed ids are usernames.
        assert_eq!(Conversation::parse("d_2_1"), Conversation::User("d_2_1"));
        assert_eq!(Conversation::parse("g_x"), Conversation::User("g_x"));

        let args: Vec<String> = ["bob", "3"].map(String::from).to_vec();
        let (c, rest) = Conversation::split(None, &args).unwrap();
        assert_eq!((c, rest), (Conversation::User("bob"), &args[1..]));
        let (c, rest) = Conversation::split(Some(5), &args[1..]).unwrap();
        assert_eq!((c, rest), (Conversation::Id(ConversationId::Group(5)), &args[1..]));
        assert!(Conversation::split(None, &[]).is_err());

        assert_eq!(Conversation::pick(None, Some("bob"), "u").unwrap(), Conversation::User("bob"));
        assert_eq!(Conversation::pick(Some(5), None, "u").unwrap(), Conversation::Id(ConversationId::Group(5)));
        assert_eq!(
            Conversation::pick(Some(5), Some("bob"), "ferry mute USER").unwrap_err().to_string(),
            "usage: ferry mute USER"
        );
        assert!(Conversation::pick(None, None, "u").is_err());
    }

    #[test]
    fn seqs_are_numbers_as_sync_shows_them() {
        assert_eq!(parse_seq("3").unwrap(), 3);
        assert_eq!(parse_seq("#3").unwrap(), 3);
        for bad in ["", "0", "x", "-1", "#", "3.5"] {
            assert!(parse_seq(bad).unwrap_err().to_string().starts_with("SEQ must be"), "{bad:?}");
        }
        assert_eq!(parse_seqs("5,#3, 4,3").unwrap(), [3, 4, 5]);
        assert_eq!(parse_seqs("7").unwrap(), [7]);
        assert!(parse_seqs("3,,4").is_err());
        assert!(parse_seqs("3,x").is_err());
    }
}
