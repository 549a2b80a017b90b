//! `web`: people opening the browser client, which the server serves from
//! its embedded `web/dist` at `/` (ferry-server's `http/web.rs`).
//!
//! `--clients` virtual users load the page back to back for `--duration`,
//! each on a keep-alive connection of its own:
//! - cold (the default), an empty browser cache: `GET /`, then every file
//!   the index references ([`asset_paths`]), one after another, all with
//!   `Accept-Encoding: br, gzip`;
//! - `--revisit`, a warm cache: `GET /` with `If-None-Match` of the index's
//!   ETag, answered 304, and nothing else. The hashed assets are immutable
//!   and the favicon is fresh for an hour, so a browser does not ask again.
//!
//! Before the clock starts, a reference load (not measured) fetches the
//! index and every file it references twice, as the users will and as
//! `identity`: the compressed bytes must decode to the file, and a file
//! that web/scripts/compress.mjs precompresses must come as br. Every
//! measured response is then checked against that reference: the status,
//! Content-Length equal to the bytes received, the same Content-Encoding,
//! ETag and bytes. A cold load takes its asset list from the reference: its
//! index must be byte for byte the reference's, so parsing it again would
//! find the same files.
//!
//! Each user holds one HTTP/1.1 connection of its own, kept alive: C users
//! are C connections, as C browsers would be. The users speak through
//! hyper's connection API, not reqwest: reqwest's pool (hyper-util's)
//! races a new connection against waiting for the one a finished request
//! is handing back, so a user sending requests back to back opened a fresh
//! connection every ~8 requests (7,349 sockets in TIME_WAIT after 2 s
//! with 8 users), which is neither a browser's load nor keep-alive. Here a
//! user reconnects only when the server closed its connection
//! (`connections_opened` says how often). A browser would fetch the
//! script and the stylesheet in parallel on a second connection; here they
//! go one after another, so the page-load latency is the sum of the
//! requests.
//!
//! Bytes are counted as received: body bytes, compressed, headers
//! excluded. Nothing on this path decompresses (hyper has no content
//! codings); the reference load decodes on its own.

use std::{
    collections::BTreeMap,
    io::Read as _,
    sync::{Arc, LazyLock},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::{
    HeaderMap, Request,
    client::conn::http1,
    header::{self, HeaderValue},
};
use hyper_util::rt::TokioIo;
use regex::Regex;
use tokio::net::TcpStream;

use super::{Outcome, Target, measured, start_monitor};
use crate::{
    engine::WorkerReport,
    procmon,
    stats::{Correctness, Hist},
};

/// What to run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Virtual users, each loading back to back on its own connection.
    pub clients: usize,
    /// A warm cache: only the index, revalidated (304).
    pub revisit: bool,
}

/// What a browser sends (Chromium adds `deflate` and `zstd`, which the
/// server does not hold; the choice is the same).
const ACCEPT_ENCODING: &str = "br, gzip";

/// Files web/scripts/compress.mjs precompresses: these extensions, from
/// this size up. Such a file must come as br when br is accepted.
const COMPRESSIBLE: [&str; 7] = ["js", "css", "html", "svg", "json", "txt", "webmanifest"];
const COMPRESS_MIN: usize = 512;

/// `rel` values of `<link>` whose `href` a browser loads with the page.
/// Not `preconnect` or `dns-prefetch` (no file), `canonical` or `alternate`
/// (not fetched), `prefetch` (for a later navigation).
const FETCHED_RELS: [&str; 6] = ["stylesheet", "icon", "apple-touch-icon", "modulepreload", "preload", "manifest"];

/// At most this many problems are kept word for word.
const PROBLEMS_KEPT: usize = 5;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A request unanswered (head and whole body) by then fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A file as the reference load received it.
#[derive(Debug, Clone)]
struct Expected {
    path: String,
    /// The body as sent for [`ACCEPT_ENCODING`], not decoded.
    body: Bytes,
    encoding: Option<String>,
    etag: Option<String>,
    /// The size of the file itself (decoded).
    decoded_len: usize,
}

/// What every measured load is checked against.
#[derive(Debug)]
struct Site {
    index: Expected,
    assets: Vec<Expected>,
}

/// One response, read whole, as it came off the wire.
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

/// Why a page load did not complete as it should.
enum LoadError {
    /// No answer: the user stops.
    Transport(TransportError),
    /// An answer that is not the expected one.
    Check(String),
}

/// A request that got no (whole) answer.
#[derive(Debug)]
struct TransportError {
    /// `connect`, `timeout` or `request` (the key in `errors`).
    kind: &'static str,
    detail: String,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// Where the server is: the address to connect to and the `Host` header.
#[derive(Debug, Clone)]
struct Origin {
    addr: String,
    host: HeaderValue,
}

impl Origin {
    /// From `--server`, which must be `http://host[:port]` (no TLS, no
    /// path: the client is served at `/`).
    fn parse(server: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(server).with_context(|| format!("--server {server:?}"))?;
        if url.scheme() != "http" || !matches!(url.path(), "" | "/") {
            bail!("web loads http://host:port/ (no TLS, no path); --server is {server:?}");
        }
        let host = url.host_str().context("--server has no host")?;
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Ok(Self { addr: format!("{host}:{port}"), host: HeaderValue::from_str(&authority)? })
    }
}

/// A virtual user's connection: one HTTP/1.1 connection, kept alive,
/// opened on the first request and again only after the server closed it.
struct Browser {
    origin: Arc<Origin>,
    sender: Option<http1::SendRequest<Empty<Bytes>>>,
    /// Connections opened so far.
    opened: u64,
}

impl Browser {
    fn new(origin: Arc<Origin>) -> Self {
        Self { origin, sender: None, opened: 0 }
    }

    /// `GET path`, read whole, bytes as they came.
    async fn get(
        &mut self,
        path: &str,
        accept_encoding: &str,
        if_none_match: Option<&str>,
    ) -> Result<Got, TransportError> {
        let fail =
            |kind: &'static str| move |e: hyper::Error| TransportError { kind, detail: format!("GET {path}: {e}") };
        let host = self.origin.host.clone();
        let exchange = async {
            let sender = self.ready().await?;
            let mut req =
                Request::get(path).header(header::HOST, host).header(header::ACCEPT_ENCODING, accept_encoding);
            if let Some(tag) = if_none_match {
                req = req.header(header::IF_NONE_MATCH, tag);
            }
            let req = req
                .body(Empty::new())
                .map_err(|e| TransportError { kind: "request", detail: format!("GET {path}: {e}") })?;
            let (head, body) = sender.send_request(req).await.map_err(fail("request"))?.into_parts();
            let body = body.collect().await.map_err(fail("request"))?.to_bytes();
            Ok(Got { status: head.status.as_u16(), headers: head.headers, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.map_err(|_| TransportError {
            kind: "timeout",
            detail: format!("GET {path}: no answer in {REQUEST_TIMEOUT:?}"),
        })?
    }

    /// The connection, ready for a request: the one held if the server
    /// still keeps it, else a new one.
    async fn ready(&mut self) -> Result<&mut http1::SendRequest<Empty<Bytes>>, TransportError> {
        let held = match self.sender.take() {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let sender = match held {
            Some(s) => s,
            None => {
                let s = connect(&self.origin.addr).await?;
                self.opened += 1;
                s
            }
        };
        Ok(self.sender.insert(sender))
    }
}

async fn connect(addr: &str) -> Result<http1::SendRequest<Empty<Bytes>>, TransportError> {
    let err = |detail: String| TransportError { kind: "connect", detail };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| err(format!("{addr}: no connection in {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| err(format!("{addr}: {e}")))?;
    // Requests are small and sent whole: nothing to gain from Nagle.
    stream.set_nodelay(true).map_err(|e| err(format!("{addr}: TCP_NODELAY: {e}")))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| err(format!("{addr}: {e}")))?;
    // Drives the connection until either side closes it; an error there
    // surfaces as the next request's.
    tokio::spawn(conn);
    Ok(sender)
}

/// What the users measured, merged.
#[derive(Debug, Default)]
struct Tally {
    /// Page loads completed (all; `_in_window`: by the end of --duration).
    loads: u64,
    loads_in_window: u64,
    requests: u64,
    requests_in_window: u64,
    /// Body bytes as received (compressed).
    bytes: u64,
    bytes_in_window: u64,
    statuses: BTreeMap<u16, u64>,
    page_load: Hist,
    request: Hist,
    bad_loads: u64,
    problems: Vec<String>,
    errors: BTreeMap<String, u64>,
    connections_opened: u64,
    /// When the last request answered: a load ends with its last request,
    /// so a load and its requests fall on the same side of the window's end.
    last_answer: Option<Instant>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.loads += other.loads;
        self.loads_in_window += other.loads_in_window;
        self.requests += other.requests;
        self.requests_in_window += other.requests_in_window;
        self.bytes += other.bytes;
        self.bytes_in_window += other.bytes_in_window;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.page_load.merge(&other.page_load);
        self.request.merge(&other.request);
        self.bad_loads += other.bad_loads;
        for p in other.problems {
            self.problem(p);
        }
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.connections_opened += other.connections_opened;
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(p);
        }
    }
}

/// Runs the page loads.
pub(super) async fn web(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    if p.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let origin = Arc::new(Origin::parse(&t.server)?);
    let site = Arc::new(
        reference(&mut Browser::new(origin.clone())).await.context("the reference load (before the clock starts)")?,
    );
    let mon = start_monitor(t);
    let bench_before = procmon::sample(std::process::id());
    let duration = Duration::from_secs_f64(t.duration);
    let run = async {
        let end = Instant::now() + duration;
        // Each user connects on its first request, as a browser opening the
        // page does.
        let users: Vec<_> = (0..p.clients)
            .map(|_| tokio::spawn(user(Browser::new(origin.clone()), site.clone(), p.revisit, end)))
            .collect();
        let mut total = Tally::default();
        for u in users {
            total.merge(u.await.context("a virtual user panicked")?);
        }
        anyhow::Ok(total)
    };
    let (total, t0, t1, samples) = measured(t, mon, run).await;
    let total = total?;
    let bench_after = procmon::sample(std::process::id());

    let params = serde_json::json!({"clients": p.clients, "revisit": p.revisit});
    let mut o = Outcome::new("web", params, t);
    let secs = duration.as_secs_f64().max(1e-9);
    o.fig("clients", p.clients as f64);
    o.fig("page_loads", total.loads_in_window as f64);
    o.fig("page_loads_per_s", total.loads_in_window as f64 / secs);
    o.fig("requests", total.requests_in_window as f64);
    o.fig("requests_per_s", total.requests_in_window as f64 / secs);
    o.fig("response_body_bytes", total.bytes_in_window as f64);
    o.fig("response_body_bytes_per_s", total.bytes_in_window as f64 / secs);
    o.fig("response_body_mb_per_s", total.bytes_in_window as f64 / 1e6 / secs);
    o.fig("bad_loads", total.bad_loads as f64);
    o.fig("connections_opened", total.connections_opened as f64);
    for (status, n) in &total.statuses {
        o.fig(&format!("status_{status}"), *n as f64);
    }
    if let (Some(a), Some(b)) = (bench_before, bench_after) {
        let dt = b.t_us.saturating_sub(a.t_us) as f64 / 1e6;
        if dt > 0.0 {
            o.fig("bench_cpu_pct", (b.cpu_s - a.cpu_s) / dt * 100.0);
        }
    }
    o.lat("page_load", &total.page_load);
    o.lat("request", &total.request);
    o.server = procmon::window(&samples, t0, t1);

    o.note(describe(&site, p.revisit));
    o.note(format!(
        "rates count what completed within --duration ({:.1} s); the {} page loads in flight at its end were \
         finished and checked (in the latencies, not in the rates); statuses count every response",
        t.duration,
        total.loads - total.loads_in_window
    ));
    let users = p.clients as u64;
    if total.connections_opened > users {
        o.note(format!(
            "{} connections for {users} users: the server closed {} kept-alive connections",
            total.connections_opened,
            total.connections_opened - users
        ));
    }
    if t.procs > 1 {
        o.note("web runs in one process: --procs is not used".into());
    }

    for (status, n) in &total.statuses {
        if *status != 200 && *status != 304 {
            o.fail(format!("{n} responses with status {status}"));
        }
    }
    if total.bad_loads > 0 {
        o.fail(format!("{} page loads failed their checks", total.bad_loads));
    }
    if !total.errors.is_empty() {
        o.fail(format!("requests without an answer: {:?}", total.errors));
    }
    for p in &total.problems {
        o.fail(p.clone());
    }
    let mut o = o.finish(&WorkerReport::default(), Correctness::default());
    o.errors = total.errors;
    Ok(o)
}

/// One virtual user: page loads back to back until `end`.
async fn user(mut browser: Browser, site: Arc<Site>, revisit: bool, end: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < end {
        let started = Instant::now();
        let load = if revisit {
            revisit_load(&mut browser, &site, end, &mut tally).await
        } else {
            cold_load(&mut browser, &site, end, &mut tally).await
        };
        let finished = tally.last_answer.unwrap_or_else(Instant::now);
        match load {
            Ok(()) => {
                tally.loads += 1;
                if finished <= end {
                    tally.loads_in_window += 1;
                }
                tally.page_load.record_us(finished.duration_since(started).as_micros() as u64);
            }
            Err(LoadError::Check(why)) => {
                tally.bad_loads += 1;
                tally.problem(why);
            }
            Err(LoadError::Transport(e)) => {
                *tally.errors.entry(e.kind.into()).or_default() += 1;
                tally.problem(e.to_string());
                // The run has failed; a user spinning on a dead server
                // would only burn the CPU the server needs.
                break;
            }
        }
    }
    tally.connections_opened = browser.opened;
    tally
}

/// An empty cache: the index, then every file it references.
async fn cold_load(b: &mut Browser, site: &Site, end: Instant, tally: &mut Tally) -> Result<(), LoadError> {
    let index = fetch(b, &site.index.path, None, end, tally).await?;
    check_ok(&index, &site.index)?;
    for asset in &site.assets {
        let got = fetch(b, &asset.path, None, end, tally).await?;
        check_ok(&got, asset)?;
    }
    Ok(())
}

/// A warm cache: the index revalidated, nothing else.
async fn revisit_load(b: &mut Browser, site: &Site, end: Instant, tally: &mut Tally) -> Result<(), LoadError> {
    let got = fetch(b, &site.index.path, site.index.etag.as_deref(), end, tally).await?;
    check_not_modified(&got, &site.index)
}

/// One GET, counted in `tally`.
async fn fetch(
    b: &mut Browser,
    path: &str,
    if_none_match: Option<&str>,
    end: Instant,
    tally: &mut Tally,
) -> Result<Got, LoadError> {
    let started = Instant::now();
    let got = b.get(path, ACCEPT_ENCODING, if_none_match).await.map_err(LoadError::Transport)?;
    let finished = Instant::now();
    tally.last_answer = Some(finished);
    tally.request.record_us(finished.duration_since(started).as_micros() as u64);
    tally.requests += 1;
    tally.bytes += got.body.len() as u64;
    if finished <= end {
        tally.requests_in_window += 1;
        tally.bytes_in_window += got.body.len() as u64;
    }
    *tally.statuses.entry(got.status).or_default() += 1;
    Ok(got)
}

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A 200 carrying exactly the reference's representation of the file.
fn check_ok(got: &Got, want: &Expected) -> Result<(), LoadError> {
    let path = &want.path;
    if got.status != 200 {
        return Err(LoadError::Check(format!("GET {path}: status {}, not 200", got.status)));
    }
    check_length(got, path).map_err(LoadError::Check)?;
    let encoding = header(&got.headers, header::CONTENT_ENCODING);
    if encoding != want.encoding.as_deref() {
        return Err(LoadError::Check(format!(
            "GET {path}: Content-Encoding {encoding:?}, the reference had {:?}",
            want.encoding
        )));
    }
    let etag = header(&got.headers, header::ETAG);
    if etag != want.etag.as_deref() {
        return Err(LoadError::Check(format!("GET {path}: ETag {etag:?}, the reference had {:?}", want.etag)));
    }
    if got.body != want.body {
        return Err(LoadError::Check(format!("GET {path}: the bytes differ from the reference's")));
    }
    Ok(())
}

/// A 304 for the index's own ETag, without a body.
fn check_not_modified(got: &Got, want: &Expected) -> Result<(), LoadError> {
    let path = &want.path;
    if got.status != 304 {
        return Err(LoadError::Check(format!("GET {path} with If-None-Match: status {}, not 304", got.status)));
    }
    if !got.body.is_empty() {
        return Err(LoadError::Check(format!("GET {path}: a 304 with {} body bytes", got.body.len())));
    }
    let etag = header(&got.headers, header::ETAG);
    if etag != want.etag.as_deref() {
        return Err(LoadError::Check(format!("GET {path}: 304 with ETag {etag:?}, not {:?}", want.etag)));
    }
    Ok(())
}

/// Content-Length must be there and count the body's bytes.
fn check_length(got: &Got, path: &str) -> Result<(), String> {
    let declared = header(&got.headers, header::CONTENT_LENGTH);
    if declared.and_then(|l| l.parse::<usize>().ok()) != Some(got.body.len()) {
        return Err(format!("GET {path}: Content-Length {declared:?}, {} body bytes received", got.body.len()));
    }
    Ok(())
}

/// Loads the index and every file it references, checking each against
/// its uncompressed self.
async fn reference(b: &mut Browser) -> anyhow::Result<Site> {
    let index = expected(b, "/").await?;
    if index.etag.is_none() {
        bail!("GET /: no ETag, so a browser cannot revalidate the index");
    }
    let html = decode(index.encoding.as_deref(), &index.body)?;
    let html = String::from_utf8(html).context("GET /: the index is not UTF-8")?;
    let paths = asset_paths(&html);
    if paths.is_empty() {
        bail!("GET /: the index references no script, stylesheet or icon; is this Ferry's web client?");
    }
    let mut assets = Vec::with_capacity(paths.len());
    for path in paths {
        assets.push(expected(b, &path).await?);
    }
    Ok(Site { index, assets })
}

/// One file of the reference: fetched as the users will, and as
/// `identity`; the first must decode to the second.
async fn expected(b: &mut Browser, path: &str) -> anyhow::Result<Expected> {
    let got = b.get(path, ACCEPT_ENCODING, None).await.with_context(|| format!("GET {path}"))?;
    if got.status != 200 {
        bail!("GET {path}: status {} (a server with web.enabled = false serves no client)", got.status);
    }
    check_length(&got, path).map_err(anyhow::Error::msg)?;
    let plain = b.get(path, "identity", None).await.with_context(|| format!("GET {path} (identity)"))?;
    if plain.status != 200 {
        bail!("GET {path} (identity): status {}", plain.status);
    }
    check_length(&plain, path).map_err(anyhow::Error::msg)?;
    if let Some(e) = header(&plain.headers, header::CONTENT_ENCODING) {
        bail!("GET {path}: Content-Encoding {e} for `Accept-Encoding: identity`");
    }
    let encoding = header(&got.headers, header::CONTENT_ENCODING).map(str::to_owned);
    let decoded = decode(encoding.as_deref(), &got.body).with_context(|| format!("GET {path}"))?;
    if decoded != plain.body {
        bail!("GET {path}: the {encoding:?} body does not decode to the file served as identity");
    }
    if compressible(path) && decoded.len() >= COMPRESS_MIN && encoding.as_deref() != Some("br") {
        bail!(
            "GET {path}: a compressible file of {} bytes came as {encoding:?} for `Accept-Encoding: {ACCEPT_ENCODING}`, \
             not br (web/dist should hold a precompressed copy)",
            decoded.len()
        );
    }
    Ok(Expected {
        path: path.to_owned(),
        etag: header(&got.headers, header::ETAG).map(str::to_owned),
        body: got.body,
        encoding,
        decoded_len: decoded.len(),
    })
}

/// `body` decoded from its Content-Encoding.
fn decode(encoding: Option<&str>, body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli_decompressor::Decompressor::new(body, 4096).read_to_end(&mut out).context("not valid br")?;
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(body).read_to_end(&mut out).context("not valid gzip")?;
        }
        Some(other) => bail!("Content-Encoding {other:?}, which was not asked for"),
    }
    Ok(out)
}

/// Whether web/scripts/compress.mjs precompresses the file at `path` (`/`
/// is the index, HTML).
fn compressible(path: &str) -> bool {
    let name = path.split(['?', '#']).next().unwrap_or(path);
    let name = name.rsplit('/').next().unwrap_or(name);
    if name.is_empty() {
        return true;
    }
    name.rsplit_once('.').is_some_and(|(_, ext)| COMPRESSIBLE.contains(&ext))
}

/// The files a browser loads with the page `html` (served at `/`), as
/// paths on this server, in document order, each once: the `src` of every
/// `<script>` and the `href` of every `<link>` whose `rel` names a file a
/// browser fetches ([`FETCHED_RELS`]: the stylesheet, and the favicon, which
/// a browser with an empty cache asks for too). Other origins, `data:` URLs
/// and what comments hold are left out.
///
/// A regex, not an HTML parser: the index is Vite's, a few lines of tags
/// with quoted attributes. A `>` inside an attribute value would cut a tag
/// short, and markup in the text of an inline script would be taken for a
/// tag; Vite writes neither.
pub(crate) fn asset_paths(html: &str) -> Vec<String> {
    static COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<!--.*?-->").expect("a valid regex"));
    static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)<(script|link)\b([^>]*)>").expect("a valid regex"));
    static ATTR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)([a-z][a-z0-9_:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#).expect("a valid regex")
    });
    let html = COMMENT.replace_all(html, "");
    let mut out: Vec<String> = Vec::new();
    for tag in TAG.captures_iter(&html) {
        let attrs: Vec<(String, &str)> = ATTR
            .captures_iter(&tag[2])
            .filter_map(|a| {
                let value = a.get(2).or_else(|| a.get(3)).or_else(|| a.get(4))?;
                Some((a[1].to_ascii_lowercase(), value.as_str()))
            })
            .collect();
        let attr = |name: &str| attrs.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        let url = if tag[1].eq_ignore_ascii_case("script") {
            attr("src")
        } else {
            let rel = attr("rel").unwrap_or_default().to_ascii_lowercase();
            rel.split_ascii_whitespace().any(|r| FETCHED_RELS.contains(&r)).then(|| attr("href")).flatten()
        };
        if let Some(path) = url.and_then(same_origin_path)
            && !out.contains(&path)
        {
            out.push(path);
        }
    }
    out
}

/// `url` as a path on the server that served the index at `/`; `None` for
/// another origin, another scheme (`data:`) or nothing.
fn same_origin_path(url: &str) -> Option<String> {
    let url = url.trim();
    let url = url.split('#').next().unwrap_or(url);
    if url.is_empty() || url.starts_with("//") {
        return None;
    }
    // A scheme: a colon before any `/`, `?` or `#`.
    let head = url.split(['/', '?']).next().unwrap_or(url);
    if head.contains(':') {
        return None;
    }
    if url.starts_with('/') {
        return Some(url.to_owned());
    }
    Some(format!("/{}", url.trim_start_matches("./")))
}

/// What one page load fetches, for the notes.
fn describe(site: &Site, revisit: bool) -> String {
    let file = |e: &Expected| {
        let how = e.encoding.as_deref().unwrap_or("identity");
        format!("{} {} B {how} ({} B decoded)", e.path, e.body.len(), e.decoded_len)
    };
    if revisit {
        return format!(
            "a load: GET / with If-None-Match {} (304, no body); the index: {}",
            site.index.etag.as_deref().unwrap_or("?"),
            file(&site.index)
        );
    }
    let bytes: usize = site.index.body.len() + site.assets.iter().map(|a| a.body.len()).sum::<usize>();
    let files: Vec<String> = std::iter::once(&site.index).chain(&site.assets).map(file).collect();
    format!(
        "a load: {} requests one after another on the user's connection, {bytes} body bytes, \
         Accept-Encoding: {ACCEPT_ENCODING}: {}",
        1 + site.assets.len(),
        files.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths_of_a_vite_index() {
        let html = r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Ferry</title>
    <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
    <link rel="preconnect" href="https://fonts.example">
    <!-- <script src="/assets/old.js"></script> -->
    <script type="module" crossorigin src="/assets/index-AbC123.js"></script>
    <link rel="stylesheet" crossorigin href="/assets/index-x.css">
    <LINK REL='modulepreload' HREF=assets/vendor-1.js>
    <script src="https://cdn.example/x.js"></script>
    <link rel="canonical" href="/chat">
    <script type="module" src="/assets/index-AbC123.js"></script>
  </head>
  <body><div id="app"></div></body>
</html>"#;
        assert_eq!(
            asset_paths(html),
            [
                // The favicon is in: a browser with an empty cache asks for it.
                "/favicon.svg",
                "/assets/index-AbC123.js",
                "/assets/index-x.css",
                "/assets/vendor-1.js",
            ]
        );
    }

    #[test]
    fn the_real_index_references_its_script_stylesheet_and_icon() {
        let html = include_str!("../../../../web/dist/index.html");
        let paths = asset_paths(html);
        assert!(paths.iter().any(|p| p.starts_with("/assets/") && p.ends_with(".js")), "{paths:?}");
        assert!(paths.iter().any(|p| p.starts_with("/assets/") && p.ends_with(".css")), "{paths:?}");
        assert!(paths.contains(&"/favicon.svg".to_owned()), "{paths:?}");
    }

    #[test]
    fn only_paths_on_this_server() {
        for (url, want) in [
            ("/a.js", Some("/a.js")),
            ("a.js", Some("/a.js")),
            ("./assets/a.js?v=1#x", Some("/assets/a.js?v=1")),
            ("//cdn.example/a.js", None),
            ("https://cdn.example/a.js", None),
            ("data:text/css,body{}", None),
            ("", None),
        ] {
            assert_eq!(same_origin_path(url).as_deref(), want, "{url:?}");
        }
    }

    #[test]
    fn compressible_mirrors_compress_mjs() {
        assert!(compressible("/"));
        assert!(compressible("/assets/index-AbC123.js"));
        assert!(compressible("/favicon.svg"));
        assert!(!compressible("/assets/logo.png"));
        assert!(!compressible("/assets/font.woff2"));
    }

    fn got(status: u16, headers: &[(header::HeaderName, &str)], body: &'static [u8]) -> Got {
        let mut h = HeaderMap::new();
        for (name, value) in headers {
            h.insert(name.clone(), value.parse().unwrap());
        }
        Got { status, headers: h, body: Bytes::from_static(body) }
    }

    fn why(r: Result<(), LoadError>) -> String {
        match r {
            Err(LoadError::Check(why)) => why,
            Err(LoadError::Transport(e)) => panic!("transport: {e}"),
            Ok(()) => String::new(),
        }
    }

    #[test]
    fn responses_must_be_the_references() {
        let want = Expected {
            path: "/assets/a.js".into(),
            body: Bytes::from_static(b"BR!"),
            encoding: Some("br".into()),
            etag: Some("\"t-br\"".into()),
            decoded_len: 10,
        };
        use header::{CONTENT_ENCODING as CE, CONTENT_LENGTH as CL, ETAG};
        let good = [(CL, "3"), (CE, "br"), (ETAG, "\"t-br\"")];
        assert_eq!(why(check_ok(&got(200, &good, b"BR!"), &want)), "");
        assert!(why(check_ok(&got(200, &good[1..], b"BR!"), &want)).contains("Content-Length None"));
        assert!(why(check_ok(&got(200, &[(CL, "4"), (CE, "br"), (ETAG, "\"t-br\"")], b"BR!"), &want)).contains("4"));
        assert!(why(check_ok(&got(200, &[(CL, "3"), (ETAG, "\"t-br\"")], b"BR!"), &want)).contains("Content-Encoding"));
        assert!(why(check_ok(&got(200, &good, b"BR?"), &want)).contains("bytes differ"));
        assert!(why(check_ok(&got(500, &good, b"BR!"), &want)).contains("status 500"));

        let index = Expected { path: "/".into(), etag: Some("\"t\"".into()), encoding: None, ..want };
        assert_eq!(why(check_not_modified(&got(304, &[(ETAG, "\"t\"")], b""), &index)), "");
        assert!(why(check_not_modified(&got(200, &[(ETAG, "\"t\"")], b""), &index)).contains("not 304"));
        assert!(why(check_not_modified(&got(304, &[(ETAG, "\"u\"")], b""), &index)).contains("ETag"));
    }
}
