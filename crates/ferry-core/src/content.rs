//! Validation of rich message content: the client-supplied parts of image,
//! file, voice, video, location, link and custom messages that the server
//! checks before it admits a message.
//!
//! Every function is pure. It accepts a value or returns an [`ApiError`] with
//! code `invalid_argument` whose message names the field (callers pass its
//! path, e.g. `"image.file.sha256"`) and the rule it broke. Messages never echo
//! the value, which may be long or hostile. Whether a field is required is the
//! caller's business: the free-text checks accept `""`, proto3's "absent".
//!
//! The checks are syntactic only. [`url`] in particular says nothing about
//! where a URL points: anything that fetches one (link previews) must still
//! guard against requests to private addresses.

use std::fmt::Display;
use std::net::Ipv6Addr;

use crate::error::ApiError;

/// Longest file id, in characters of ASCII `[A-Za-z0-9_-]`.
pub const MAX_FILE_ID_CHARS: usize = 64;
/// Length of a SHA-256 digest written as lowercase hex.
pub const SHA256_HEX_CHARS: usize = 64;
/// Largest file, in bytes: 4 GiB.
pub const MAX_FILE_BYTES: i64 = 4 * 1024 * 1024 * 1024;
/// Longest MIME type or subtype name, in characters.
pub const MAX_MIME_PART_CHARS: usize = 63;
/// Longest whole MIME type (`type/subtype`), in characters.
pub const MAX_MIME_CHARS: usize = 127;
/// Longest file name, in characters (not bytes).
pub const MAX_FILE_NAME_CHARS: usize = 255;
/// Largest image or video width or height, in pixels.
pub const MAX_DIMENSION: u32 = 65_535;
/// Longest voice or video clip, in milliseconds: 24 hours.
pub const MAX_DURATION_MS: u32 = 24 * 60 * 60 * 1000;
/// Most samples in a voice message's waveform preview.
pub const MAX_WAVEFORM: usize = 256;
/// Longest title, address or link title, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest custom message type, in characters of `[a-z0-9_.-]`.
pub const MAX_CUSTOM_TYPE_CHARS: usize = 64;
/// Largest custom message payload, in bytes of JSON: 16 KiB.
pub const MAX_CUSTOM_PAYLOAD_BYTES: usize = 16 * 1024;

/// DNS limits (RFC 1035) applied to URL host names.
const MAX_HOST_BYTES: usize = 253;
const MAX_HOST_LABEL_BYTES: usize = 63;

/// A file id: 1 to [`MAX_FILE_ID_CHARS`] ASCII letters, digits, `_` or `-`.
pub fn file_id(field: &str, id: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_FILE_ID_CHARS).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    check(ok, field, format_args!("must be 1-{MAX_FILE_ID_CHARS} characters of letters, digits, '_' or '-'"))
}

/// A SHA-256 digest: exactly 64 lowercase hex digits. Upper case is refused
/// so that one digest has one spelling and can be compared as a string.
pub fn sha256_hex(field: &str, s: &str) -> Result<(), ApiError> {
    let ok = s.len() == SHA256_HEX_CHARS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    check(ok, field, format_args!("must be {SHA256_HEX_CHARS} lowercase hex digits"))
}

/// A file size: 1 to [`MAX_FILE_BYTES`] bytes.
pub fn file_size(field: &str, size: i64) -> Result<(), ApiError> {
    check((1..=MAX_FILE_BYTES).contains(&size), field, format_args!("must be 1-{MAX_FILE_BYTES} bytes"))
}

/// A MIME type `type/subtype` after RFC 6838: each part 1 to
/// [`MAX_MIME_PART_CHARS`] of `[A-Za-z0-9!#$&^_.+-]`, starting with a letter or
/// digit. Parameters (`; charset=...`) are refused. Case is kept as given;
/// compare with `eq_ignore_ascii_case`.
pub fn mime(field: &str, m: &str) -> Result<(), ApiError> {
    let part_ok = |p: &str| {
        (1..=MAX_MIME_PART_CHARS).contains(&p.len())
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let ok = m.len() <= MAX_MIME_CHARS && m.split_once('/').is_some_and(|(t, s)| part_ok(t) && part_ok(s));
    check(ok, field, "must be a MIME type 'type/subtype' without parameters")
}

/// A file name as shown to the recipient: 1 to [`MAX_FILE_NAME_CHARS`]
/// characters of any script, with no control characters, no path separators
/// and not `.` or `..`, so that a client saving it cannot leave its directory.
pub fn file_name(field: &str, name: &str) -> Result<(), ApiError> {
    let len_ok = (1..=MAX_FILE_NAME_CHARS).contains(&name.chars().count());
    check(len_ok, field, format_args!("must be 1-{MAX_FILE_NAME_CHARS} characters"))?;
    let clean = !name.chars().any(|c| c.is_control() || is_bidi_control(c) || c == '/' || c == '\\');
    check(clean, field, "must not contain control or text-direction characters, '/' or '\\'")?;
    check(name != "." && name != "..", field, "must not be '.' or '..'")
}

/// Unicode text-direction overrides and isolates: in a file name they
/// disguise the extension ("invoice\u{202E}fdp.exe" shows as "invoiceexe.pdf").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// An image or video width or height: 1 to [`MAX_DIMENSION`] pixels.
pub fn dimension(field: &str, px: u32) -> Result<(), ApiError> {
    check((1..=MAX_DIMENSION).contains(&px), field, format_args!("must be 1-{MAX_DIMENSION} pixels"))
}

/// A voice or video duration: 1 ms to [`MAX_DURATION_MS`].
pub fn duration_ms(field: &str, ms: u32) -> Result<(), ApiError> {
    check((1..=MAX_DURATION_MS).contains(&ms), field, format_args!("must be 1-{MAX_DURATION_MS} milliseconds"))
}

/// A voice waveform preview: at most [`MAX_WAVEFORM`] samples (none is fine).
pub fn waveform(field: &str, w: &[u8]) -> Result<(), ApiError> {
    check(w.len() <= MAX_WAVEFORM, field, format_args!("must have at most {MAX_WAVEFORM} samples"))
}

/// A location in degrees: finite, latitude in [-90, 90], longitude in
/// [-180, 180]. Errors name `location.latitude` / `location.longitude`.
pub fn coordinates(lat: f64, lon: f64) -> Result<(), ApiError> {
    // `contains` is already false for NaN; `is_finite` says so out loud.
    let lat_ok = lat.is_finite() && (-90.0..=90.0).contains(&lat);
    check(lat_ok, "location.latitude", "must be a number of degrees in [-90, 90]")?;
    let lon_ok = lon.is_finite() && (-180.0..=180.0).contains(&lon);
    check(lon_ok, "location.longitude", "must be a number of degrees in [-180, 180]")
}

/// A one-line text (title, address, link title): at most `max_chars`
/// characters and no control characters at all. Use [`MAX_TITLE_CHARS`]
/// unless the field documents another bound.
pub fn short_text(field: &str, s: &str, max_chars: usize) -> Result<(), ApiError> {
    free_text(field, s, max_chars, &[], "must not contain control characters")
}

/// A multi-line description: at most [`MAX_DESCRIPTION_CHARS`] characters;
/// newline and tab are the only control characters allowed.
pub fn description(field: &str, s: &str) -> Result<(), ApiError> {
    let rule = "must not contain control characters other than newline and tab";
    free_text(field, s, MAX_DESCRIPTION_CHARS, &['\n', '\t'], rule)
}

/// A link: at most [`MAX_URL_BYTES`], scheme `http://` or `https://` (any
/// case), then a host, an optional `:port` (1-65535), and an optional
/// path/query/fragment without whitespace or control characters.
///
/// The host is an ASCII DNS name (dot-separated labels of 1-63 letters, digits
/// or inner `-`; IPv4 addresses fit this) or a bracketed IPv6 address.
/// Non-ASCII hosts are refused: clients send internationalised names in
/// punycode (`xn--...`), where a look-alike of a familiar name stands out.
/// User info is refused too: `https://bank.example@evil.example` is a classic
/// disguise.
pub fn url(field: &str, u: &str) -> Result<(), ApiError> {
    check(u.len() <= MAX_URL_BYTES, field, format_args!("must be at most {MAX_URL_BYTES} bytes"))?;
    let rest = strip_prefix_ignore_case(u, "https://").or_else(|| strip_prefix_ignore_case(u, "http://"));
    let Some(rest) = rest else {
        return check(false, field, "must start with http:// or https://");
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let rule = "must have an ASCII host name or bracketed IPv6 address, and optionally a port 1-65535";
    check(authority_ok(authority), field, rule)?;
    check(!tail.chars().any(|c| c.is_whitespace() || c.is_control()), field, "must not contain whitespace or controls")
}

/// A custom message type: 1 to [`MAX_CUSTOM_TYPE_CHARS`] of `[a-z0-9_.-]`,
/// e.g. `com.example.poll`. Errors name `custom.type`.
pub fn custom_type(t: &str) -> Result<(), ApiError> {
    let ok = (1..=MAX_CUSTOM_TYPE_CHARS).contains(&t.len())
        && t.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    check(ok, "custom.type", format_args!("must be 1-{MAX_CUSTOM_TYPE_CHARS} characters of a-z, 0-9, '_', '.', '-'"))
}

/// A custom message payload: at most [`MAX_CUSTOM_PAYLOAD_BYTES`] of JSON
/// whose top level is an object, so that it can grow new keys later. Errors
/// name `custom.payload`.
pub fn custom_payload(json: &str) -> Result<(), ApiError> {
    let (field, max) = ("custom.payload", MAX_CUSTOM_PAYLOAD_BYTES);
    check(json.len() <= max, field, format_args!("must be at most {max} bytes"))?;
    // serde_json caps nesting depth at 128, so a hostile payload cannot
    // exhaust the stack.
    let object = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json);
    check(object.is_ok(), field, "must be a JSON object")
}

/// Longest reaction, in bytes of UTF-8 (room for ZWJ sequences and flags).
pub const MAX_EMOJI_BYTES: usize = 32;

/// A reaction: 1 to [`MAX_EMOJI_BYTES`] bytes with no whitespace or control
/// characters and at least one character beyond ASCII (an emoji, not a
/// word; keycaps like `1️⃣` carry U+FE0F/U+20E3). Errors name `emoji`.
pub fn emoji(e: &str) -> Result<(), ApiError> {
    let field = "emoji";
    check((1..=MAX_EMOJI_BYTES).contains(&e.len()), field, format_args!("must be 1-{MAX_EMOJI_BYTES} bytes"))?;
    check(!e.chars().any(|c| c.is_whitespace() || c.is_control()), field, "must not contain whitespace or controls")?;
    check(!e.is_ascii(), field, "must be an emoji")
}

/// `Ok(())` if `ok`, else `invalid_argument` with "`field` `rule`".
fn check(ok: bool, field: &str, rule: impl Display) -> Result<(), ApiError> {
    if ok { Ok(()) } else { Err(ApiError::invalid(format!("{field} {rule}"))) }
}

fn free_text(field: &str, s: &str, max_chars: usize, allowed: &[char], rule: &str) -> Result<(), ApiError> {
    check(s.chars().count() <= max_chars, field, format_args!("must be at most {max_chars} characters"))?;
    check(!s.chars().any(|c| c.is_control() && !allowed.contains(&c)), field, rule)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

/// `host[:port]` or `[ipv6][:port]`, with no user info.
fn authority_ok(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let Some((addr, rest)) = bracketed.split_once(']') else { return false };
            let port = match rest.strip_prefix(':') {
                Some(port) => Some(port),
                None if rest.is_empty() => None,
                None => return false,
            };
            // std's parser is strict and refuses zone ids (`%eth0`).
            (addr.parse::<Ipv6Addr>().is_ok(), port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host_name_ok(host), Some(port)),
            None => (host_name_ok(authority), None),
        },
    };
    host_ok && port.is_none_or(port_ok)
}

fn host_name_ok(host: &str) -> bool {
    let label_ok = |l: &str| {
        (1..=MAX_HOST_LABEL_BYTES).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    host.len() <= MAX_HOST_BYTES && host.split('.').all(label_ok)
}

fn port_ok(port: &str) -> bool {
    // Digits only: `u16::from_str` would also take a leading '+'.
    port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::ErrorCode;

    /// Asserts the result is `invalid_argument` naming `field`.
    fn refused(r: Result<(), ApiError>, field: &str) {
        let e = r.expect_err("should be refused");
        assert_eq!(e.code, ErrorCode::InvalidArgument);
        assert!(e.message.starts_with(field), "{:?} does not name {field}", e.message);
    }

    #[test]
    fn emoji_are_bounded_and_not_words() {
        for ok in ["👍", "❤️", "👨‍👩‍👧‍👦", "🇨🇳", "1️⃣", "好"] {
            assert!(emoji(ok).is_ok(), "{ok}");
        }
        for bad in ["", "ok", "👍 ", "👍\n", &"👍".repeat(9)] {
            assert!(emoji(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_hashes_and_sizes() {
        assert!(file_id("f", "aZ09_-").is_ok());
        assert!(file_id("f", &"a".repeat(64)).is_ok());
        for bad in ["", "a b", "a.b", "é", &"a".repeat(65)] {
            refused(file_id("image.file.id", bad), "image.file.id");
        }
        let hash = "0123456789abcdef".repeat(4);
        assert!(sha256_hex("h", &hash).is_ok());
        for bad in [&hash.to_uppercase(), &hash[1..], &format!("{hash}0"), &hash.replace('a', "g")] {
            refused(sha256_hex("image.file.sha256", bad), "image.file.sha256");
        }
        assert!(file_size("s", 1).is_ok() && file_size("s", MAX_FILE_BYTES).is_ok());
        assert_eq!(MAX_FILE_BYTES, 4_294_967_296);
        for bad in [0, -1, MAX_FILE_BYTES + 1] {
            refused(file_size("file.size", bad), "file.size");
        }
    }

    #[test]
    fn mimes() {
        for ok in ["image/png", "IMAGE/PNG", "application/vnd.ms-excel", "audio/x-m4a", "a/b+c"] {
            assert!(mime("m", ok).is_ok(), "{ok}");
        }
        assert!(mime("m", &format!("{}/{}", "a".repeat(63), "b".repeat(63))).is_ok());
        let long = format!("{}/b", "a".repeat(64));
        for bad in ["", "image", "image/", "/png", "text/plain; charset=utf-8", "a/b/c", ".a/b", "a/-b", &long] {
            refused(mime("file.mime", bad), "file.mime");
        }
    }

    #[test]
    fn file_names() {
        for ok in ["report.pdf", "季度报告 2024.xlsx", "...", ".bashrc", &"名".repeat(255)] {
            assert!(file_name("n", ok).is_ok(), "{ok}");
        }
        for bad in
            ["", ".", "..", "a/b", "a\\b", "a\nb", "a\u{7f}", "invoice\u{202E}fdp.exe", "a\u{2067}b", &"名".repeat(256)]
        {
            refused(file_name("file.name", bad), "file.name");
        }
    }

    #[test]
    fn media_bounds() {
        assert!(dimension("d", 1).is_ok() && dimension("d", 65_535).is_ok());
        refused(dimension("image.width", 0), "image.width");
        refused(dimension("image.width", 65_536), "image.width");
        assert!(duration_ms("t", 1).is_ok() && duration_ms("t", 86_400_000).is_ok());
        refused(duration_ms("voice.duration_ms", 0), "voice.duration_ms");
        refused(duration_ms("voice.duration_ms", 86_400_001), "voice.duration_ms");
        assert!(waveform("w", &[]).is_ok() && waveform("w", &[7; 256]).is_ok());
        refused(waveform("voice.waveform", &[7; 257]), "voice.waveform");
    }

    #[test]
    fn locations() {
        for (lat, lon) in [(0.0, 0.0), (90.0, 180.0), (-90.0, -180.0), (31.2304, 121.4737)] {
            assert!(coordinates(lat, lon).is_ok(), "{lat},{lon}");
        }
        for lat in [90.0001, -90.0001, f64::NAN, f64::INFINITY] {
            refused(coordinates(lat, 0.0), "location.latitude");
        }
        for lon in [180.0001, -180.0001, f64::NAN, f64::NEG_INFINITY] {
            refused(coordinates(0.0, lon), "location.longitude");
        }
    }

    #[test]
    fn texts() {
        assert!(short_text("t", "", MAX_TITLE_CHARS).is_ok());
        assert!(short_text("t", &"标".repeat(256), MAX_TITLE_CHARS).is_ok());
        refused(short_text("link.title", &"标".repeat(257), MAX_TITLE_CHARS), "link.title");
        for bad in ["a\nb", "a\tb", "a\u{0}b", "a\u{85}b"] {
            refused(short_text("location.address", bad, MAX_TITLE_CHARS), "location.address");
        }
        assert!(description("d", "line one\n\tline two").is_ok());
        assert!(description("d", &"x".repeat(1024)).is_ok());
        refused(description("link.description", &"x".repeat(1025)), "link.description");
        refused(description("link.description", "a\rb"), "link.description");
    }

    #[test]
    fn urls() {
        #[rustfmt::skip]
        let ok = [
            "http://example.com", "HTTPS://Example.COM/a/b?q=1&r=%20#frag", "https://xn--fsqu00a.xn--0zwm56d/",
            "http://127.0.0.1:8080/", "http://[::1]:65535", "https://[2001:db8::1]/x", "https://a-b.c?x",
            "https://example.com/路径",
        ];
        for u in ok {
            assert!(url("u", u).is_ok(), "{u}");
        }
        let long = format!("https://e.com/{}", "a".repeat(MAX_URL_BYTES - 13));
        assert!(url("u", &long[..MAX_URL_BYTES]).is_ok());
        #[rustfmt::skip]
        let bad = [
            "", "http://", "https:///path", "javascript:alert(1)", "ftp://example.com", "http:/example.com",
            "https://例子.测试", "http://user@example.com", "http://user:pw@example.com", "http://a..b",
            "http://.a", "http://a.", "http://-a.com", "http://a-.com", "http://a b.com", "http://a.com:",
            "http://a.com:0", "http://a.com:65536", "http://a.com:+80", "http://[::1", "http://[::1]x",
            "http://[1.2.3.4]", "http://[fe80::1%25eth0]", "http://a.com/a b", "http://a.com/\u{7}", &long,
        ];
        for u in bad {
            refused(url("link.url", u), "link.url");
        }
        assert!(url("u", &format!("http://{}.com", "a".repeat(63))).is_ok());
        refused(url("link.url", &format!("http://{}.com", "a".repeat(64))), "link.url");
    }

    #[test]
    fn customs() {
        assert!(custom_type("com.example.poll_v2-b").is_ok() && custom_type(&"a".repeat(64)).is_ok());
        for bad in ["", "Poll", "a b", "a/b", &"a".repeat(65)] {
            refused(custom_type(bad), "custom.type");
        }
        assert!(custom_payload("{}").is_ok() && custom_payload(r#"{"a":[1,{"b":null}]}"#).is_ok());
        let pad = MAX_CUSTOM_PAYLOAD_BYTES - r#"{"a":""}"#.len();
        assert!(custom_payload(&format!(r#"{{"a":"{}"}}"#, "x".repeat(pad))).is_ok());
        let too_big = format!(r#"{{"a":"{}"}}"#, "x".repeat(pad + 1));
        for bad in ["", "[]", "[{}]", "1", "\"s\"", "null", "{", "{} {}", &too_big] {
            refused(custom_payload(bad), "custom.payload");
        }
    }

    proptest! {
        #[test]
        fn file_id_alphabet(id in "[A-Za-z0-9_-]{1,64}") {
            prop_assert!(file_id("f", &id).is_ok());
        }

        #[test]
        fn file_id_refuses_any_other_char(
            id in "[A-Za-z0-9_-]{0,63}",
            at in any::<prop::sample::Index>(),
            c in any::<char>().prop_filter("outside the alphabet", |c| !c.is_ascii_alphanumeric() && !"_-".contains(*c)),
        ) {
            let mut chars: Vec<char> = id.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            prop_assert!(file_id("f", &chars.into_iter().collect::<String>()).is_err());
        }

        #[test]
        fn url_never_panics(s in "\\PC*", tail in "\\PC{0,40}") {
            let _ = url("u", &s);
            let _ = url("u", &format!("https://{tail}"));
        }
    }
}
