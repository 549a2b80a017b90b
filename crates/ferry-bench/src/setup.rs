//! Accounts and groups a workload needs, created over HTTP and cached in a
//! state file keyed by server URL, so later runs reuse them (registering
//! thousands of users costs argon2 work; connecting with a token does not).

use std::{collections::BTreeMap, path::Path, time::Duration};

use anyhow::Context as _;
use ferry_client::{ClientError, HttpApi, NewGroup};
use futures_util::{StreamExt as _, stream};
use serde::{Deserialize, Serialize};

/// The password of every bench account.
pub const PASSWORD: &str = "ferry-bench password";
/// HTTP requests in flight during setup.
const CONCURRENCY: usize = 64;

/// Accounts and groups per server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    pub servers: BTreeMap<String, ServerState>,
}

/// What exists on one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerState {
    /// Username prefix of this server's bench accounts.
    pub prefix: String,
    pub users: Vec<BenchUser>,
    /// Groups by purpose key (e.g. `fanout-100-0`).
    pub groups: BTreeMap<String, BenchGroup>,
    /// What a workload set up for itself beyond the shared users and groups
    /// (e.g. `conversations`: an owner account of its own and the messages
    /// that gave it its conversations), by key, in the workload's own shape.
    #[serde(default)]
    pub extras: BTreeMap<String, serde_json::Value>,
}

/// A bench account with a live token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BenchUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

/// A group and its members (owner first), as indexes into the user list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchGroup {
    pub id: i64,
    pub conv: String,
    pub members: Vec<usize>,
}

impl State {
    /// Reads the state file (empty state if it does not exist).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("parse {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    /// Writes the state file atomically.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self)?).with_context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
    }
}

/// Makes sure `server` has at least `n` bench users with working tokens and
/// returns its state. A state whose tokens the server no longer knows (a
/// fresh data directory) is discarded.
pub async fn ensure_users(state: &mut State, server: &str, n: usize) -> anyhow::Result<()> {
    let api = HttpApi::new(server)?;
    let entry = state.servers.entry(server.to_owned()).or_default();
    if let Some(first) = entry.users.first() {
        let valid = api.clone().with_token(first.token.clone()).me().await.is_ok_and(|me| me.user.id == first.id);
        if !valid {
            *entry = ServerState::default();
        }
    }
    if entry.prefix.is_empty() {
        entry.prefix = format!("b{:06x}", rand::random::<u32>() & 0xff_ffff);
    }
    if entry.users.len() >= n {
        return Ok(());
    }
    let prefix = entry.prefix.clone();
    let start = entry.users.len();
    let mut made: Vec<(usize, BenchUser)> = stream::iter(start..n)
        .map(|i| {
            let api = api.clone();
            let name = format!("{prefix}u{i}");
            async move { create_user(&api, &name).await.map(|u| (i, u)) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    made.sort_by_key(|(i, _)| *i);
    entry.users.extend(made.into_iter().map(|(_, u)| u));
    Ok(())
}

/// Registers `name` (unless taken by an earlier interrupted setup) and logs
/// it in.
pub async fn create_user(api: &HttpApi, name: &str) -> anyhow::Result<BenchUser> {
    retry(|| async {
        match api.register(name, PASSWORD, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.code().is_some_and(|c| c.as_str() == "username_taken") => Ok(()),
            Err(e) => Err(e),
        }
    })
    .await
    .with_context(|| format!("register {name}"))?;
    let login = retry(|| api.login(name, PASSWORD, "bench", None)).await.with_context(|| format!("login {name}"))?;
    Ok(BenchUser { id: login.user.id, username: login.user.username, token: login.token })
}

/// Uploads `bytes` as `user` in one request (`POST /files`); the file id.
pub async fn upload_bytes(server: &str, user: &BenchUser, name: &str, bytes: Vec<u8>) -> anyhow::Result<String> {
    let url = format!("{}/api/v1/files", server.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(url)
        .query(&[("name", name)])
        .bearer_auth(&user.token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("upload as {}", user.username))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("upload answer")?;
    if status.as_u16() != 201 {
        anyhow::bail!("upload as {}: {status} {body}", user.username);
    }
    body["file"]["id"].as_str().map(str::to_owned).context("upload answer without a file id")
}

/// Retries rate-limited and transport failures a few times.
async fn retry<T, F, Fut>(mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < 8 && (e.is_retryable() || e.code().is_some_and(|c| c.as_str() == "rate_limited")) => {
                let wait = match &e {
                    ClientError::Api(a) => a.retry_after_ms.unwrap_or(200),
                    _ => 200,
                };
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(wait.min(5000))).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Makes sure the group `key` exists with `members` (user indexes, the
/// first one owning it) and returns it.
pub async fn ensure_group(state: &mut State, server: &str, key: &str, members: &[usize]) -> anyhow::Result<BenchGroup> {
    let entry = state.servers.get_mut(server).context("users first")?;
    if let Some(g) = entry.groups.get(key)
        && g.members == members
    {
        return Ok(g.clone());
    }
    let ids: Vec<i64> = members[1..].iter().map(|&i| entry.users[i].id).collect();
    let (id, conv) = create_group(server, &entry.users[members[0]], key, ids).await?;
    let g = BenchGroup { id, conv, members: members.to_vec() };
    entry.groups.insert(key.to_owned(), g.clone());
    Ok(g)
}

/// Groups created concurrently, in order: appends to `into` those made
/// before the first failure (they exist, so a rerun must not make them
/// again) and returns that failure, if any.
pub fn keep_made_groups(made: Vec<anyhow::Result<String>>, into: &mut Vec<String>) -> Option<anyhow::Error> {
    let mut failed = None;
    for m in made {
        match m {
            Ok(conv) if failed.is_none() => into.push(conv),
            Ok(_) => {}
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    failed
}

/// Creates a new group `name` owned by `owner` with `members` (user ids
/// besides the owner) and returns its id and conversation id.
pub async fn create_group(
    server: &str,
    owner: &BenchUser,
    name: &str,
    members: Vec<i64>,
) -> anyhow::Result<(i64, String)> {
    let api = HttpApi::new(server)?.with_token(owner.token.clone());
    let size = members.len() + 1;
    let new = NewGroup { name: name.to_owned(), members, ..Default::default() };
    let group = retry(|| api.create_group(&new))
        .await
        .with_context(|| format!("create group {name} with {size} members (raise FERRY_GROUPS__MAX_MEMBERS?)"))?;
    Ok((group.id, group.conversation_id))
}
