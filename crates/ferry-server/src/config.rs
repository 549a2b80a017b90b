//! Typed, layered configuration: defaults ← TOML file ← `FERRY_*` environment
//! ← command-line flags. [`Config::load`] validates everything at once and
//! reports every problem together.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use ferry_core::Limits;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Command-line flags of `ferry-server`. Each also reads its `FERRY_*`
/// environment variable; every other option lives in the config file or in
/// `FERRY_<SECTION>__<KEY>` variables (e.g. `FERRY_GATEWAY__HEARTBEAT_INTERVAL_MS`).
#[derive(Debug, Parser, Default)]
#[command(name = "ferry-server", version, about = "Ferry instant-messaging server")]
pub struct Flags {
    /// HTTP + WebSocket listen address (port 0 picks a free port).
    #[arg(long, env = "FERRY_HTTP")]
    pub http: Option<SocketAddr>,
    /// TCP gateway listen address (port 0 picks a free port).
    #[arg(long, env = "FERRY_TCP")]
    pub tcp: Option<SocketAddr>,
    /// Directory for the SQLite database and files.
    #[arg(long, env = "FERRY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML config file; see `--print-config` for every option.
    #[arg(long, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Without a command: run the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What `ferry-server` does other than serving.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy a single node's SQLite store into an empty PostgreSQL database
    /// (moving to a cluster), then verify the copy.
    ///
    /// Stop the node first: a store still in use is refused. The copy is
    /// one PostgreSQL transaction, checked (row counts of every table, each
    /// conversation's seqs) before it commits, so a failure leaves the
    /// target empty and the command can run again. Files are not copied:
    /// the blob directory (`files.dir`, default `<data_dir>/files`) goes to
    /// the cluster's S3 bucket with any S3 tool (see the README). Exit
    /// status: 0 copied and verified, 2 refused (source not a Ferry store of
    /// this version, or in use; target not empty), 1 failed (nothing
    /// committed). Messages are indexed for search as the `messages.search`
    /// setting says.
    MigrateStore(MigrateStoreArgs),
}

/// `ferry-server migrate-store --from sqlite:PATH --to postgres:URL`.
#[derive(Debug, clap::Args)]
pub struct MigrateStoreArgs {
    /// The SQLite store: `sqlite:` and the database file
    /// (`<data_dir>/ferry.db`) or the data directory holding it.
    #[arg(long, value_name = "sqlite:PATH", value_parser = parse_sqlite_source)]
    pub from: PathBuf,
    /// The empty PostgreSQL database: a `postgres://user:password@host:port/db`
    /// URL, or `postgres:` and the key-value form (`postgres:host=… dbname=…`).
    #[arg(long, value_name = "postgres:URL", value_parser = parse_postgres_target)]
    pub to: String,
}

fn parse_sqlite_source(value: &str) -> Result<PathBuf, String> {
    match value.strip_prefix("sqlite:") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err("expected sqlite:PATH (the SQLite database file or the data directory)".into()),
    }
}

fn parse_postgres_target(value: &str) -> Result<String, String> {
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(value.to_owned());
    }
    match value.strip_prefix("postgres:") {
        Some(url) if !url.trim().is_empty() => Ok(url.to_owned()),
        _ => Err("expected postgres://user:password@host:port/db or postgres:<key-value form>".into()),
    }
}

/// The whole server configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// HTTP + WebSocket listen address.
    pub http: SocketAddr,
    /// TCP gateway listen address.
    pub tcp: SocketAddr,
    /// Where the database (`ferry.db`) lives.
    pub data_dir: PathBuf,
    /// This node's id (0-1023), unique within a cluster; part of message ids.
    pub node_id: u16,
    /// Serve `GET /metrics` (Prometheus text format) on the HTTP listener.
    /// It carries no user data, only counts; restrict it at the reverse
    /// proxy or turn it off when the HTTP port is public.
    pub metrics: bool,
    /// On SIGTERM/SIGINT, seconds the node keeps serving with `/readyz`
    /// answering 503 before it closes its sessions (which are told to
    /// reconnect): time for a load balancer to stop sending it new clients.
    /// 0 (the default) stops at once, as a single node should.
    pub drain_secs: u32,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub gateway: GatewayConfig,
    pub writer: WriterConfig,
    pub social: SocialConfig,
    pub groups: GroupsConfig,
    pub messages: MessagesConfig,
    pub caches: CacheConfig,
    pub files: FilesConfig,
    pub web: WebConfig,
    pub calls: CallsConfig,
    pub cluster: ClusterConfig,
    pub limits: Limits,
}

/// Which bus connects this node to the others.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// A single node: everything in this process.
    #[default]
    Local,
    /// A cluster over one Redis server (pub/sub, and the session registry).
    Redis,
}

/// Cluster mode: how nodes reach each other's sessions (`bus/`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `local` (one node, the default) or `redis`.
    pub bus: BusKind,
    /// The engine, for `bus = "redis"`: `redis://[user:password@]host[:port][/db]`.
    pub bus_url: String,
    /// This node's name on the bus, unique among live nodes (letters,
    /// digits, `-`, `_`, `.`; at most 64). Empty: a random one per start,
    /// so a restarted node never inherits its former self's entries. (Not
    /// the top-level `node_id`, the number in every message id.)
    pub node_name: String,
    /// How long a node's session registry outlives its last refresh (it
    /// refreshes every third of this): a node that dies without saying so
    /// is forgotten by the others within it.
    pub presence_ttl_ms: u64,
    /// How long a node-local cache entry is served in cluster mode: a cache
    /// invalidation lost on the bus is healed within it.
    pub cache_ttl_ms: u64,
    /// Frames and events queued for the bus's publisher; when it is full
    /// (the engine slow or down) further ones are dropped and counted, and
    /// clients recover them by sync.
    pub publish_queue: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            bus: BusKind::Local,
            bus_url: "redis://127.0.0.1:6379".into(),
            node_name: String::new(),
            presence_ttl_ms: 30_000,
            cache_ttl_ms: 5_000,
            publish_queue: 65_536,
        }
    }
}

impl ClusterConfig {
    /// Problems with these settings, for [`Config::validate`].
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.bus == BusKind::Redis
            && !(self.bus_url.starts_with("redis://") && url_has_host(&self.bus_url["redis://".len()..]))
        {
            problems.push(format!(
                "cluster.bus_url: {:?} must be redis://[user:password@]host[:port][/db] when cluster.bus is \"redis\"",
                self.bus_url
            ));
        }
        if self.node_name.len() > 64
            || !self.node_name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            problems.push("cluster.node_name must be at most 64 letters, digits, '-', '_' or '.'".into());
        }
        if !(300..=600_000).contains(&self.presence_ttl_ms) {
            problems.push("cluster.presence_ttl_ms must be 300-600000".into());
        }
        if self.cache_ttl_ms == 0 || self.publish_queue == 0 {
            problems.push("cluster.cache_ttl_ms and cluster.publish_queue must be at least 1".into());
        }
        problems
    }
}

/// Whether what follows `scheme://` starts with a host.
fn url_has_host(rest: &str) -> bool {
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    !host.is_empty() && !host.starts_with(':')
}

impl CallsConfig {
    /// Longest ring timeout or grace period (a day).
    pub const MAX_SECS: u32 = 24 * 60 * 60;

    /// The state machine's timings.
    pub fn call_config(&self) -> ferry_core::call::CallConfig {
        ferry_core::call::CallConfig {
            ring_timeout_ms: self.ring_timeout_secs.min(Self::MAX_SECS) * 1000,
            reconnect_grace_ms: self.reconnect_grace_secs.min(Self::MAX_SECS) * 1000,
            ..Default::default()
        }
    }
}

/// The browser client served at `/` (`http/web.rs`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the embedded web client at `/` (and its client-side routes);
    /// with `false` only the API, `/ws`, `/healthz`, `/readyz` and `/metrics` answer.
    pub enabled: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// Voice and video calls: signaling timings (`service/calls.rs`), the
/// ICE servers handed to clients (`GET /api/v1/calls/ice-servers`,
/// `service/ice.rs`) and the embedded STUN/TURN relay (`[calls.turn]`,
/// `turn/`).
///
/// With the embedded relay on (the default) and both URL lists empty,
/// clients are handed `stun:<host>:<port>` and
/// `turn:<host>:<port>?transport=udp` (and `?transport=tcp`), where host is
/// `calls.turn.public_host` or else the host the client reached the HTTP API
/// at. An operator who runs coturn instead turns the embedded relay off, gives
/// coturn `use-auth-secret` and `static-auth-secret` = `turn_secret`, and
/// lists it in `stun_urls` and `turn_urls`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// How long a call rings before it is missed.
    pub ring_timeout_secs: u32,
    /// How long a party whose connection dropped may take to come back
    /// before the call ends.
    pub reconnect_grace_secs: u32,
    /// The TURN REST API shared secret (coturn's `static-auth-secret`)
    /// that TURN credentials are signed with. Empty: the server generates
    /// one and keeps it in the store, so every node signs with the same
    /// one; set it explicitly to share it with coturn.
    pub turn_secret: String,
    /// How long a TURN credential handed out stays valid, in seconds. TURN
    /// refreshes an allocation with it, so it must outlast the longest
    /// call; a leaked one works for anybody until then. The default (one
    /// day) is what the TURN REST API draft recommends.
    pub credential_ttl_secs: u64,
    /// STUN server URLs (`stun:host[:port]`, `stuns:`), given without
    /// credentials.
    pub stun_urls: Vec<String>,
    /// TURN server URLs (`turn:host[:port][?transport=udp|tcp]`, `turns:`),
    /// given with credentials signed by `turn_secret`.
    pub turn_urls: Vec<String>,
    /// The embedded STUN/TURN relay.
    pub turn: TurnConfig,
}

/// The embedded STUN/TURN relay (`turn/`, on webrtc-rs's `turn` crate). It
/// accepts the TURN REST credentials `calls.turn_secret` signs, so a
/// single-node install needs no coturn. Relayed media flows between the
/// clients and the relay ports: open `listen`'s port (UDP and TCP) and the
/// relay port range (UDP) in the firewall.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TurnConfig {
    /// Run the embedded relay. Turn it off when coturn (or another TURN
    /// server) serves the calls.
    pub enabled: bool,
    /// Where the relay listens for clients, on UDP and on TCP (port 0
    /// picks a free port, the same one for both).
    pub listen: SocketAddr,
    /// Also accept TURN over TCP on `listen`'s port (for networks that block
    /// UDP; relayed traffic to the peer is UDP either way).
    pub tcp: bool,
    /// The address clients are told to send relayed media to (the
    /// XOR-RELAYED-ADDRESS of each allocation): this host's public IP. Unset:
    /// `listen`'s IP when that is a specific one, otherwise the first
    /// non-loopback IPv4 address of this machine's interfaces (logged at
    /// start). Behind NAT set it to the public address, with the relay port
    /// range forwarded to this host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_ip: Option<std::net::IpAddr>,
    /// The host name or address put in the default `stun:`/`turn:` URLs.
    /// Empty: the host the client reached the HTTP API at (its `Host`
    /// header, without the port).
    pub public_host: String,
    /// The lowest UDP port an allocation's relay socket binds.
    pub relay_port_min: u16,
    /// The highest UDP port an allocation's relay socket binds.
    pub relay_port_max: u16,
    /// The realm of the long-term credentials (clients echo it back).
    pub realm: String,
    /// How many allocations one user may hold at once (a call takes one or
    /// two per device); the next is refused until one ends.
    pub max_allocations_per_user: u32,
    /// How many allocations the relay holds at once, for all users.
    pub max_allocations: u32,
    /// Bytes per second one allocation may relay, both directions together
    /// (a burst of one second's worth is allowed); packets beyond it are
    /// dropped, as a congested network would. 0: no limit.
    pub bandwidth_bytes_per_sec: u64,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "0.0.0.0:3478".parse().expect("valid literal address"),
            tcp: true,
            relay_ip: None,
            public_host: String::new(),
            relay_port_min: 49152,
            relay_port_max: 65535,
            realm: "ferry".into(),
            max_allocations_per_user: 10,
            max_allocations: 1000,
            // 8 Mbit/s: a 720p video call with room to spare.
            bandwidth_bytes_per_sec: 1_000_000,
        }
    }
}

impl Default for CallsConfig {
    fn default() -> Self {
        let timings = ferry_core::call::CallConfig::default();
        Self {
            ring_timeout_secs: timings.ring_timeout_ms / 1000,
            reconnect_grace_secs: timings.reconnect_grace_ms / 1000,
            turn_secret: String::new(),
            credential_ttl_secs: 24 * 60 * 60,
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn: TurnConfig::default(),
        }
    }
}

/// The longest `calls.credential_ttl_secs`: far beyond any call, and a
/// leaked credential should not outlive it by months.
const MAX_CREDENTIAL_TTL_SECS: u64 = 7 * 24 * 60 * 60;

/// Keeps the secret out of logs.
impl std::fmt::Debug for CallsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallsConfig")
            .field("ring_timeout_secs", &self.ring_timeout_secs)
            .field("reconnect_grace_secs", &self.reconnect_grace_secs)
            .field("turn_secret", &if self.turn_secret.is_empty() { "" } else { "<set>" })
            .field("credential_ttl_secs", &self.credential_ttl_secs)
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field("turn", &self.turn)
            .finish()
    }
}

/// Checks one STUN or TURN URL (RFC 7064, RFC 7065): `scheme:host[:port]`,
/// a TURN one optionally followed by `?transport=udp|tcp`. `schemes` are
/// the ones its list takes. Browsers refuse the whole `RTCPeerConnection`
/// over one bad URL, so a typo is caught here rather than in every call.
fn ice_url_problem(url: &str, schemes: &[&str]) -> Option<String> {
    let Some((scheme, rest)) = url.split_once(':').filter(|(s, _)| schemes.contains(s)) else {
        return Some(format!(
            "must start with {}",
            schemes.iter().map(|s| format!("{s}:")).collect::<Vec<_>>().join(" or ")
        ));
    };
    if rest.starts_with("//") {
        return Some(format!("must not have \"//\" after the scheme (write {scheme}:host:port)"));
    }
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    if let Some(q) = query
        && (!scheme.starts_with("turn") || !matches!(q, "transport=udp" | "transport=tcp"))
    {
        return Some("may only end in ?transport=udp or ?transport=tcp (turn: and turns: URLs)".into());
    }
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, after)) if addr.parse::<std::net::Ipv6Addr>().is_ok() => (addr, after.strip_prefix(':')),
            _ => return Some("has a malformed [IPv6] address".into()),
        },
        None => match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        },
    };
    let host_ok = !host.is_empty()
        && (hostport.starts_with('[')
            || host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !host_ok {
        return Some("needs a host name or address".into());
    }
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Some("has a port that is not 1-65535".into());
    }
    None
}

/// What may be done to a sent message, and until when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesConfig {
    /// Seconds after sending during which a sender may recall a message
    /// (group owners and admins may recall any message at any time).
    pub revoke_window_secs: u64,
    /// Seconds after sending during which a sender may edit a text.
    pub edit_window_secs: u64,
    /// Most pinned messages per conversation.
    pub max_pins: u32,
    /// Largest group whose senders may ask who read a message.
    pub receipt_max_members: u32,
    /// How far an incremental conversation list's cursor reaches back
    /// before the moment it was made, so a message stamped before but
    /// committed after it (or a clock step between nodes) is not missed.
    pub list_cursor_overlap_secs: u64,
    /// Full-text search over messages. Indexing every message costs the
    /// writer time (BENCHMARKS.md); with `false` nothing is indexed (the
    /// index is emptied), `search` answers `unavailable`, and turning it
    /// back on re-indexes every message in the background.
    pub search: bool,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            revoke_window_secs: 120,
            edit_window_secs: 24 * 60 * 60,
            max_pins: 10,
            receipt_max_members: 500,
            list_cursor_overlap_secs: 30,
            search: true,
        }
    }
}

/// The file service: where file content lives, and the limits on it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Where content is stored: "local" (a directory, `dir`) or "s3" (an
    /// S3-compatible bucket, `s3`).
    pub backend: BlobBackend,
    /// The local blob directory; empty = `<data_dir>/files`.
    pub dir: PathBuf,
    pub s3: S3Config,
    /// Largest body `POST /api/v1/files` takes; bigger files use the
    /// resumable upload (`/api/v1/uploads`).
    pub max_simple_upload_bytes: u64,
    /// Largest file.
    pub max_file_bytes: u64,
    /// Bytes each user may store (their files' sizes; content shared with
    /// others counts for each). 0 = no quota.
    pub quota_bytes_per_user: u64,
    /// Uploads one user may have at once: unfinished resumable ones, and
    /// one-request ones in progress.
    pub max_concurrent_uploads: u32,
    /// An unfinished upload is discarded this long after it was created.
    pub upload_expiry_secs: u64,
    /// MIME types (as sniffed from the content) accepted; `type/*`
    /// wildcards; empty = all. An exact type also matches other names of
    /// the same format (`application/x-msdownload` a Windows executable,
    /// which sniffs as `application/vnd.microsoft.portable-executable`).
    pub allowed_mime: Vec<String>,
    /// MIME types refused even if allowed (checked first; matched like
    /// `allowed_mime`).
    pub blocked_mime: Vec<String>,
    /// How long a signed download URL stays valid.
    pub url_ttl_secs: u64,
    /// The longer edge of generated thumbnails, in pixels.
    pub thumbnail_edge: u32,
    /// Images with more pixels than this are refused (decompression bombs).
    pub max_image_pixels: u64,
    /// How often expired uploads and unreferenced content are swept.
    pub sweep_interval_secs: u64,
}

/// Where file content is stored.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BlobBackend {
    #[default]
    Local,
    S3,
}

/// An S3-compatible bucket (AWS S3, MinIO, Ceph, OSS, COS, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Empty = AWS for `region`; else the service's URL.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Keys are stored under this prefix ("" = the bucket's root).
    pub prefix: String,
    /// Allow a plain-http endpoint (a local MinIO).
    pub allow_http: bool,
    /// Path-style requests (`endpoint/bucket/key`), which most
    /// S3-compatible servers want.
    pub path_style: bool,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            backend: BlobBackend::Local,
            dir: PathBuf::new(),
            s3: S3Config::default(),
            max_simple_upload_bytes: 8 << 20,
            max_file_bytes: 4 << 30,
            quota_bytes_per_user: 0,
            max_concurrent_uploads: 10,
            upload_expiry_secs: 24 * 60 * 60,
            allowed_mime: Vec::new(),
            blocked_mime: Vec::new(),
            url_ttl_secs: 60 * 60,
            thumbnail_edge: 320,
            max_image_pixels: 64_000_000,
            sweep_interval_secs: 300,
        }
    }
}

/// Who may message whom.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SocialConfig {
    /// "anyone": any user may message any other directly (workplace IM).
    /// "friends_only": direct messages need an accepted friend request.
    pub direct_messages: DirectMessages,
}

/// The direct-message policy.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectMessages {
    #[default]
    Anyone,
    FriendsOnly,
}

/// Group limits and policies.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GroupsConfig {
    /// Most members in one group (owner included).
    pub max_members: u32,
    /// Most groups one user may be a member of.
    pub max_groups_per_user: u32,
    /// What members who join see: "from_join" (messages after they joined)
    /// or "full" (the whole history).
    pub history_for_new_members: HistoryVisibility,
}

/// How much history a new group member sees.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistoryVisibility {
    #[default]
    FromJoin,
    Full,
}

impl Default for SocialConfig {
    fn default() -> Self {
        Self { direct_messages: DirectMessages::Anyone }
    }
}

impl Default for GroupsConfig {
    fn default() -> Self {
        Self { max_members: 2000, max_groups_per_user: 500, history_for_new_members: HistoryVisibility::FromJoin }
    }
}

/// Storage settings: which store, and how it runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// "sqlite": the embedded database under the data directory (one
    /// node). "postgres": the database at `postgres_url`, which every node
    /// of a cluster shares.
    pub backend: StoreBackend,
    /// The PostgreSQL database (`postgres://user:password@host:port/db`),
    /// required with the "postgres" backend.
    pub postgres_url: String,
    /// PostgreSQL connections this node keeps open at most.
    pub postgres_connections: usize,
    /// "full": an acknowledged message survives power loss (fsync per commit
    /// batch). "normal": survives a crash of the server process; a power loss
    /// may lose the last batches.
    pub synchronous: Synchronous,
    /// Read-only SQLite connections for queries.
    pub read_connections: usize,
    /// Messages appended to a log table before it is merged into the
    /// conversation-ordered message table: larger means fewer disk writes
    /// per message and more memory (about 80 bytes per logged message, at
    /// most two tables' worth).
    pub log_rows: usize,
    /// How often the WAL is checkpointed into the database file, off the
    /// commit path.
    pub checkpoint_interval_ms: u64,
    /// SQLite page cache of the writer connection in MiB (each reader gets
    /// a quarter); filled only as pages are read.
    pub cache_mib: u32,
}

/// Which store a node uses.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// The embedded SQLite database (single node).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by the nodes of a cluster.
    Postgres,
}

/// When a commit counts as durable.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Synchronous {
    /// Acknowledged writes survive power loss (fsync per commit batch).
    #[default]
    Full,
    /// Acknowledged writes survive a crash of the server process.
    Normal,
}

impl From<Synchronous> for ferry_store::sqlite::Synchronous {
    fn from(s: Synchronous) -> Self {
        match s {
            Synchronous::Full => Self::Full,
            Synchronous::Normal => Self::Normal,
        }
    }
}

/// Sizes of the node-local caches (entries, or ids for the list caches).
/// Every cache is bounded and evicts the least useful entries when full.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Authenticated sessions (token hash → session).
    pub sessions: u64,
    /// Accounts (authentication, profile lookups, direct-message checks).
    pub users: u64,
    /// Group settings used by send checks.
    pub groups: u64,
    /// (group, user) memberships used by send and read checks.
    pub memberships: u64,
    /// Member ids held for group fan-out, summed over all cached groups.
    pub group_member_ids: u64,
    /// User ids held per list cache (blocklists, friends, presence peers).
    pub contact_ids: u64,
    /// At start-up, load stored sessions and their users into the caches in
    /// the background (up to their capacity), so the reconnect storm after
    /// a restart authenticates from memory.
    pub warm_sessions: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            sessions: 250_000,
            users: 250_000,
            groups: 100_000,
            memberships: 1_000_000,
            group_member_ids: 4_000_000,
            contact_ids: 4_000_000,
            warm_sessions: true,
        }
    }
}

/// Accounts, passwords, devices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// argon2id memory cost in KiB (OWASP minimum: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Threads hashing passwords (0 = one per core). At most this many
    /// hashes run at once, so memory stays at threads × argon2_memory_kib.
    pub hash_threads: usize,
    /// Logins and registrations waiting for a hashing thread; beyond it a
    /// request is refused at once (503 `unavailable`, retry_after_ms).
    pub hash_queue: usize,
    /// Login attempts per username per minute.
    pub login_per_username_per_minute: u32,
    /// Login attempts per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Registrations per client IP per minute.
    pub register_per_ip_per_minute: u32,
    /// "multi": any number of devices per user. "one_per_platform": a new
    /// login kicks the user's earlier session on the same platform.
    pub device_policy: DevicePolicy,
}

/// How many devices a user may have signed in at once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DevicePolicy {
    #[default]
    Multi,
    OnePerPlatform,
}

/// Long-connection settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Clients ping at least this often.
    pub heartbeat_interval_ms: u64,
    /// A connection silent for this long is closed (≈1.5 × heartbeat).
    pub idle_timeout_ms: u64,
    /// Time allowed between connecting and a successful `auth`.
    pub auth_timeout_ms: u64,
    /// Longest one write to a client may take; a client that stops reading
    /// (its socket buffer full) is disconnected after it.
    pub write_timeout_ms: u64,
    /// Frames queued for one session before it counts as a slow consumer
    /// and is disconnected (it resyncs on reconnect).
    pub outbound_queue: usize,
    /// Requests one connection may have in flight before the server stops
    /// reading from it.
    pub max_inflight: usize,
    /// Connections accepted at once (TCP and WebSocket together).
    pub max_connections: usize,
}

/// The message writer (group commit).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Most messages committed in one transaction.
    pub max_batch: usize,
    /// Messages waiting for the writer before senders are back-pressured.
    pub queue: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: "127.0.0.1:8080".parse().expect("valid literal address"),
            tcp: "127.0.0.1:8081".parse().expect("valid literal address"),
            data_dir: PathBuf::from("./data"),
            node_id: 0,
            metrics: true,
            drain_secs: 0,
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            gateway: GatewayConfig::default(),
            writer: WriterConfig::default(),
            social: SocialConfig::default(),
            groups: GroupsConfig::default(),
            messages: MessagesConfig::default(),
            caches: CacheConfig::default(),
            files: FilesConfig::default(),
            web: WebConfig::default(),
            calls: CallsConfig::default(),
            cluster: ClusterConfig::default(),
            limits: Limits::default(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Sqlite,
            postgres_url: String::new(),
            postgres_connections: 16,
            synchronous: Synchronous::Full,
            read_connections: 4,
            log_rows: 131_072,
            checkpoint_interval_ms: 1000,
            cache_mib: 64,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hash_threads: 0,
            hash_queue: 256,
            login_per_username_per_minute: 10,
            login_per_ip_per_minute: 60,
            register_per_ip_per_minute: 10,
            device_policy: DevicePolicy::Multi,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 30_000,
            idle_timeout_ms: 45_000,
            auth_timeout_ms: 10_000,
            write_timeout_ms: 10_000,
            outbound_queue: 1024,
            max_inflight: 64,
            max_connections: 100_000,
        }
    }
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { max_batch: 1024, queue: 16_384 }
    }
}

/// Top-level keys the `FERRY_*` environment may set; other `FERRY_*`
/// variables (the CLI's, the flags') are not configuration.
const ENV_KEYS: &[&str] = &[
    "node_id",
    "metrics",
    "drain_secs",
    "storage",
    "auth",
    "gateway",
    "writer",
    "social",
    "groups",
    "messages",
    "caches",
    "files",
    "web",
    "calls",
    "cluster",
    "limits",
];

impl Config {
    /// Builds the configuration from every layer and validates it.
    pub fn load(flags: &Flags) -> Result<Self, String> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &flags.config {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("FERRY_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or_default();
            ENV_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
        }));
        let mut config: Config =
            figment.extract().map_err(|e| e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))?;
        if let Some(http) = flags.http {
            config.http = http;
        }
        if let Some(tcp) = flags.tcp {
            config.tcp = tcp;
        }
        if let Some(dir) = &flags.data_dir {
            config.data_dir = dir.clone();
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks cross-field rules; reports every problem at once.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.node_id > 1023 {
            problems.push("node_id must be 0-1023".to_string());
        }
        if self.drain_secs > 600 {
            problems.push("drain_secs must be at most 600".into());
        }
        if self.storage.read_connections == 0 {
            problems.push("storage.read_connections must be at least 1".into());
        }
        if self.storage.backend == StoreBackend::Postgres {
            if self.storage.postgres_url.trim().is_empty() {
                problems.push("storage.postgres_url must be set when storage.backend is \"postgres\"".into());
            }
            if self.storage.postgres_connections == 0 {
                problems.push("storage.postgres_connections must be at least 1".into());
            }
        }
        if self.gateway.idle_timeout_ms <= self.gateway.heartbeat_interval_ms {
            problems.push("gateway.idle_timeout_ms must exceed gateway.heartbeat_interval_ms".into());
        }
        for (name, v) in [
            ("gateway.outbound_queue", self.gateway.outbound_queue),
            ("gateway.max_inflight", self.gateway.max_inflight),
            ("gateway.max_connections", self.gateway.max_connections),
            ("gateway.write_timeout_ms", self.gateway.write_timeout_ms as usize),
            ("auth.hash_queue", self.auth.hash_queue),
            ("writer.max_batch", self.writer.max_batch),
            ("writer.queue", self.writer.queue),
            ("storage.log_rows", self.storage.log_rows),
            ("storage.checkpoint_interval_ms", self.storage.checkpoint_interval_ms as usize),
            ("storage.cache_mib", self.storage.cache_mib as usize),
            ("caches.sessions", self.caches.sessions as usize),
            ("caches.users", self.caches.users as usize),
            ("caches.groups", self.caches.groups as usize),
            ("caches.memberships", self.caches.memberships as usize),
            ("caches.group_member_ids", self.caches.group_member_ids as usize),
            ("caches.contact_ids", self.caches.contact_ids as usize),
        ] {
            if v == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if self.auth.argon2_memory_kib < 8 * self.auth.argon2_parallelism.max(1) {
            problems.push("auth.argon2_memory_kib must be at least 8 × parallelism".into());
        }
        if self.auth.argon2_iterations == 0 || self.auth.argon2_parallelism == 0 {
            problems.push("auth.argon2_iterations and auth.argon2_parallelism must be at least 1".into());
        }
        if self.auth.login_per_username_per_minute == 0
            || self.auth.login_per_ip_per_minute == 0
            || self.auth.register_per_ip_per_minute == 0
        {
            problems.push("auth login and registration rate limits must be at least 1 per minute".into());
        }
        if self.groups.max_members < 2 || self.groups.max_groups_per_user == 0 {
            problems.push("groups.max_members must be at least 2 and groups.max_groups_per_user at least 1".into());
        }
        let f = &self.files;
        if f.max_simple_upload_bytes == 0 || f.max_file_bytes == 0 || f.max_concurrent_uploads == 0 {
            problems.push(
                "files.max_simple_upload_bytes, files.max_file_bytes and files.max_concurrent_uploads must be at least 1"
                    .into(),
            );
        }
        if f.upload_expiry_secs == 0 || f.url_ttl_secs == 0 || f.sweep_interval_secs == 0 {
            problems.push("files.upload_expiry_secs, url_ttl_secs and sweep_interval_secs must be at least 1".into());
        }
        if !(16..=4096).contains(&f.thumbnail_edge) || f.max_image_pixels == 0 {
            problems.push("files.thumbnail_edge must be 16-4096 and files.max_image_pixels at least 1".into());
        }
        for m in f.allowed_mime.iter().chain(&f.blocked_mime) {
            let concrete = m.strip_suffix('*').map_or_else(|| m.clone(), |t| format!("{t}x"));
            if ferry_core::content::mime("files", &concrete).is_err() {
                problems.push(format!("files: {m:?} is not a MIME type or type/* pattern"));
            }
        }
        if f.backend == BlobBackend::S3 && f.s3.bucket.is_empty() {
            problems.push("files.s3.bucket must be set when files.backend is \"s3\"".into());
        }
        let c = &self.calls;
        if !(60..=MAX_CREDENTIAL_TTL_SECS).contains(&c.credential_ttl_secs) {
            problems.push(format!("calls.credential_ttl_secs must be 60-{MAX_CREDENTIAL_TTL_SECS} (a week)"));
        }
        for (list, urls, schemes) in
            [("stun_urls", &c.stun_urls, &["stun", "stuns"]), ("turn_urls", &c.turn_urls, &["turn", "turns"])]
        {
            for url in urls {
                if let Some(why) = ice_url_problem(url, schemes) {
                    problems.push(format!("calls.{list}: {url:?} {why}"));
                }
            }
        }
        if c.ring_timeout_secs == 0 || c.ring_timeout_secs > CallsConfig::MAX_SECS {
            problems.push(format!("calls.ring_timeout_secs must be 1-{}", CallsConfig::MAX_SECS));
        }
        if c.reconnect_grace_secs > CallsConfig::MAX_SECS {
            problems.push(format!("calls.reconnect_grace_secs must be at most {}", CallsConfig::MAX_SECS));
        }
        let t = &c.turn;
        if t.relay_port_min == 0 || t.relay_port_max < t.relay_port_min {
            problems.push("calls.turn.relay_port_min must be at least 1 and at most calls.turn.relay_port_max".into());
        }
        if t.realm.is_empty() || t.realm.len() > 127 || t.realm.chars().any(|ch| ch.is_control()) {
            problems.push("calls.turn.realm must be 1-127 bytes without control characters".into());
        }
        if t.max_allocations_per_user == 0 || t.max_allocations == 0 {
            problems.push("calls.turn.max_allocations_per_user and max_allocations must be at least 1".into());
        }
        let bracketed = t.public_host.starts_with('[');
        if !t.public_host.is_empty()
            && (ice_url_problem(&format!("stun:{}", t.public_host), &["stun"]).is_some()
                || bracketed != t.public_host.ends_with(']')
                || (!bracketed && t.public_host.contains(':')))
        {
            problems.push(format!("calls.turn.public_host: {:?} is not a host name or address", t.public_host));
        }
        if let Some(ip) = t.relay_ip
            && ip.is_unspecified()
        {
            problems.push(format!("calls.turn.relay_ip: {ip} is no address a client can send to"));
        }
        problems.extend(self.cluster.problems());
        let l = &self.limits;
        if l.max_frame_bytes < 1024 {
            problems.push("limits.max_frame_bytes must be at least 1024".into());
        }
        if l.max_text_bytes == 0 || l.max_text_bytes >= l.max_frame_bytes {
            problems.push("limits.max_text_bytes must be between 1 and limits.max_frame_bytes".into());
        }
        if l.max_pull_limit == 0 || l.frames_per_second == 0 || l.max_client_msg_id_bytes == 0 {
            problems
                .push("limits.max_pull_limit, frames_per_second and max_client_msg_id_bytes must be at least 1".into());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
    }

    /// The configuration as a commented-free TOML document.
    pub fn to_toml(&self) -> String {
        // Cannot fail: every field is a plain TOML value.
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }

    /// Path of the SQLite database.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("ferry.db")
    }

    /// The local blob directory.
    pub fn files_dir(&self) -> PathBuf {
        if self.files.dir.as_os_str().is_empty() { self.data_dir.join("files") } else { self.files.dir.clone() }
    }

    /// Where unfinished uploads are staged (always on local disk).
    pub fn uploads_dir(&self) -> PathBuf {
        self.data_dir.join("uploads")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = Config::default();
        c.validate().unwrap();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = Config { node_id: 5000, ..Config::default() };
        c.caches.users = 0;
        c.gateway.idle_timeout_ms = 1;
        let err = c.validate().unwrap_err();
        assert_eq!(err.lines().count(), 3, "{err}");
    }

    #[test]
    fn file_then_flags_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(
            &path,
            "http = \"127.0.0.1:9000\"\n[gateway]\nheartbeat_interval_ms = 1000\nidle_timeout_ms = 1500\n",
        )
        .unwrap();
        let flags = Flags { config: Some(path), tcp: Some("127.0.0.1:0".parse().unwrap()), ..Flags::default() };
        let c = Config::load(&flags).unwrap();
        assert_eq!(c.http.port(), 9000);
        assert_eq!(c.tcp.port(), 0);
        assert_eq!(c.gateway.heartbeat_interval_ms, 1000);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type.
    fn nested_env_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FERRY_GATEWAY__OUTBOUND_QUEUE", "77");
            jail.set_env("FERRY_PASSWORD", "not configuration");
            jail.set_env("FERRY_DRAIN_SECS", "5");
            jail.set_env("FERRY_METRICS", "false");
            let c = Config::load(&Flags::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.gateway.outbound_queue, 77);
            assert_eq!((c.drain_secs, c.metrics), (5, false), "top-level keys are settable too");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type.
    fn every_section_can_be_set_from_the_environment() {
        let defaults = serde_json::to_value(Config::default()).expect("serialize");
        for (key, value) in defaults.as_object().expect("an object") {
            if value.is_object() {
                assert!(ENV_KEYS.contains(&key.as_str()), "FERRY_{}__* is ignored", key.to_uppercase());
            }
        }
        figment::Jail::expect_with(|jail| {
            jail.set_env("FERRY_MESSAGES__SEARCH", "false");
            jail.set_env("FERRY_WEB__ENABLED", "false");
            jail.set_env(
                "FERRY_CALLS__TURN_URLS",
                "[\"turn:turn.example:3478?transport=udp\", \"turns:turn.example\"]",
            );
            let c = Config::load(&Flags::default()).map_err(|e| e.to_string())?;
            assert!(!c.messages.search);
            assert!(!c.web.enabled);
            assert_eq!(c.calls.turn_urls, ["turn:turn.example:3478?transport=udp", "turns:turn.example"]);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type.
    fn the_postgres_backend_needs_a_url() {
        let mut c = Config::default();
        assert_eq!(c.storage.backend, StoreBackend::Sqlite, "SQLite is the default");
        c.storage.backend = StoreBackend::Postgres;
        c.storage.postgres_connections = 0;
        let err = c.validate().unwrap_err();
        assert!(err.contains("storage.postgres_url must be set"), "{err}");
        assert!(err.contains("storage.postgres_connections must be at least 1"), "{err}");
        figment::Jail::expect_with(|jail| {
            jail.set_env("FERRY_STORAGE__BACKEND", "postgres");
            jail.set_env("FERRY_STORAGE__POSTGRES_URL", "postgres://ferry@db.example/ferry");
            let c = Config::load(&Flags::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.storage.backend, StoreBackend::Postgres);
            assert_eq!(c.storage.postgres_url, "postgres://ferry@db.example/ferry");
            jail.set_env("FERRY_STORAGE__BACKEND", "mysql");
            let err = Config::load(&Flags::default()).expect_err("unknown backend");
            assert!(err.contains("sqlite") && err.contains("postgres"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn ice_urls_are_checked_at_start_up() {
        let mut c = Config::default();
        c.calls.stun_urls =
            ["stun:stun.example", "stun:192.0.2.1:3478", "stuns:[2001:db8::1]:5349"].map(String::from).into();
        c.calls.turn_urls =
            ["turn:turn.example:3478?transport=udp", "turns:turn.example:443?transport=tcp", "turn:[::1]"]
                .map(String::from)
                .into();
        c.validate().unwrap();

        let bad_stun = ["turn:a.example", "stun://a.example", "stun:a.example?transport=udp", "http://a.example"];
        let bad_turn = [
            "stun:a.example",
            "turn:",
            "turn:a.example:0",
            "turn:a.example:99999",
            "turn:a.example?transport=sctp",
            "turn:[::1",
        ];
        c.calls.stun_urls = bad_stun.map(String::from).into();
        c.calls.turn_urls = bad_turn.map(String::from).into();
        c.calls.credential_ttl_secs = 10;
        let err = c.validate().unwrap_err();
        assert_eq!(err.lines().count(), bad_stun.len() + bad_turn.len() + 1, "{err}");
        for url in bad_stun.iter().chain(&bad_turn) {
            assert!(err.contains(&format!("{url:?}")), "{url} not reported:\n{err}");
        }
        assert!(err.contains("calls.stun_urls: \"stun://a.example\" must not have \"//\""), "{err}");
        assert!(err.contains("calls.turn_urls: \"stun:a.example\" must start with turn: or turns:"), "{err}");
        assert!(err.contains("calls.credential_ttl_secs"), "{err}");
    }

    #[test]
    fn the_embedded_relay_is_configured_in_calls_turn_and_checked_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(
            &path,
            "[calls.turn]\nlisten = \"192.0.2.7:3479\"\nrelay_ip = \"203.0.113.9\"\nrelay_port_min = 50000\n\
             relay_port_max = 50100\npublic_host = \"turn.example\"\nbandwidth_bytes_per_sec = 0\n",
        )
        .unwrap();
        let c = Config::load(&Flags { config: Some(path.clone()), ..Flags::default() }).unwrap();
        let t = &c.calls.turn;
        assert!(t.enabled && t.tcp, "on by default");
        assert_eq!((t.listen.port(), t.relay_ip), (3479, Some("203.0.113.9".parse().unwrap())));
        assert_eq!((t.relay_port_min, t.relay_port_max, t.bandwidth_bytes_per_sec), (50000, 50100, 0));
        std::fs::write(&path, "[calls.turn]\nport = 3478\n").unwrap();
        let err = Config::load(&Flags { config: Some(path), ..Flags::default() }).unwrap_err();
        assert!(err.contains("port"), "{err}");

        let mut c = Config::default();
        c.calls.turn.relay_port_min = 60000;
        c.calls.turn.relay_port_max = 50000;
        c.calls.turn.realm = String::new();
        c.calls.turn.max_allocations_per_user = 0;
        c.calls.turn.relay_ip = Some("0.0.0.0".parse().unwrap());
        for host in ["turn.example:3478", "[::1", "a b"] {
            c.calls.turn.public_host = host.into();
            let err = c.validate().unwrap_err();
            assert_eq!(err.lines().count(), 5, "{err}");
            assert!(err.contains(&format!("calls.turn.public_host: {host:?}")), "{err}");
        }
        c = Config::default();
        c.calls.turn.public_host = "[2001:db8::1]".into();
        c.validate().unwrap();
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API fixes the error type.
    fn the_cluster_bus_is_local_by_default_and_checked_at_start_up() {
        assert_eq!(Config::default().cluster.bus, BusKind::Local);
        figment::Jail::expect_with(|jail| {
            jail.set_env("FERRY_CLUSTER__BUS", "redis");
            jail.set_env("FERRY_CLUSTER__BUS_URL", "redis://10.0.0.5:6380/2");
            jail.set_env("FERRY_CLUSTER__NODE_NAME", "node-a");
            let c = Config::load(&Flags::default()).map_err(|e| e.to_string())?;
            assert_eq!((c.cluster.bus, c.cluster.node_name.as_str()), (BusKind::Redis, "node-a"));
            Ok(())
        });
        // (An invalid value in a file, not the environment: other tests
        // load the configuration concurrently.)
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[cluster]\nbus = \"zeromq\"\n").unwrap();
        let err = Config::load(&Flags { config: Some(path), ..Flags::default() }).unwrap_err();
        assert!(err.contains("zeromq"), "{err}");
        let mut c = Config::default();
        c.cluster.bus = BusKind::Redis;
        c.cluster.bus_url = "http://127.0.0.1:6379".into();
        c.cluster.node_name = "a b".into();
        c.cluster.presence_ttl_ms = 10;
        c.cluster.publish_queue = 0;
        let err = c.validate().unwrap_err();
        assert_eq!(err.lines().count(), 4, "{err}");
        assert!(err.contains("cluster.bus_url: \"http://127.0.0.1:6379\""), "{err}");
        for url in ["redis://", "redis://:6379", "redis://user:pw@"] {
            c = Config::default();
            c.cluster.bus = BusKind::Redis;
            c.cluster.bus_url = url.into();
            assert!(c.validate().is_err(), "{url}");
        }
        c.cluster.bus_url = "redis://user:pw@redis.internal:6379/0".into();
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_in_a_section_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.toml");
        std::fs::write(&path, "[gateway]\nheartbeat_intervall_ms = 1000\n").unwrap();
        let flags = Flags { config: Some(path), ..Flags::default() };
        assert!(Config::load(&flags).unwrap_err().contains("heartbeat_intervall_ms"));
    }
}
