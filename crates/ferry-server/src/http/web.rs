//! The browser client, served as the router's fallback for GET and HEAD.
//!
//! `web/` is built by `npm run build` into `web/dist/`, which is committed
//! and embedded here at compile time (debug builds read it from disk at run
//! time instead), so a machine with only the Rust toolchain serves the app.
//!
//! - `/`, and any path whose last segment has no extension that is no file
//!   of the bundle (the client's own routes, `/chat/d_1_2`): `index.html`,
//!   revalidated on every load (`no-cache`).
//! - `assets/*` (content-hashed names): cached for a year, immutable; other
//!   files (`favicon.svg`) for an hour.
//! - Precompressed: `x.br` and `x.gz` beside `x` (web/scripts/compress.mjs)
//!   are sent for `x` as the request's `Accept-Encoding` allows, never under
//!   their own names; nothing is compressed per request.
//! - `ETag` from the content's SHA-256, one per encoding; `If-None-Match`
//!   answers 304.
//! - Anything else — a missing file, `/api/…`, `/ws/…` — is the API's JSON
//!   404.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles
//! and connections only from this origin; Chromium's `'self'` covers the
//! same-origin `ws:`/`wss:` of `/ws`) and the usual hardening headers.

use std::borrow::Cow;

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rust_embed::{Embed, EmbeddedFile};

use crate::{http::routes::files::etag_matches, media::blobs::hex};

/// The built client. rust-embed resolves a relative folder against this
/// crate's directory (`CARGO_MANIFEST_DIR`); spelling that variable out would
/// take its `interpolate-folder-path` feature and another dependency.
#[derive(Embed)]
#[folder = "../../web/dist"]
struct Dist;

/// The page the client's routes load.
const INDEX: &str = "index.html";

/// First path segments that belong to the server, never to the client.
const RESERVED: [&str; 5] = ["api", "ws", "healthz", "readyz", "metrics"];

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Sent with every file: HTML and SVG can run scripts, the rest costs
/// nothing to cover too.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
    ),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
];

/// A content coding the bundle may hold a file in, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Br,
    Gzip,
    Identity,
}

impl Encoding {
    /// The precompressed codings, in the server's order of preference.
    const COMPRESSED: [Encoding; 2] = [Encoding::Br, Encoding::Gzip];

    /// The suffix of the sibling file holding this coding.
    fn suffix(self) -> &'static str {
        match self {
            Encoding::Br => ".br",
            Encoding::Gzip => ".gz",
            Encoding::Identity => "",
        }
    }

    /// What the ETag of this coding ends with.
    fn tag(self) -> &'static str {
        match self {
            Encoding::Br => "-br",
            Encoding::Gzip => "-gz",
            Encoding::Identity => "",
        }
    }

    fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
            Encoding::Identity => "identity",
        }
    }
}

/// The fallback handler: a file of the client, or the API's 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return super::not_found().await.into_response();
    }
    match resolve(uri.path()) {
        Some((name, file)) => respond(&name, file, &headers, method == Method::HEAD),
        None => super::not_found().await.into_response(),
    }
}

/// The bundle file that answers `path`, with its name in the bundle.
fn resolve(path: &str) -> Option<(Cow<'static, str>, EmbeddedFile)> {
    let rel = path.strip_prefix('/').unwrap_or(path);
    if rel.split('/').next().is_some_and(|first| RESERVED.contains(&first)) {
        return None;
    }
    // Debug builds read the disk: nothing that could step outside dist/.
    if rel.split('/').any(|s| s == "." || s == "..") || rel.contains('\\') {
        return None;
    }
    // The precompressed copies are representations of their original only.
    if Encoding::COMPRESSED.iter().any(|e| rel.ends_with(e.suffix())) {
        return None;
    }
    if !rel.is_empty()
        && let Some(file) = Dist::get(rel)
    {
        return Some((Cow::Owned(rel.to_owned()), file));
    }
    let last = rel.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return None;
    }
    Dist::get(INDEX).map(|file| (Cow::Borrowed(INDEX), file))
}

/// Builds the answer for the bundle file `name` (`file` is its original).
fn respond(name: &str, file: EmbeddedFile, request: &HeaderMap, head: bool) -> Response {
    let variants: Vec<(Encoding, EmbeddedFile)> = Encoding::COMPRESSED
        .into_iter()
        .filter_map(|e| Dist::get(&format!("{name}{}", e.suffix())).map(|f| (e, f)))
        .collect();
    let accept = request.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let encoding = choose(accept, variants.iter().map(|(e, _)| *e));
    // One tag per representation (the original's hash, 128 bits, and the
    // coding), so a cache never takes one coding's bytes for another's.
    let etag = format!("\"{}{}\"", hex(&file.metadata.sha256_hash()[..16]), encoding.tag());

    let mut out = HeaderMap::new();
    for (name, value) in SECURITY_HEADERS {
        out.insert(name, HeaderValue::from_static(value));
    }
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(name)));
    // A file with precompressed copies is answered by coding; one without
    // (too small to gain) is the same for everyone.
    if !variants.is_empty() {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, v);
    }
    if let Some(tags) = request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && etag_matches(tags, &etag, true)
    {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }

    if let Ok(v) = HeaderValue::from_str(&content_type(file.metadata.mimetype())) {
        out.insert(header::CONTENT_TYPE, v);
    }
    if encoding != Encoding::Identity {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding.token()));
    }
    let data = match variants.into_iter().find(|(e, _)| *e == encoding) {
        Some((_, variant)) => variant.data,
        None => file.data,
    };
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
    let body = if head { Body::empty() } else { Body::from(bytes(data)) };
    (out, body).into_response()
}

/// The MIME type, with the charset for text (the bundle is UTF-8).
fn content_type(mime: &str) -> Cow<'_, str> {
    let text = mime.starts_with("text/") || mime.ends_with("javascript") || mime.ends_with("json");
    if text { Cow::Owned(format!("{mime}; charset=utf-8")) } else { Cow::Borrowed(mime) }
}

/// How long a browser may keep `name` without asking again.
fn cache_control(name: &str) -> &'static str {
    if name == INDEX {
        "no-cache"
    } else if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    }
}

/// The coding to send among `available` (the original is always there):
/// the acceptable one (q > 0) with the highest q, ties going to the
/// server's preference; the original when none is.
fn choose(accept_encoding: &str, available: impl Iterator<Item = Encoding>) -> Encoding {
    let mut best = (0.0, Encoding::Identity);
    for encoding in available {
        let q = quality(accept_encoding, encoding);
        if q > best.0 {
            best = (q, encoding);
        }
    }
    best.1
}

/// The q-value `accept_encoding` gives `encoding`: its own entry, else
/// `*`'s, else 0 (RFC 9110 §12.5.3).
fn quality(accept_encoding: &str, encoding: Encoding) -> f32 {
    let mut wildcard = None;
    for entry in accept_encoding.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let q = parts
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .map_or(Some(1.0), |v| v.parse::<f32>().ok())
            .unwrap_or(0.0);
        let matches = coding.eq_ignore_ascii_case(encoding.token())
            || (encoding == Encoding::Gzip && coding.eq_ignore_ascii_case("x-gzip"));
        if matches {
            return q;
        }
        if coding == "*" {
            wildcard = Some(q);
        }
    }
    wildcard.unwrap_or(0.0)
}

fn bytes(data: Cow<'static, [u8]>) -> Bytes {
    match data {
        Cow::Borrowed(b) => Bytes::from_static(b),
        Cow::Owned(v) => Bytes::from(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_for(path: &str) -> Option<String> {
        resolve(path).map(|(name, _)| name.into_owned())
    }

    #[test]
    fn client_routes_load_the_index_and_server_paths_stay_the_servers() {
        for path in ["/", "/chat/d_1_2", "/contacts", "/assets", "/settings/", "//"] {
            assert_eq!(name_for(path).as_deref(), Some(INDEX), "{path}");
        }
        assert_eq!(name_for("/favicon.svg").as_deref(), Some("favicon.svg"));
        assert_eq!(name_for("/index.html").as_deref(), Some(INDEX));
        for path in [
            "/api",
            "/api/v1/nope",
            "/ws",
            "/ws/x",
            "/healthz",
            "/readyz",
            "/metrics",
            "/x.png",
            "/assets/nope.js",
            "/.env",
            "/index.html.gz",
            "/index.html.br",
            "/../Cargo.toml",
            "/assets/../index.html",
            "/./index.html",
            "/..\\Cargo.toml",
        ] {
            assert_eq!(name_for(path), None, "{path}");
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_the_index_revalidates() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(cache_control("assets/index-CHvtTHT5.js"), "public, max-age=31536000, immutable");
        assert_eq!(cache_control("favicon.svg"), "public, max-age=3600");
    }

    #[test]
    fn accept_encoding_picks_the_best_acceptable_coding() {
        use Encoding::*;
        let both = || [Br, Gzip].into_iter();
        for (accept, want) in [
            ("gzip, deflate, br, zstd", Br),
            ("gzip", Gzip),
            ("x-gzip", Gzip),
            ("BR", Br),
            ("br;q=0, gzip", Gzip),
            ("br; q=0.0, gzip;q=0.5", Gzip),
            ("gzip;q=0, br;q=0", Identity),
            ("gzip;q=1, br;q=0.5", Gzip),
            ("gzip;q=0.8, br;q=0.8", Br),
            ("*", Br),
            ("*;q=0", Identity),
            ("br;q=0, *", Gzip),
            ("identity", Identity),
            ("deflate", Identity),
            ("", Identity),
            ("br;q=nonsense, gzip", Gzip),
        ] {
            assert_eq!(choose(accept, both()), want, "{accept:?}");
        }
        assert_eq!(choose("br", [Gzip].into_iter()), Identity);
        assert_eq!(choose("br, gzip", [Gzip].into_iter()), Gzip);
    }

    #[test]
    fn text_types_say_their_charset() {
        assert_eq!(content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(content_type("text/javascript"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("image/svg+xml"), "image/svg+xml");
    }
}
