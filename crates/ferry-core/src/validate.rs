//! Input validation and the limits it enforces.

use serde::{Deserialize, Serialize};

use crate::{
    UserId, content,
    error::{ApiError, ErrorCode},
};

/// Explicit, configurable limits. Exceeding one is an error, never a silent
/// truncation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest frame on the long connection, in bytes.
    pub max_frame_bytes: u32,
    /// Largest message text, in bytes of UTF-8.
    pub max_text_bytes: u32,
    /// Largest HTTP request body, in bytes.
    pub max_http_body_bytes: u32,
    /// Largest page a sync pull returns.
    pub max_pull_limit: u32,
    /// Longest client_msg_id, in bytes.
    pub max_client_msg_id_bytes: u32,
    /// Frames per second one connection may send (burst: 2x).
    pub frames_per_second: u32,
    /// Minimum password length, in characters.
    pub min_password_chars: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: 64 * 1024,
            max_text_bytes: 16 * 1024,
            max_http_body_bytes: 256 * 1024,
            max_pull_limit: 1000,
            max_client_msg_id_bytes: 64,
            frames_per_second: 200,
            min_password_chars: 8,
        }
    }
}

/// Usernames: 3 to 32 characters of ASCII letters, digits, `_`, `.`, `-`,
/// starting with a letter or digit. Stored and compared in lower case.
pub fn username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_ascii_lowercase();
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let ok_start = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(name)
    } else {
        Err(ApiError::invalid(
            "username must be 3-32 characters of letters, digits, '_', '.', '-', starting with a letter or digit",
        ))
    }
}

/// Passwords: at least `min_chars` characters, at most 1024 bytes, not all
/// the same character, and not equal to the username.
pub fn password(pw: &str, username: &str, min_chars: u32) -> Result<(), ApiError> {
    let weak = |m: &str| Err(ApiError::new(ErrorCode::WeakPassword, m));
    if pw.chars().count() < min_chars as usize {
        return weak(&format!("password must be at least {min_chars} characters"));
    }
    if pw.len() > 1024 {
        return weak("password must be at most 1024 bytes");
    }
    let mut chars = pw.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return weak("password must not repeat a single character");
    }
    if pw.eq_ignore_ascii_case(username) {
        return weak("password must differ from the username");
    }
    Ok(())
}

/// Platform names: a short lower-case word such as `cli`, `web`, `ios`.
pub fn platform(raw: &str) -> Result<String, ApiError> {
    let p = raw.trim().to_ascii_lowercase();
    if (1..=16).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(p)
    } else {
        Err(ApiError::invalid("platform must be 1-16 characters of letters, digits or '-'"))
    }
}

/// A client_msg_id: non-empty, at most the configured bytes, printable ASCII.
pub fn client_msg_id(id: &str, limits: &Limits) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > limits.max_client_msg_id_bytes as usize {
        return Err(ApiError::invalid(format!("client_msg_id must be 1-{} bytes", limits.max_client_msg_id_bytes)));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid("client_msg_id must be printable ASCII"));
    }
    Ok(())
}

/// A message text: non-empty after trimming and within the limit.
pub fn text(text: &str, limits: &Limits) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid("text must not be empty"));
    }
    if text.len() > limits.max_text_bytes as usize {
        return Err(ApiError::new(
            ErrorCode::TextTooLong,
            format!("text is {} bytes; the limit is {}", text.len(), limits.max_text_bytes),
        ));
    }
    Ok(())
}

/// Longest avatar value (a URL or a file id), in characters.
pub const MAX_AVATAR_CHARS: usize = 1024;

/// What an avatar value names (see [`avatar`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avatar<'a> {
    /// `""`: no avatar.
    None,
    /// An `http://` or `https://` URL (checked like a link, [`content::url`]).
    Url,
    /// A file of the files API, by id ([`content::file_id`]); who may set it
    /// is [`avatar_file`]'s rule.
    File(&'a str),
}

/// An avatar of a profile or a group: empty, an `http(s)://` URL, or a file
/// id, at most [`MAX_AVATAR_CHARS`]. The two cannot be confused: a file id
/// has no `:`. Errors name `avatar`.
pub fn avatar(value: &str) -> Result<Avatar<'_>, ApiError> {
    if value.is_empty() {
        return Ok(Avatar::None);
    }
    if value.chars().count() > MAX_AVATAR_CHARS {
        return Err(ApiError::invalid(format!("avatar must be at most {MAX_AVATAR_CHARS} characters")));
    }
    let scheme = value.get(..8).unwrap_or(value).to_ascii_lowercase();
    if scheme.starts_with("http://") || scheme.starts_with("https://") {
        return content::url("avatar", value).map(|()| Avatar::Url);
    }
    if content::file_id("avatar", value).is_ok() {
        return Ok(Avatar::File(value));
    }
    Err(ApiError::invalid("avatar must be empty, an http:// or https:// URL, or the id of an image file you uploaded"))
}

/// What [`avatar_file`] needs to know of the file an avatar names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvatarFile<'a> {
    /// The uploader.
    pub owner: UserId,
    /// The type the server sniffed from the content.
    pub mime: &'a str,
    /// Pixels, 0 when the server could not read an image size.
    pub width: u32,
    pub height: u32,
}

/// Whether `setter` may name `file` (`None`: no such file) as an avatar —
/// their own or a group's: only an image they uploaded, whose pixel size
/// the server read (an avatar file is readable by every user, so nobody
/// publishes someone else's file, or a document dressed as an image). The
/// refusal says the same whether the file is missing, someone else's or no
/// image, so it tells nothing about other people's files.
pub fn avatar_file(setter: UserId, file: Option<AvatarFile<'_>>) -> Result<(), ApiError> {
    let ok = file.is_some_and(|f| f.owner == setter && f.mime.starts_with("image/") && f.width > 0 && f.height > 0);
    if ok { Ok(()) } else { Err(ApiError::invalid("avatar must be an image file you uploaded")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Alice ").unwrap(), "alice");
        assert_eq!(username("bob.smith-2").unwrap(), "bob.smith-2");
        for bad in ["", "ab", "_x1", "has space", "ünï", &"x".repeat(33)] {
            assert_eq!(username(bad).unwrap_err().code, ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password("correct horse", "alice", 8).is_ok());
        for bad in ["", "short", "aaaaaaaaaaa", "alicealice"] {
            let user = if bad == "alicealice" { "ALICEALICE" } else { "alice" };
            assert_eq!(password(bad, user, 8).unwrap_err().code, ErrorCode::WeakPassword, "{bad}");
        }
    }

    #[test]
    fn texts_and_ids() {
        let limits = Limits { max_text_bytes: 5, ..Limits::default() };
        assert!(text("hello", &limits).is_ok());
        assert_eq!(text("hello!", &limits).unwrap_err().code, ErrorCode::TextTooLong);
        assert_eq!(text("  ", &limits).unwrap_err().code, ErrorCode::InvalidArgument);
        assert!(client_msg_id("abc-123", &limits).is_ok());
        assert!(client_msg_id("", &limits).is_err());
        assert!(client_msg_id("a b", &limits).is_err());
        assert!(client_msg_id(&"x".repeat(65), &limits).is_err());
    }

    #[test]
    fn avatars() {
        assert_eq!(avatar("").unwrap(), Avatar::None);
        for url in ["https://img.example/a.png", "http://img.example:8080/a?b=c", "HTTPS://IMG.EXAMPLE/A.PNG"] {
            assert_eq!(avatar(url).unwrap(), Avatar::Url, "{url}");
        }
        for id in ["f1", "AbC_-09", "http", &"x".repeat(64)] {
            assert_eq!(avatar(id).unwrap(), Avatar::File(id), "{id}");
        }
        let long_url = format!("https://img.example/{}", "a".repeat(MAX_AVATAR_CHARS));
        for bad in
            [" ", "f 1", "ftp://img.example/a.png", "https://", "https://u@img.example/", "data:image/png;base64,AA"]
                .into_iter()
                .chain([&"x".repeat(65) as &str, &long_url])
        {
            let e = avatar(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}");
            assert!(e.message.starts_with("avatar "), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn avatar_files() {
        let image = AvatarFile { owner: 7, mime: "image/png", width: 10, height: 20 };
        assert!(avatar_file(7, Some(image)).is_ok());
        for (why, setter, file) in [
            ("no such file", 7, None),
            ("someone else's", 8, Some(image)),
            ("not an image", 7, Some(AvatarFile { mime: "application/pdf", ..image })),
            ("no pixel size", 7, Some(AvatarFile { width: 0, ..image })),
            ("no height", 7, Some(AvatarFile { height: 0, ..image })),
        ] {
            let e = avatar_file(setter, file).unwrap_err();
            assert_eq!(
                (e.code, e.message.as_str()),
                (ErrorCode::InvalidArgument, "avatar must be an image file you uploaded"),
                "{why}"
            );
        }
    }
}
