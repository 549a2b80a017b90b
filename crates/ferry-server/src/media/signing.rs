//! What the file service signs with its secret (HMAC-SHA256, the key shared
//! by every node through the store): download URLs that work without an
//! Authorization header, and instant-upload challenges, which therefore
//! need no server-side state.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ferry_core::{ApiError, ErrorCode, UserId};
use ferry_store::Sha256;
use hmac::{Hmac, Mac};

type HmacSha256 = Hmac<sha2::Sha256>;

/// Bytes of the MAC kept in URLs and tokens (128 bits).
const MAC_BYTES: usize = 16;

/// How long an instant-upload challenge may be answered.
const CHALLENGE_TTL_MS: i64 = 5 * 60 * 1000;

/// Most bytes a challenge asks the client to hash.
const CHALLENGE_BYTES: u64 = 64 * 1024;

/// Signs and checks with the service's key.
pub struct Signer {
    key: Vec<u8>,
}

/// An instant-upload challenge: hash `nonce ‖ content[offset..offset+length]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub token: String,
    pub nonce: [u8; 16],
    pub offset: u64,
    pub length: u64,
    pub expires_at: i64,
    pub sha256: Sha256,
    pub size: u64,
}

impl Signer {
    pub fn new(key: Vec<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; MAC_BYTES] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    fn url_mac(&self, id: &str, user: UserId, expires: i64) -> [u8; MAC_BYTES] {
        self.mac(&[b"file-url", id.as_bytes(), &user.to_be_bytes(), &expires.to_be_bytes()])
    }

    /// A signed URL of file `id` (or its thumbnail) for `user`, and when it
    /// expires (ms). The expiry is rounded up to a half-TTL boundary, so a
    /// URL handed out twice in a row is the same URL (browser caches hit)
    /// and lives between half the TTL and the TTL.
    pub fn url(&self, user: UserId, id: &str, thumbnail: bool, ttl_secs: u64, now_ms: i64) -> (String, i64) {
        let half = (ttl_secs.max(2) / 2) as i64;
        let expires = (now_ms / 1000 / half + 2) * half;
        let sig = URL_SAFE_NO_PAD.encode(self.url_mac(id, user, expires));
        let suffix = if thumbnail { "/thumbnail" } else { "" };
        (format!("/api/v1/files/{id}{suffix}?u={user}&e={expires}&s={sig}"), expires * 1000)
    }

    /// Checks a signed URL's parameters; returns the user it was issued to.
    pub fn verify(&self, id: &str, user: UserId, expires: i64, sig: &str, now_ms: i64) -> Result<UserId, ApiError> {
        let good = URL_SAFE_NO_PAD.decode(sig).is_ok_and(|s| same(&s, &self.url_mac(id, user, expires)));
        if !good {
            return Err(ApiError::not_found("no such file"));
        }
        if expires * 1000 <= now_ms {
            return Err(ApiError::new(ErrorCode::Expired, "this link expired; ask for a new one"));
        }
        Ok(user)
    }

    /// A challenge on a random range of content `(sha256, size)` for `user`.
    pub fn challenge(&self, user: UserId, sha256: Sha256, size: u64, now_ms: i64) -> Challenge {
        let length = size.min(CHALLENGE_BYTES);
        let offset = if size > length { rand::random_range(0..=size - length) } else { 0 };
        let nonce: [u8; 16] = rand::random();
        let expires_at = now_ms + CHALLENGE_TTL_MS;
        let mut body = Vec::with_capacity(88 + MAC_BYTES);
        body.extend_from_slice(&user.to_be_bytes());
        body.extend_from_slice(&sha256);
        for n in [size, offset, length] {
            body.extend_from_slice(&n.to_be_bytes());
        }
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&expires_at.to_be_bytes());
        let mac = self.mac(&[b"instant", &body]);
        body.extend_from_slice(&mac);
        Challenge { token: URL_SAFE_NO_PAD.encode(&body), nonce, offset, length, expires_at, sha256, size }
    }

    /// Opens a challenge token `user` sends back: it must be this server's,
    /// issued to `user`, and not expired.
    pub fn open_challenge(&self, user: UserId, token: &str, now_ms: i64) -> Result<Challenge, ApiError> {
        let refuse = || ApiError::invalid("token: not a challenge of this server for you");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| refuse())?;
        if bytes.len() != 88 + MAC_BYTES {
            return Err(refuse());
        }
        let (body, mac) = bytes.split_at(88);
        if !same(mac, &self.mac(&[b"instant", body])) {
            return Err(refuse());
        }
        let int = |at: usize| i64::from_be_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        if int(0) != user {
            return Err(refuse());
        }
        let expires_at = int(80);
        if expires_at <= now_ms {
            return Err(ApiError::new(ErrorCode::Expired, "the challenge expired; ask for a new one"));
        }
        Ok(Challenge {
            token: token.to_string(),
            sha256: body[8..40].try_into().expect("32 bytes"),
            size: int(40) as u64,
            offset: int(48) as u64,
            length: int(56) as u64,
            nonce: body[64..80].try_into().expect("16 bytes"),
            expires_at,
        })
    }
}

/// Compares without stopping at the first difference.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> (i64, i64, String) {
        let q = url.split_once('?').unwrap().1;
        let get = |k: &str| q.split('&').find_map(|p| p.strip_prefix(&format!("{k}="))).unwrap().to_string();
        (get("u").parse().unwrap(), get("e").parse().unwrap(), get("s"))
    }

    #[test]
    fn urls_verify_for_their_file_and_user_until_they_expire() {
        let s = Signer::new(b"secret".to_vec());
        let now = 1_700_000_000_000;
        let (url, exp_ms) = s.url(7, "abc", false, 3600, now);
        assert!(url.starts_with("/api/v1/files/abc?u=7&e="));
        let (u, e, sig) = query(&url);
        assert!(exp_ms >= now + 1800 * 1000 && exp_ms <= now + 3600 * 1000);
        assert_eq!(s.verify("abc", u, e, &sig, now).unwrap(), 7);
        assert_eq!(s.url(7, "abc", false, 3600, now + 1000).0, url, "stable within the half-TTL");
        assert_eq!(s.verify("abd", u, e, &sig, now).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(s.verify("abc", 8, e, &sig, now).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(s.verify("abc", u, e + 1, &sig, now).unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(s.verify("abc", u, e, &sig, exp_ms).unwrap_err().code, ErrorCode::Expired);
        let other = Signer::new(b"other".to_vec());
        assert!(other.verify("abc", u, e, &sig, now).is_err());
    }

    #[test]
    fn challenges_round_trip_only_for_their_user_and_in_time() {
        let s = Signer::new(b"secret".to_vec());
        let c = s.challenge(3, [9; 32], 1_000_000, 0);
        assert_eq!(c.length, CHALLENGE_BYTES);
        assert!(c.offset + c.length <= 1_000_000);
        assert_eq!(s.open_challenge(3, &c.token, 1).unwrap(), c);
        assert!(s.open_challenge(4, &c.token, 1).is_err());
        assert_eq!(s.open_challenge(3, &c.token, c.expires_at).unwrap_err().code, ErrorCode::Expired);
        let mut forged = URL_SAFE_NO_PAD.decode(&c.token).unwrap();
        forged[50] ^= 1;
        assert!(s.open_challenge(3, &URL_SAFE_NO_PAD.encode(forged), 1).is_err());
        let small = s.challenge(3, [9; 32], 10, 0);
        assert_eq!((small.offset, small.length), (0, 10));
    }
}
