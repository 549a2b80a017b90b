//! The ICE servers handed to call participants, with short-lived TURN
//! credentials in the TURN REST API form (draft-uberti-behave-turn-rest):
//! username `<expiry unix seconds>:<user id>`, credential
//! base64(HMAC-SHA1(shared secret, username)). A TURN server holding the
//! same secret — stock coturn with `use-auth-secret` and
//! `static-auth-secret`, or Ferry's embedded relay (`turn/`, through
//! [`IceServers::turn_password`]) — checks them without asking Ferry
//! anything: it recomputes the HMAC and refuses an expiry in the past.
//!
//! With the embedded relay on and no URLs configured, the URLs point at it:
//! `stun:<host>:<port>`, `turn:<host>:<port>?transport=udp` (and `tcp`).

use std::sync::Arc;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ferry_api as api;
use ferry_core::UserId;
use ferry_store::Store;
use hmac::{Hmac, Mac};

use crate::config::CallsConfig;

type HmacSha1 = Hmac<sha1::Sha1>;

/// Name of the generated shared secret among the store's server secrets.
const SECRET_NAME: &str = "turn_rest";

/// The ICE servers of this node's configuration, and the secret their TURN
/// credentials are signed with.
pub struct IceServers {
    secret: Vec<u8>,
    ttl_secs: u64,
    stun_urls: Vec<String>,
    turn_urls: Vec<String>,
    /// The embedded relay, when it runs: what default URLs point at.
    embedded: Option<Embedded>,
}

/// Where the embedded relay is reached.
struct Embedded {
    /// `calls.turn.public_host`; empty: the host the client asked.
    public_host: String,
    /// The bound port (UDP, and TCP when `tcp`).
    port: u16,
    tcp: bool,
}

/// Why a TURN username is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TurnRefusal {
    #[error("not <expiry unix seconds>:<user id>")]
    Malformed,
    #[error("expired")]
    Expired,
}

impl IceServers {
    /// Takes `calls.turn_secret`, or when it is empty the store's generated
    /// one (created by whichever node asks first; every node gets that one).
    pub async fn start(store: &Arc<dyn Store>, config: &CallsConfig) -> Result<Self, String> {
        let secret = if config.turn_secret.is_empty() {
            // Printable (43 base64url characters, 256 bits), so it is a
            // string like a configured one and could be handed to a TURN
            // server that takes its secret as text.
            let mut random = [0u8; 32];
            rand::Fill::fill(&mut random[..], &mut rand::rng());
            let candidate = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random).into_bytes();
            store.server_secret(SECRET_NAME, candidate).await.map_err(|e| format!("the TURN secret: {e}"))?
        } else {
            config.turn_secret.as_bytes().to_vec()
        };
        Ok(Self {
            secret,
            ttl_secs: config.credential_ttl_secs,
            stun_urls: config.stun_urls.clone(),
            turn_urls: config.turn_urls.clone(),
            embedded: config.turn.enabled.then(|| Embedded {
                public_host: config.turn.public_host.clone(),
                port: config.turn.listen.port(),
                tcp: config.turn.tcp,
            }),
        })
    }

    /// The password the TURN REST credential `username` has, and the user
    /// it names, when it is well-formed (exactly as [`credential`] writes
    /// it) and its expiry is not before `now_secs`.
    pub fn turn_password(&self, username: &str, now_secs: i64) -> Result<(UserId, String), TurnRefusal> {
        let (expires, user) = username.split_once(':').ok_or(TurnRefusal::Malformed)?;
        let (expires, user) = match (expires.parse::<i64>(), user.parse::<UserId>()) {
            (Ok(e), Ok(u)) => (e, u),
            _ => return Err(TurnRefusal::Malformed),
        };
        if expires < now_secs {
            return Err(TurnRefusal::Expired);
        }
        let (canonical, password) = credential(&self.secret, expires, user);
        // "+5:07" parses like "5:7" but is signed differently by a TURN
        // server that hashes the text; only the form handed out is taken.
        if canonical != username {
            return Err(TurnRefusal::Malformed);
        }
        Ok((user, password))
    }

    /// The STUN and TURN URLs handed out: the configured ones, or, for a
    /// list left empty while the embedded relay runs, its URLs on
    /// `public_host` or else `request_host` (the `Host` the client used).
    fn urls(&self, request_host: Option<&str>) -> (Vec<String>, Vec<String>) {
        let (mut stun, mut turn) = (self.stun_urls.clone(), self.turn_urls.clone());
        let Some(relay) = &self.embedded else { return (stun, turn) };
        let host = if relay.public_host.is_empty() { request_host } else { Some(relay.public_host.as_str()) };
        let Some(host) = host else { return (stun, turn) };
        let port = relay.port;
        if stun.is_empty() {
            stun.push(format!("stun:{host}:{port}"));
        }
        if turn.is_empty() {
            turn.push(format!("turn:{host}:{port}?transport=udp"));
            if relay.tcp {
                turn.push(format!("turn:{host}:{port}?transport=tcp"));
            }
        }
        (stun, turn)
    }

    /// What `user` configures its peer connections with at `now_secs`:
    /// one entry for the STUN URLs (no credentials), one for the TURN URLs
    /// with credentials valid for the configured TTL; none for an empty list.
    /// `request_host` is the host (without port) the client reached this
    /// server at, for the embedded relay's default URLs.
    pub fn for_user(&self, user: UserId, now_secs: i64, request_host: Option<&str>) -> api::IceServers {
        let (stun_urls, turn_urls) = self.urls(request_host);
        let mut ice_servers = Vec::with_capacity(2);
        if !stun_urls.is_empty() {
            ice_servers.push(api::IceServer { urls: stun_urls, username: None, credential: None });
        }
        if !turn_urls.is_empty() {
            // The TTL is validated to at most a week: no overflow.
            let (username, credential) = credential(&self.secret, now_secs + self.ttl_secs as i64, user);
            ice_servers.push(api::IceServer {
                urls: turn_urls,
                username: Some(username),
                credential: Some(credential),
            });
        }
        api::IceServers { ice_servers, ttl: self.ttl_secs }
    }
}

/// The TURN REST API credential of `user` expiring at `expires` (Unix
/// seconds): `(username, credential)`.
pub fn credential(secret: &[u8], expires: i64, user: UserId) -> (String, String) {
    let username = format!("{expires}:{user}");
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let credential = STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_an_independent_hmac_sha1() {
        // Computed outside Rust, with Python's standard library:
        //   base64.b64encode(hmac.new(b"north-sea-ferry", b"1700086400:42",
        //                             hashlib.sha1).digest())
        let (username, credential) = credential(b"north-sea-ferry", 1_700_086_400, 42);
        assert_eq!(username, "1700086400:42");
        assert_eq!(credential, "0b3fAp6rn1UY2Qk8qlfBll0uTtQ=");
    }

    fn service(stun: &[&str], turn: &[&str]) -> IceServers {
        IceServers {
            secret: b"north-sea-ferry".to_vec(),
            ttl_secs: 86_400,
            stun_urls: stun.iter().map(|s| s.to_string()).collect(),
            turn_urls: turn.iter().map(|s| s.to_string()).collect(),
            embedded: None,
        }
    }

    #[test]
    fn stun_comes_without_credentials_and_turn_with_them() {
        let s = service(&["stun:a.example:3478"], &["turn:a.example:3478?transport=udp", "turns:a.example:5349"]);
        let answer = s.for_user(42, 1_700_000_000, Some("ferry.example"));
        assert_eq!(answer.ttl, 86_400);
        let [stun, turn] = &answer.ice_servers[..] else { panic!("two entries: {answer:?}") };
        assert_eq!(stun.urls, ["stun:a.example:3478"]);
        assert_eq!((&stun.username, &stun.credential), (&None, &None));
        assert_eq!(turn.urls.len(), 2);
        assert_eq!(turn.username.as_deref(), Some("1700086400:42"));
        assert_eq!(turn.credential.as_deref(), Some("0b3fAp6rn1UY2Qk8qlfBll0uTtQ="));
    }

    #[test]
    fn empty_lists_give_no_entries() {
        assert!(service(&[], &[]).for_user(1, 0, Some("ferry.example")).ice_servers.is_empty());
        let only_turn = service(&[], &["turn:a.example"]).for_user(1, 0, None);
        assert_eq!(only_turn.ice_servers.len(), 1);
        assert!(only_turn.ice_servers[0].credential.is_some());
    }

    #[test]
    fn the_embedded_relay_fills_empty_lists_with_its_own_urls() {
        let mut s = service(&[], &[]);
        s.embedded = Some(Embedded { public_host: String::new(), port: 3478, tcp: true });
        let answer = s.for_user(7, 0, Some("chat.example"));
        let [stun, turn] = &answer.ice_servers[..] else { panic!("two entries: {answer:?}") };
        assert_eq!(stun.urls, ["stun:chat.example:3478"]);
        assert_eq!(turn.urls, ["turn:chat.example:3478?transport=udp", "turn:chat.example:3478?transport=tcp"]);
        // Without a host to name there is nothing to hand out.
        assert!(s.for_user(7, 0, None).ice_servers.is_empty());
        // A configured public host wins; configured lists are kept as they are.
        let mut s = service(&["stun:other.example"], &[]);
        s.embedded = Some(Embedded { public_host: "relay.example".into(), port: 3479, tcp: false });
        let answer = s.for_user(7, 0, Some("chat.example"));
        assert_eq!(answer.ice_servers[0].urls, ["stun:other.example"]);
        assert_eq!(answer.ice_servers[1].urls, ["turn:relay.example:3479?transport=udp"]);
    }

    #[test]
    fn turn_passwords_are_given_only_for_current_well_formed_usernames() {
        let s = service(&[], &[]);
        let (username, password) = credential(b"north-sea-ferry", 1_700_086_400, 42);
        assert_eq!(s.turn_password(&username, 1_700_086_400), Ok((42, password)));
        assert_eq!(s.turn_password(&username, 1_700_086_401), Err(TurnRefusal::Expired));
        for bad in
            ["", "1700086400", "1700086400:", ":42", "x:42", "1700086400:alice", "+1700086400:42", "1700086400:042"]
        {
            assert_eq!(s.turn_password(bad, 0), Err(TurnRefusal::Malformed), "{bad:?}");
        }
    }
}
