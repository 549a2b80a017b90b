//! The browser client served at `/` from the embedded `web/dist`: the index
//! for the client's routes, caching by kind of file, precompressed codings
//! negotiated from `Accept-Encoding`, ETags, HEAD, the security headers,
//! the API's 404 for anything else, and `web.enabled = false`.
//!
//! The bundle's file names are content hashes that change with every build
//! of the client, so the tests find them in the served index.

use std::io::Read as _;

use ferry_testkit::{
    TestServer,
    http::{Answer, answer},
};
use reqwest::{Method, Response, StatusCode};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `method path` with the extra request `headers`.
async fn request(server: &TestServer, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", server.http_url()));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Response {
    request(server, Method::GET, path, headers).await
}

/// The value of header `name` ("" when absent).
fn header(resp: &Response, name: &str) -> String {
    resp.headers().get(name).map(|v| v.to_str().expect("ascii header").to_owned()).unwrap_or_default()
}

/// The index page's text.
async fn index(server: &TestServer) -> String {
    let resp = get(server, "/", &[]).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("index body")
}

/// The `/assets/…` paths the index loads (its script and stylesheets).
fn assets(index: &str) -> Vec<String> {
    let found: Vec<String> = index
        .match_indices("\"/assets/")
        .map(|(at, _)| {
            let rest = &index[at + 1..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        })
        .collect();
    assert!(found.iter().any(|p| p.ends_with(".js")), "the index loads a script from /assets/: {index}");
    found
}

/// `body` decoded from `encoding`.
fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "br" => brotli_decompressor::Decompressor::new(body, 4096).read_to_end(&mut out),
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out),
        "" => return body.to_vec(),
        other => panic!("unexpected content-encoding {other:?}"),
    }
    .expect("decodes");
    out
}

fn assert_not_found(a: &Answer, what: &str) {
    assert_eq!((a.status, a.code()), (404, "not_found"), "{what}: {:?}", a.body);
}

fn assert_security_headers(resp: &Response, what: &str) {
    assert_eq!(header(resp, "content-security-policy"), CSP, "{what}");
    assert_eq!(header(resp, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(resp, "x-frame-options"), "DENY", "{what}");
    assert_eq!(
        header(resp, "permissions-policy"),
        "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
        "{what}"
    );
}

#[tokio::test]
async fn the_index_and_every_client_route_load_the_app_uncached_under_a_strict_csp() {
    let server = TestServer::start().await;
    let page = index(&server).await;
    assert!(page.contains("<div id=\"app\">"), "{page}");
    for path in ["/", "/chat/d_1_2", "/contacts", "/index.html"] {
        let resp = get(&server, path, &[]).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8", "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-cache", "{path}");
        assert!(header(&resp, "etag").starts_with('"'), "{path}");
        assert_security_headers(&resp, path);
        let body = decode(&header(&resp, "content-encoding"), &resp.bytes().await.expect("body"));
        assert_eq!(body, page.as_bytes(), "{path} is the index");
    }

    let favicon = get(&server, "/favicon.svg", &[]).await;
    assert_eq!(favicon.status(), 200);
    assert_eq!(header(&favicon, "content-type"), "image/svg+xml");
    assert_eq!(header(&favicon, "cache-control"), "public, max-age=3600");
    assert_security_headers(&favicon, "favicon.svg");
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_each_coding_decodes_to_the_same_bytes() {
    let server = TestServer::start().await;
    let mut compressed = 0;
    for path in assets(&index(&server).await) {
        let identity = get(&server, &path, &[]).await;
        assert_eq!(identity.status(), 200, "{path}");
        assert_eq!(header(&identity, "content-encoding"), "", "{path}: no Accept-Encoding, no coding");
        assert_eq!(header(&identity, "cache-control"), IMMUTABLE, "{path}");
        let kind = header(&identity, "content-type");
        let want_kind = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => kind.as_str(),
        };
        assert!(!kind.is_empty() && kind == want_kind, "{path}: {kind}");
        let varies = header(&identity, "vary");
        let identity_tag = header(&identity, "etag");
        let original = identity.bytes().await.expect("body");
        if varies.is_empty() {
            continue; // Too small to have precompressed copies.
        }
        assert_eq!(varies, "accept-encoding", "{path}");
        compressed += 1;

        let mut tags = vec![identity_tag];
        for (accept, want) in [
            ("gzip, deflate, br, zstd", "br"),
            ("br", "br"),
            ("gzip", "gzip"),
            ("br;q=0, gzip", "gzip"),
            ("br;q=0, gzip;q=0", ""),
            ("identity", ""),
        ] {
            let resp = get(&server, &path, &[("accept-encoding", accept)]).await;
            assert_eq!(resp.status(), 200, "{path} {accept}");
            assert_eq!(header(&resp, "content-encoding"), want, "{path} {accept}");
            assert_eq!(header(&resp, "vary"), "accept-encoding", "{path} {accept}");
            assert_eq!(header(&resp, "cache-control"), IMMUTABLE, "{path} {accept}");
            assert_eq!(header(&resp, "content-type"), kind, "{path} {accept}");
            let tag = header(&resp, "etag");
            let body = resp.bytes().await.expect("body");
            if !want.is_empty() {
                assert!(body.len() < original.len(), "{path} {accept}: the {want} copy is smaller");
            }
            assert_eq!(decode(want, &body), original, "{path} {accept}: same bytes once decoded");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        assert_eq!(tags.len(), 3, "one ETag per coding: {tags:?}");

        // The precompressed copies are no resources of their own.
        for suffix in [".br", ".gz"] {
            let a = answer(get(&server, &format!("{path}{suffix}"), &[("accept-encoding", "br, gzip")]).await).await;
            assert_not_found(&a, &format!("{path}{suffix}"));
        }
    }
    assert!(compressed > 0, "the bundle's script has precompressed copies");
}

#[tokio::test]
async fn a_matching_etag_answers_304_for_that_coding_only_and_head_has_the_headers_without_a_body() {
    let server = TestServer::start().await;
    let script = assets(&index(&server).await).into_iter().find(|p| p.ends_with(".js")).expect("a script");

    for (path, accept) in [("/", "br, gzip"), (script.as_str(), "br, gzip"), (script.as_str(), "")] {
        let first = get(&server, path, &[("accept-encoding", accept)]).await;
        let tag = header(&first, "etag");
        let again = get(&server, path, &[("accept-encoding", accept), ("if-none-match", &tag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path} {accept:?}");
        assert_eq!(header(&again, "etag"), tag);
        assert_eq!(header(&again, "cache-control"), header(&first, "cache-control"));
        assert!(again.bytes().await.expect("body").is_empty());
        let listed = format!("\"other\", W/{tag}");
        let weak = get(&server, path, &[("accept-encoding", accept), ("if-none-match", &listed)]).await;
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED, "{path}: If-None-Match compares weakly");
    }
    // The brotli copy's tag does not stand for the gzip one.
    let br = get(&server, &script, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&br, "content-encoding"), "br");
    let tag = header(&br, "etag");
    let gz = get(&server, &script, &[("accept-encoding", "gzip"), ("if-none-match", &tag)]).await;
    assert_eq!((gz.status(), header(&gz, "content-encoding")), (StatusCode::OK, "gzip".to_owned()));

    for (path, accept) in [("/", ""), ("/chat/d_1_2", ""), (script.as_str(), "br"), (script.as_str(), "")] {
        let full = get(&server, path, &[("accept-encoding", accept)]).await;
        let head = request(&server, Method::HEAD, path, &[("accept-encoding", accept)]).await;
        assert_eq!(head.status(), 200, "HEAD {path}");
        for name in ["content-type", "content-encoding", "cache-control", "etag", "vary", "content-security-policy"] {
            assert_eq!(header(&head, name), header(&full, name), "HEAD {path} {accept:?}: {name}");
        }
        let length = full.bytes().await.expect("body").len();
        assert_eq!(header(&head, "content-length"), length.to_string(), "HEAD {path} {accept:?}");
        assert!(head.bytes().await.expect("body").is_empty(), "HEAD {path} has no body");
    }
}

#[tokio::test]
async fn missing_files_server_paths_and_other_methods_get_the_apis_json_404() {
    let server = TestServer::start().await;
    for path in [
        "/assets/nope.js",
        "/x.png",
        "/.env",
        "/favicon.ico",
        "/index.html.br",
        "/api/v1/nope",
        "/api",
        "/api/v2/me",
        "/ws/x",
    ] {
        let a = answer(get(&server, path, &[("accept-encoding", "br, gzip")]).await).await;
        assert_not_found(&a, path);
    }
    let a = answer(request(&server, Method::POST, "/", &[]).await).await;
    assert_not_found(&a, "POST /");
    assert_eq!(get(&server, "/healthz", &[]).await.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn with_the_client_turned_off_nothing_but_the_api_answers() {
    let server = TestServer::start_with(|c| c.web.enabled = false).await;
    for path in ["/", "/chat/d_1_2", "/index.html", "/favicon.svg"] {
        let a = answer(get(&server, path, &[]).await).await;
        assert_not_found(&a, path);
    }
    assert_eq!(get(&server, "/healthz", &[]).await.status(), 200);
}
