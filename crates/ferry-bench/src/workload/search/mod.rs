//! `search`: full-text search over a server holding M messages (default
//! 1,000,000), as a user with a long history runs it: the `search` frame on
//! the long connection and `GET /api/v1/search` over HTTP.
//!
//! Setup, cached in the state file (key `search-M`): the corpus of
//! `corpus` — M messages among the shared bench users (1,000 from 100,000
//! messages up: 4,000 direct conversations and 62 groups) and one searcher
//! account of its own (`<prefix>s<M>`) with 150 direct conversations and 12
//! groups, Chinese and English lines with Zipf-distributed words, files
//! with Chinese names, needles planted in and out of the searcher's sight
//! — stored through the normal send path by `fill`. Because the setup is
//! cached, the measured run of `fresh-run.sh` (after its server restart)
//! sends nothing before its first query.
//!
//! Where the messages are when the measured run starts: the SQLite store
//! appends to a log table and, once it holds `storage.log_rows` (131,072)
//! rows, seals it and merges it into `messages` and the FTS5 index while
//! the other table fills; at most 2 × 131,072 rows are logged, and once the
//! merge is done only the current table's. The setup run waits until the
//! server is idle (the merge done), so with the defaults the measured run
//! finds a little under (M + 74 group messages) mod 131,072 messages in the
//! log (a table is sealed after the batch that fills it) and the rest
//! indexed: at 1,000,000 about 80,000 logged and 920,000 indexed (79,287 and
//! 920,787 in one run); at 100,000 all of them logged, none indexed. A search reads every logged
//! row of the searcher's conversations (their share of the log, a few
//! percent) and matches its text, plus the index; so the two sizes measure
//! different paths. The searcher has more than 32 conversations, so the
//! index query is not narrowed to its conversations (the store names up to
//! 32 in the FTS5 expression): every candidate of everybody's messages is
//! examined until a page is full or 10,000 were examined.
//!
//! Run: before t0 the bench waits (with `--server-pid`) until the server's
//! CPU stays under 10% of a core for a second, so no merge runs in the
//! window. Then `--searchers` sessions of the searcher query back to back
//! until `--duration` is over, cycling through the classes of
//! [`query::Class`] (rare Chinese needle, rare English needle by prefix,
//! common Chinese term, common English word, a term in one conversation,
//! `kinds=file` with a term of file names, pages 2-5 of a very common term
//! by cursor, a word common elsewhere but absent from the searcher's
//! conversations); a round of all classes goes over one interface, the
//! next over the other under `--via both`. Latency is request sent →
//! answer decoded, per request (page) and per class and interface, and for
//! the classes that page also per whole query.
//!
//! Checks (any violation fails the run): needle queries, followed to the
//! last page, return exactly the planted messages the searcher can see, and
//! decoys and foreign words nothing; every page is newest first with server
//! ids strictly decreasing across pages; every hit is in one of the
//! searcher's conversations (the one asked for, if any), of the kind asked
//! for, exactly the corpus message its client_msg_id names, matching the
//! term, with a highlighted snippet part holding the term. After the
//! window, one session pages through a common Chinese term, a common English
//! word, a file term (`kinds=file`) and a foreign word to the end: the hits
//! must be exactly as many as the corpus has in the searcher's
//! conversations.

mod corpus;
mod fill;
mod query;

use std::collections::{HashMap, HashSet};

use anyhow::{Context as _, bail};
use ferry_client::HttpApi;
use ferry_proto::v1;
use futures_util::{StreamExt as _, future, stream};
use serde::{Deserialize, Serialize};

use self::{
    corpus::{Content, Corpus, matches},
    query::{Class, ClassStats, Query, Session, Truth},
};
use super::{ListVia, Outcome, Target, TransportKind, direct_conv, samples, start_monitor};
use crate::{
    engine::{WorkerReport, now_us},
    procmon,
    setup::{self, BenchUser, State},
};

/// Groups created at once during setup.
const GROUP_CONCURRENCY: usize = 16;
/// Rows of a log table with the default `storage.log_rows`.
const LOG_ROWS: u64 = 131_072;
/// The server is idle when it used less than this share of a core over
/// one second.
const IDLE_CPU: f64 = 0.10;
/// Longest wait for an idle server.
const IDLE_WAIT_MAX_S: u64 = 600;
/// Fewest messages: enough room to spread the needles.
const MIN_MESSAGES: u64 = 2_000;

/// The command line of `search`.
pub(super) struct Params {
    pub messages: u64,
    pub searchers: usize,
    pub via: ListVia,
}

/// What setup made, kept in the state file's `extras`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Prepared {
    corpus: u32,
    searcher: BenchUser,
    /// Conversation ids of the corpus's groups, in corpus order.
    groups: Vec<String>,
    /// Server ids of the planted messages, in plant order (once filled).
    plants: Vec<u64>,
    filled: bool,
}

/// What the setup of this run did (none when the state file had it all).
struct SetupRun {
    secs: f64,
    msgs_secs: f64,
    reconnects: u64,
}

pub(super) async fn search(t: &Target, p: &Params) -> anyhow::Result<Outcome> {
    if p.messages < MIN_MESSAGES || p.searchers == 0 {
        bail!("need --messages >= {MIN_MESSAGES} and --searchers >= 1");
    }
    let corpus = Corpus::new(p.messages);
    let io_before = t.server_pid.and_then(procmon::sample).and_then(|s| s.io);
    let (people, prep, setup_run) = prepare(t, &corpus).await?;
    let truth = truth(&corpus, &people, &prep);

    let mut o = Outcome::new(
        "search",
        serde_json::json!({
            "messages": p.messages, "searchers": p.searchers, "via": p.via
        }),
        t,
    );
    match &setup_run {
        Some(s) => {
            o.fig("setup_s", s.secs);
            o.fig("setup_msgs_per_s", p.messages as f64 / s.msgs_secs.max(1e-6));
            o.fig("setup_reconnects", s.reconnects as f64);
            o.note(
                "setup ran in this run, so the server's caches are warm (fresh-run.sh restarts the server \
                 between setup and the measured run)"
                    .into(),
            );
        }
        None => o.note("setup cached in the state file: nothing was sent before the first query".into()),
    }
    match t.server_pid {
        Some(pid) => {
            let (waited, idle) = wait_idle(pid).await;
            o.fig("server_idle_wait_s", waited);
            if !idle {
                o.note(format!("the server was still busy after {IDLE_WAIT_MAX_S} s: a merge may run in the window"));
            }
        }
        None => o.note("no --server-pid: did not wait for the server to finish merging its log".into()),
    }
    // What the server wrote for the setup, its log merges included (it is
    // idle now); a checkpoint may still follow.
    let io_after = t.server_pid.and_then(procmon::sample).and_then(|s| s.io);
    if let (Some(_), Some(a), Some(b)) = (&setup_run, io_before, io_after) {
        let written = a.delta(&b).write_bytes;
        o.fig("setup_server_write_bytes", written as f64);
        o.fig("setup_server_write_bytes_per_msg", written as f64 / p.messages as f64);
    }

    let url = t.conn_url();
    let mut sessions = Vec::with_capacity(p.searchers);
    for s in 0..p.searchers {
        sessions.push(Session::connect(&url, &t.server, &prep.searcher.token, p.via, s % 2 == 1, s).await?);
    }
    let mon = start_monitor(t);
    let t0 = now_us() + 200_000;
    let end = t0 + t.duration_ms() * 1000;
    super::sleep_until_us(t0).await;
    future::join_all(sessions.iter_mut().map(|s| s.run(&truth, p.via, end))).await;
    let samples = samples(&mon);

    report(&mut o, t, &corpus, &truth, &sessions);
    o.server = procmon::window(&samples, t0, end);
    if let Some(first) = sessions.first_mut()
        && first.error.is_none()
    {
        completeness(&mut o, &corpus, &truth, first).await;
    }
    for s in &mut sessions {
        s.close().await;
    }
    for e in sessions.iter().filter_map(|s| s.error.as_ref()) {
        o.fail(e.clone());
    }
    let bad: u64 = sessions.iter().map(|s| s.bad).sum();
    if bad > 0 {
        let examples: Vec<&str> =
            sessions.iter().flat_map(|s| s.bad_examples.iter().map(String::as_str)).take(query::SHOWN_BAD).collect();
        o.fail(format!("{bad} queries failed the check: {}", examples.join("; ")));
    }
    Ok(o.finish(&WorkerReport::default(), Default::default()))
}

/// Ensures the users, the searcher, the groups and every message; returns
/// the participants (the shared users, then the searcher), what exists and,
/// if this run set anything up, how long that took.
async fn prepare(t: &Target, corpus: &Corpus) -> anyhow::Result<(Vec<BenchUser>, Prepared, Option<SetupRun>)> {
    let started = std::time::Instant::now();
    let m = corpus.m;
    let (mut state, mut people) = t.users(corpus.shape.users).await?;
    let key = format!("search-{m}");
    let server = state.servers.get_mut(&t.server).context("users first")?;
    let cached: Option<Prepared> = server.extras.get(&key).and_then(|v| serde_json::from_value(v.clone()).ok());
    let groups = corpus.convs.iter().filter(|c| c.group.is_some()).count();
    if let Some(p) = cached.as_ref().filter(|p| p.filled && p.corpus == corpus::VERSION && p.groups.len() == groups) {
        people.push(p.searcher.clone());
        return Ok((people, p.clone(), None));
    }
    let mut prep = match cached {
        Some(p) if p.corpus == corpus::VERSION => p,
        Some(_) => bail!("the state file has a `{key}` of another corpus version: use a fresh server and state"),
        None => {
            let name = format!("{}s{m}", server.prefix);
            let searcher = setup::create_user(&HttpApi::new(&t.server)?, &name).await?;
            Prepared { corpus: corpus::VERSION, searcher, groups: Vec::new(), plants: Vec::new(), filled: false }
        }
    };
    people.push(prep.searcher.clone());
    keep(&mut state, t, &key, &prep)?;

    // Groups, in corpus order, each owned by its first member.
    let pending: Vec<&corpus::Conv> =
        corpus.convs.iter().filter(|c| c.group.is_some_and(|g| g >= prep.groups.len())).collect();
    let made: Vec<anyhow::Result<String>> = stream::iter(pending)
        .map(|c| {
            let owner = &people[c.members[0]];
            let members: Vec<i64> = c.members[1..].iter().map(|&p| people[p].id).collect();
            let server = &t.server;
            async move { Ok(setup::create_group(server, owner, &c.name, members).await?.1) }
        })
        .buffered(GROUP_CONCURRENCY)
        .collect()
        .await;
    let failed = setup::keep_made_groups(made, &mut prep.groups);
    keep(&mut state, t, &key, &prep)?;
    if let Some(e) = failed {
        return Err(e);
    }

    // File messages point to a stored file of their sender's: one small
    // upload each (the same bytes, so the server stores them once).
    let attachments: Vec<String> = stream::iter(&people)
        .map(|u| setup::upload_bytes(&t.server, u, "attachment.bin", b"ferry-bench attachment".to_vec()))
        .buffered(GROUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let sending = std::time::Instant::now();
    let filled = fill::fill(&t.conn_url(), t.connect_concurrency, corpus, &people, &prep.groups, &attachments).await?;
    let msgs_secs = sending.elapsed().as_secs_f64();
    prep.plants = filled.plants;
    prep.filled = true;
    keep(&mut state, t, &key, &prep)?;
    let run = SetupRun { secs: started.elapsed().as_secs_f64(), msgs_secs, reconnects: filled.reconnects };
    Ok((people, prep, Some(run)))
}

/// Writes `prep` into the state file under `key`.
fn keep(state: &mut State, t: &Target, key: &str, prep: &Prepared) -> anyhow::Result<()> {
    let server = state.servers.get_mut(&t.server).context("users first")?;
    server.extras.insert(key.to_owned(), serde_json::to_value(prep)?);
    state.save(&t.state)
}

/// What the checks compare against.
fn truth<'a>(corpus: &'a Corpus, people: &[BenchUser], prep: &Prepared) -> Truth<'a> {
    let conv_id = |c: &corpus::Conv| match c.group {
        Some(g) => prep.groups[g].clone(),
        None => direct_conv(people[c.members[0]].id, people[c.members[1]].id),
    };
    let mine: Vec<String> = corpus.searcher_convs().into_iter().map(|c| conv_id(&corpus.convs[c])).collect();
    let visible: HashMap<String, usize> =
        corpus.searcher_convs().into_iter().map(|c| (conv_id(&corpus.convs[c]), c)).collect();
    let mut needle_hits = vec![HashSet::new(); corpus.needles.len()];
    let mut planted = HashMap::new();
    for (plant, &id) in corpus.plants.iter().zip(&prep.plants) {
        planted.insert(id, plant.needle);
        if corpus.convs[plant.conv].searcher {
            needle_hits[plant.needle].insert(id);
        }
    }
    Truth { corpus, visible, mine, needle_hits, planted }
}

/// Waits until `pid` used less than [`IDLE_CPU`] of a core over a second;
/// returns the seconds waited and whether it got there.
async fn wait_idle(pid: u32) -> (f64, bool) {
    let started = std::time::Instant::now();
    let mut last = procmon::sample(pid);
    while started.elapsed().as_secs() < IDLE_WAIT_MAX_S {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = procmon::sample(pid);
        match (last, now) {
            (Some(a), Some(b)) if (b.cpu_s - a.cpu_s) / ((b.t_us - a.t_us) as f64 / 1e6) < IDLE_CPU => {
                return (started.elapsed().as_secs_f64(), true);
            }
            (_, None) => return (started.elapsed().as_secs_f64(), false),
            _ => last = now,
        }
    }
    (started.elapsed().as_secs_f64(), false)
}

/// The name of the long connection's transport in figure names.
fn conn_name(t: &Target) -> &'static str {
    match t.transport {
        TransportKind::Tcp => "tcp",
        TransportKind::Ws => "ws",
    }
}

/// The figures: per class and interface, and over everything.
fn report(o: &mut Outcome, t: &Target, corpus: &Corpus, truth: &Truth<'_>, sessions: &[Session]) {
    let dur = t.duration;
    let names = [conn_name(t), "http"];
    o.fig("messages", corpus.m as f64);
    o.fig("searcher_conversations", truth.mine.len() as f64);
    let visible_plants = truth.needle_hits.iter().map(HashSet::len).sum::<usize>();
    o.fig("needle_plants_visible", visible_plants as f64);
    o.fig("needle_plants_hidden", (truth.planted.len() - visible_plants) as f64);
    let (mut queries, mut requests) = (0, 0);
    for class in Class::ALL {
        let mut s = ClassStats::default();
        for session in sessions {
            let x = &session.stats[class as usize];
            for i in 0..2 {
                s.requests[i].merge(&x.requests[i]);
                s.whole[i].merge(&x.whole[i]);
            }
            s.in_window += x.in_window;
            s.queries += x.queries;
            s.pages += x.pages;
            s.hits += x.hits;
        }
        let name = class.name();
        queries += s.in_window;
        requests += s.pages;
        o.fig(&format!("{name}_queries_per_s"), s.in_window as f64 / dur);
        if s.queries > 0 {
            o.fig(&format!("{name}_hits_per_query"), s.hits as f64 / s.queries as f64);
            if class.drains() || class == Class::Paging {
                o.fig(&format!("{name}_pages_per_query"), s.pages as f64 / s.queries as f64);
            }
        }
        for (i, iface) in names.iter().enumerate() {
            o.lat(&format!("{name}_{iface}"), &s.requests[i]);
            o.lat(&format!("{name}_whole_{iface}"), &s.whole[i]);
        }
    }
    o.fig("queries_per_s", queries as f64 / dur);
    o.fig("requests", requests as f64);
    o.fig("requests_checked", sessions.iter().map(|s| s.checked).sum::<u64>() as f64);
    o.fig("bad_queries", sessions.iter().map(|s| s.bad).sum::<u64>() as f64);
    let logged = (corpus.m + truth.corpus.convs.iter().filter(|c| c.group.is_some()).count() as u64) % LOG_ROWS;
    o.note(format!(
        "with the default storage.log_rows ({LOG_ROWS}) a little under {logged} of the {} messages are still in \
         the log (matched row by row) and the rest in the FTS5 index",
        corpus.m
    ));
    o.note(
        "latency = request sent → answer decoded by the bench, per request (page); `_whole_` = every page of one \
         query; `paging` = pages 2-5 by cursor (the first page is not in it); queries/s per class count the \
         class's queries in the window, so they follow the mix"
            .into(),
    );
}

/// After the window: pages through a few terms to the end and compares the
/// number of hits with what the corpus holds in the searcher's
/// conversations.
async fn completeness(o: &mut Outcome, corpus: &Corpus, truth: &Truth<'_>, session: &mut Session) {
    let checks: Vec<(String, bool)> = vec![
        (corpus.common_zh()[0].clone(), false),
        (corpus.common_en()[0].clone(), false),
        (corpus.file_terms()[0].clone(), true),
        (corpus.foreign_terms()[0].clone(), false),
    ];
    let (mut want, mut visible, mut files) = (vec![0u64; checks.len()], 0u64, 0u64);
    for i in 0..corpus.m {
        if !corpus.convs[corpus.conv_of(i)].searcher {
            continue;
        }
        visible += 1;
        let m = corpus.message(i);
        let file = matches!(m.content, Content::File { .. });
        files += u64::from(file);
        for (k, (term, only_files)) in checks.iter().enumerate() {
            if (file || !only_files) && matches(term, m.content.searchable()) {
                want[k] += 1;
            }
        }
    }
    o.fig("searcher_messages", visible as f64);
    o.fig("searcher_files", files as f64);
    let iface = session.any_iface();
    let mut lines = Vec::new();
    for ((term, only_files), want) in checks.iter().zip(want) {
        let search = v1::Search {
            query: term.clone(),
            kinds: if *only_files { vec!["file".into()] } else { Vec::new() },
            limit: query::DRAIN_LIMIT,
            ..Default::default()
        };
        let q = Query { class: Class::CommonZh, search, term: term.clone(), exactly: None };
        let bad_before = session.bad;
        match session.pages(truth, &q, iface, usize::MAX, true, None).await {
            Ok(found) => {
                let kind = if *only_files { " (kinds=file)" } else { "" };
                lines.push(format!("{term:?}{kind}: {} hits in {} pages", found.ids.len(), found.pages));
                if found.ids.len() as u64 != want || session.bad > bad_before {
                    o.fail(format!(
                        "{term:?}{kind} paged to the end: {} hits, the searcher's conversations hold {want}",
                        found.ids.len()
                    ));
                }
            }
            Err(e) => o.fail(format!("paging {term:?} to the end: {e:#}")),
        }
    }
    o.note(format!("complete (every hit the corpus has, once): {}", lines.join(", ")));
}
