//! The searcher's side: the query classes, one searching session (a long
//! connection and an HTTP client of the searcher), and the checks every
//! answer must pass.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use anyhow::{Context as _, bail};
use ferry_client::{HttpApi, conn::RawConnection};
use ferry_proto::{Body, v1};

use super::corpus::{Corpus, matches};
use crate::{ListVia, engine::now_us, stats::Hist};

/// Time allowed for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Pages of the paging class (the first, then this many - 1 by cursor).
pub(super) const PAGING_PAGES: usize = 5;
/// A drain that needs more pages than this is a failure (a cursor loop).
const MAX_PAGES: usize = 10_000;
/// Page size of the completeness drains (the most a page may hold).
pub(super) const DRAIN_LIMIT: u32 = 100;
/// Bad answers described in the failure (the rest are counted).
pub(super) const SHOWN_BAD: usize = 5;

/// What a query looks for, and how far it pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// A rare Chinese needle; every page, exactly its visible plants.
    NeedleZh,
    /// A rare English needle by a prefix; every page.
    NeedleEn,
    /// A common two-character Chinese term; the first page.
    CommonZh,
    /// A common English word; the first page.
    CommonEn,
    /// A common term in one of the searcher's conversations; the first page.
    Conversation,
    /// A term of file names with `kinds=file`; the first page.
    File,
    /// A very common term: pages 2 to [`PAGING_PAGES`] by cursor.
    Paging,
    /// A word common on the server and absent from the searcher's
    /// conversations; every page (none may hold a hit).
    Foreign,
}

impl Class {
    pub(super) const ALL: [Class; 8] = [
        Class::NeedleZh,
        Class::NeedleEn,
        Class::CommonZh,
        Class::CommonEn,
        Class::Conversation,
        Class::File,
        Class::Paging,
        Class::Foreign,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Class::NeedleZh => "needle_zh",
            Class::NeedleEn => "needle_en",
            Class::CommonZh => "common_zh",
            Class::CommonEn => "common_en",
            Class::Conversation => "conversation",
            Class::File => "file",
            Class::Paging => "paging",
            Class::Foreign => "foreign",
        }
    }

    /// Whether a query of this class follows `next_cursor` to the end.
    pub(super) fn drains(self) -> bool {
        matches!(self, Class::NeedleZh | Class::NeedleEn | Class::Foreign)
    }
}

/// A request's interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Iface {
    Conn,
    Http,
}

impl Iface {
    pub(super) fn index(self) -> usize {
        match self {
            Iface::Conn => 0,
            Iface::Http => 1,
        }
    }
}

/// What the checks know: the searcher's conversations, the needles'
/// visible plants, and the corpus for the text of each hit.
pub(super) struct Truth<'a> {
    pub corpus: &'a Corpus,
    /// Conversation id → index in the corpus, for the searcher's.
    pub visible: HashMap<String, usize>,
    /// The searcher's conversation ids, in corpus order.
    pub mine: Vec<String>,
    /// Per needle: the server ids of its plants the searcher can see.
    pub needle_hits: Vec<HashSet<u64>>,
    /// Every planted message's server id → needle.
    pub planted: HashMap<u64, usize>,
}

/// One query: the search and what its answers must be.
pub(super) struct Query {
    pub class: Class,
    pub search: v1::Search,
    /// The term every hit must match.
    pub term: String,
    /// Exactly these server ids over all pages (needles).
    pub exactly: Option<HashSet<u64>>,
}

/// Per class and interface: what the session measured.
#[derive(Default)]
pub(super) struct ClassStats {
    /// Latency of each request (page) of the class.
    pub requests: [Hist; 2],
    /// Whole queries of the classes that page (every page, in turn).
    pub whole: [Hist; 2],
    /// Queries finished within the window.
    pub in_window: u64,
    pub queries: u64,
    pub pages: u64,
    pub hits: u64,
}

/// One session of the searcher.
pub(super) struct Session {
    conn: Option<RawConnection>,
    http: Option<HttpApi>,
    /// Under `--via both`: whether the next round goes over HTTP.
    next_http: bool,
    /// Per class, how many of its queries were made.
    turn: [usize; 8],
    /// Interfaces in turn (2 under `both`): each term goes over each of
    /// them before the next term comes, so they answer the same queries.
    ifaces: usize,
    pub stats: [ClassStats; 8],
    pub checked: u64,
    pub bad: u64,
    pub bad_examples: Vec<String>,
    /// The request that failed (the session stops there).
    pub error: Option<String>,
}

impl Session {
    /// A session of the searcher on the interfaces `via` needs; `http_first`
    /// starts with HTTP under `both`.
    pub(super) async fn connect(
        url: &str,
        server: &str,
        token: &str,
        via: ListVia,
        http_first: bool,
        offset: usize,
    ) -> anyhow::Result<Self> {
        let conn = match via {
            ListVia::Http => None,
            _ => Some(RawConnection::connect(url, false, token).await.context("the searcher's long connection")?.0),
        };
        let http = match via {
            ListVia::Conn => None,
            _ => Some(HttpApi::new(server)?.with_token(token.to_owned())),
        };
        Ok(Self {
            conn,
            http,
            next_http: http_first,
            turn: [offset * if via == ListVia::Both { 2 } else { 1 }; 8],
            ifaces: if via == ListVia::Both { 2 } else { 1 },
            stats: Default::default(),
            checked: 0,
            bad: 0,
            bad_examples: Vec::new(),
            error: None,
        })
    }

    /// Rounds of every class, back to back, until `end_us`; a round goes
    /// over one interface, the next over the other under `both`.
    pub(super) async fn run(&mut self, truth: &Truth<'_>, via: ListVia, end_us: u64) {
        while self.error.is_none() && now_us() < end_us {
            let iface = if via.next_is_http(&mut self.next_http) { Iface::Http } else { Iface::Conn };
            for class in Class::ALL {
                if now_us() >= end_us || self.error.is_some() {
                    break;
                }
                let q = self.next_query(truth, class);
                if let Err(e) = self.query(truth, &q, iface, end_us).await {
                    self.error = Some(format!("{} over {iface:?}: {e:#}", class.name()));
                }
            }
        }
    }

    /// The next query of `class` (terms in turn).
    fn next_query(&mut self, truth: &Truth<'_>, class: Class) -> Query {
        let c = truth.corpus;
        let k = self.turn[class as usize] / self.ifaces;
        self.turn[class as usize] += 1;
        let pick = |terms: Vec<String>| terms[k % terms.len()].clone();
        let mut search = v1::Search::default();
        let mut exactly = None;
        let term = match class {
            Class::NeedleZh | Class::NeedleEn => {
                let zh = class == Class::NeedleZh;
                let ids: Vec<usize> = (0..c.needles.len()).filter(|&n| c.needles[n].zh == zh).collect();
                let n = ids[k % ids.len()];
                exactly = Some(truth.needle_hits[n].clone());
                c.needles[n].query.clone()
            }
            Class::CommonZh => pick(c.common_zh()),
            Class::CommonEn => pick(c.common_en()),
            Class::Conversation => {
                search.conversation_id = truth.mine[k % truth.mine.len()].clone();
                // Chinese and English terms in turn.
                let terms = if k.is_multiple_of(2) { c.common_zh() } else { c.common_en() };
                terms[(k / 2) % terms.len()].clone()
            }
            Class::File => {
                search.kinds = vec!["file".into()];
                pick(c.file_terms())
            }
            Class::Paging => pick(c.paging_terms()),
            Class::Foreign => {
                exactly = Some(HashSet::new());
                pick(c.foreign_terms())
            }
        };
        search.query = term.clone();
        Query { class, search, term, exactly }
    }

    /// Runs one query: its pages, each timed and checked.
    async fn query(&mut self, truth: &Truth<'_>, q: &Query, iface: Iface, end_us: u64) -> anyhow::Result<()> {
        let pages = match q.class {
            Class::Paging => PAGING_PAGES,
            c if c.drains() => MAX_PAGES,
            _ => 1,
        };
        let started = now_us();
        let outcome = self.pages(truth, q, iface, pages, q.class.drains(), Some(q.class as usize)).await?;
        let done = now_us();
        let s = &mut self.stats[q.class as usize];
        if q.class.drains() || q.class == Class::Paging {
            s.whole[iface.index()].record_us(done - started);
        }
        s.queries += 1;
        s.in_window += u64::from(done <= end_us);
        s.pages += outcome.pages;
        s.hits += outcome.hits;
        Ok(())
    }

    /// Fetches up to `pages` pages of `q` (all of them with `to_end`, which
    /// must end before the cap), checks each and, at the end, what was
    /// found overall. Requests are timed into the stats of `record` (the
    /// first page of the paging class is not: its figure is the cursor
    /// pages).
    pub(super) async fn pages(
        &mut self,
        truth: &Truth<'_>,
        q: &Query,
        iface: Iface,
        pages: usize,
        to_end: bool,
        record: Option<usize>,
    ) -> anyhow::Result<Found> {
        let mut search = q.search.clone();
        let mut found = Found::default();
        let mut ids = HashSet::new();
        let mut newest_allowed = u64::MAX;
        let mut bad = None;
        loop {
            let started = now_us();
            let page = self.page(iface, &search).await?;
            let took = now_us() - started;
            if let Some(r) = record
                && !(q.class == Class::Paging && found.pages == 0)
            {
                self.stats[r].requests[iface.index()].record_us(took);
            }
            found.pages += 1;
            found.hits += page.hits.len() as u64;
            self.checked += 1;
            // Every hit counts, also past one that fails a check.
            ids.extend(page.hits.iter().filter_map(|h| h.message.as_ref()).map(|m| m.server_msg_id));
            if bad.is_none() {
                bad = check_page(truth, q, &page, &mut newest_allowed).err();
            }
            if page.next_cursor.is_empty() || (!to_end && found.pages as usize >= pages) {
                break;
            }
            if found.pages as usize >= MAX_PAGES {
                bail!("still a next_cursor after {MAX_PAGES} pages");
            }
            search.cursor = page.next_cursor;
        }
        if bad.is_none()
            && let Some(want) = &q.exactly
            && *want != ids
        {
            bad = Some(describe_difference(truth, q, want, &ids));
        }
        if let Some(why) = bad {
            self.bad += 1;
            if self.bad_examples.len() < SHOWN_BAD {
                self.bad_examples.push(format!("{} {:?}: {why}", q.class.name(), q.term));
            }
        }
        found.ids = ids;
        Ok(found)
    }

    /// One page over `iface`.
    async fn page(&mut self, iface: Iface, search: &v1::Search) -> anyhow::Result<v1::SearchResult> {
        match iface {
            Iface::Conn => {
                let conn = self.conn.as_mut().context("no long connection")?;
                let answer = tokio::time::timeout(ANSWER_TIMEOUT, conn.request(Body::Search(search.clone())))
                    .await
                    .context("no answer in time")??;
                match answer {
                    Body::SearchResult(r) => Ok(r),
                    _ => bail!("unexpected answer to search"),
                }
            }
            Iface::Http => {
                let api = self.http.as_ref().context("no HTTP client")?;
                Ok(tokio::time::timeout(ANSWER_TIMEOUT, api.search(search)).await.context("no answer in time")??)
            }
        }
    }

    /// The interface the completeness drains use.
    pub(super) fn any_iface(&self) -> Iface {
        if self.conn.is_some() { Iface::Conn } else { Iface::Http }
    }

    /// Closes the long connection.
    pub(super) async fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close().await;
        }
    }
}

/// What a query found over its pages.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub pages: u64,
    pub hits: u64,
    pub ids: HashSet<u64>,
}

/// The checks of one page: newest first (server ids strictly decreasing,
/// also across pages, so no duplicates), every hit in a conversation the
/// searcher is in (the one asked for, if any), of the kind asked for,
/// exactly the corpus message its client_msg_id names, matching the term,
/// with a highlighted snippet part that is the term; every listed group's
/// name matches.
fn check_page(truth: &Truth<'_>, q: &Query, page: &v1::SearchResult, newest_allowed: &mut u64) -> Result<(), String> {
    let term = q.term.to_lowercase();
    let prefix = format!("s{}-", truth.corpus.m);
    for hit in &page.hits {
        let m = hit.message.as_ref().ok_or("a hit without its message")?;
        let id = m.server_msg_id;
        if id >= *newest_allowed {
            return Err(format!("not newest first: server_msg_id {id} after {}", *newest_allowed));
        }
        *newest_allowed = id;
        let i: u64 = m
            .client_msg_id
            .strip_prefix(&prefix)
            .and_then(|i| i.parse().ok())
            .filter(|&i| i < truth.corpus.m)
            .ok_or_else(|| {
                format!("{id} ({:?} in {}) is not a message of the corpus", m.client_msg_id, m.conversation_id)
            })?;
        if let Some(&n) = truth.planted.get(&id)
            && !truth.needle_hits[n].contains(&id)
        {
            return Err(format!("{id} is a needle planted where the searcher is not ({})", m.conversation_id));
        }
        let Some(&conv) = truth.visible.get(&m.conversation_id) else {
            return Err(format!("{id} is in {}, a conversation the searcher is not in", m.conversation_id));
        };
        if !q.search.conversation_id.is_empty() && m.conversation_id != q.search.conversation_id {
            return Err(format!("{id} is in {}, not in {}", m.conversation_id, q.search.conversation_id));
        }
        let kind = m.content.as_ref().and_then(|c| c.kind.as_ref());
        let text = match kind {
            Some(v1::message_content::Kind::Text(t)) => t.text.as_str(),
            Some(v1::message_content::Kind::File(f)) => f.file.as_ref().map_or("", |f| f.name.as_str()),
            _ => return Err(format!("{id} is neither a text nor a file")),
        };
        if q.search.kinds.iter().any(|k| k == "file") && !matches!(kind, Some(v1::message_content::Kind::File(_))) {
            return Err(format!("{id} is not a file (kinds=file)"));
        }
        let want = truth.corpus.message(i);
        if want.conv != conv || want.content.searchable() != text {
            return Err(format!("{id} is not corpus message {i} as sent: {text:?}"));
        }
        if !matches(&q.term, text) {
            return Err(format!("{id} does not match {:?}: {text:?}", q.term));
        }
        if !hit.snippet.iter().any(|p| p.hit && p.text.to_lowercase().contains(&term)) {
            return Err(format!("{id}: no highlighted part with {:?} in its snippet {:?}", q.term, hit.snippet));
        }
    }
    if let Some(g) = page.groups.iter().find(|g| !matches(&q.term, &g.name)) {
        return Err(format!("group {:?} listed for {:?}", g.name, q.term));
    }
    Ok(())
}

fn describe_difference(truth: &Truth<'_>, q: &Query, want: &HashSet<u64>, got: &HashSet<u64>) -> String {
    let missing = want.difference(got).count();
    let extra: Vec<&u64> = got.difference(want).collect();
    let hidden = extra.iter().filter(|id| truth.planted.contains_key(id)).count();
    format!(
        "{} hits over all pages, {} expected: {missing} missing, {} extra ({hidden} of them planted out of the \
         searcher's sight), query {:?}",
        got.len(),
        want.len(),
        extra.len(),
        q.search.query
    )
}
