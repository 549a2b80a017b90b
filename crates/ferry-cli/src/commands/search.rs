//! `search [QUERY…] [--in CONVERSATION | --with USER] [--from USER]
//! [--kind KIND]… [--since TIME] [--until TIME] [--limit N] [--all]
//! [--json]`: full-text search over the messages you can see, newest first.
//!
//! Like the other reads (`pins`, `conversations`) it is plain HTTP, one
//! request a page; nothing needs the long connection. The server decides
//! what matches (Chinese by substring, other words by prefix, every word
//! must match) and cuts the snippets; this command resolves the filters,
//! names conversations and senders, marks the matched parts, and with
//! `--all` follows `next_cursor`. Users are named by username or id (`7`,
//! `#7`); times as Unix milliseconds, a date (`2024-05-01`) or an RFC 3339
//! time, UTC unless they say otherwise, as `ferry` prints times in UTC.

use std::{collections::HashMap, io::IsTerminal as _};

use anyhow::{Result, bail};
use clap::Args;
use ferry_client::{HttpApi, v1};
use ferry_core::{ConversationId, UserId};

use super::{Ctx, Names};
use crate::{
    output::{self, Highlight},
    profile::Profile,
};

/// Most pages `--all` fetches: a search matching more is better narrowed
/// than scrolled (each page may examine thousands of candidates).
const MAX_PAGES: usize = 50;

const USAGE: &str = "ferry search QUERY [--in CONVERSATION_ID | --with USER] [--from USER] [--kind KIND]... \
                     [--since TIME] [--until TIME] [--limit N] [--all] [--json]";

/// The arguments of `ferry search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to find; several words must all match. May be left out with
    /// --in, --with, --from or --kind.
    #[arg(value_name = "QUERY")]
    pub query: Vec<String>,
    /// Only this conversation (`d_1_2`, `g_5`).
    #[arg(long = "in", value_name = "CONVERSATION_ID", value_parser = parse_conversation_id, conflicts_with = "with")]
    pub conversation: Option<ConversationId>,
    /// Only the direct conversation with this user (a username, or an id:
    /// `7` or `#7`).
    #[arg(long, value_name = "USER", value_parser = parse_user)]
    pub with: Option<Who>,
    /// Only messages this user sent (a username, or an id: `7` or `#7`).
    #[arg(long, value_name = "USER", value_parser = parse_user)]
    pub from: Option<Who>,
    /// Only these kinds: text, image, file, voice, video, location, link,
    /// contact_card, chat_record, custom, call_log; repeatable, or
    /// comma-separated.
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Only messages sent at TIME or later: Unix ms, YYYY-MM-DD or RFC 3339
    /// (`2024-05-01T09:30:00+08:00`), UTC unless it says otherwise.
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<i64>,
    /// Only messages sent at TIME or earlier (a date counts to its end).
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<i64>,
    /// Hits per page.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub limit: u32,
    /// Follow the pages to the end (at most 50).
    #[arg(long)]
    pub all: bool,
    /// One JSON object per page: the server's `SearchResult` (proto3 JSON,
    /// as `GET /api/v1/search` answers it).
    #[arg(long)]
    pub json: bool,
}

/// A user as `--with` and `--from` name one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A username, looked up.
    Name(String),
    /// A user id.
    Id(UserId),
}

impl Who {
    async fn id(&self, http: &HttpApi) -> Result<UserId> {
        match self {
            Self::Name(name) => Ok(http.user_by_name(name).await?.id),
            Self::Id(id) => Ok(*id),
        }
    }
}

impl SearchArgs {
    /// The query: the words, one space apart.
    fn query(&self) -> String {
        self.query.iter().flat_map(|w| w.split_whitespace()).collect::<Vec<_>>().join(" ")
    }

    /// Refuses a search that has nothing to look for before asking the
    /// server (which would refuse it too).
    fn check(&self) -> Result<()> {
        let filtered =
            self.conversation.is_some() || self.with.is_some() || self.from.is_some() || !self.kinds.is_empty();
        if self.query().is_empty() && !filtered {
            bail!("usage: {USAGE} (QUERY may be left out only with --in, --with, --from or --kind)");
        }
        Ok(())
    }

    /// The first page's request, once the users are resolved.
    fn request(&self, conversation: Option<ConversationId>, sender: Option<UserId>) -> v1::Search {
        v1::Search {
            query: self.query(),
            conversation_id: conversation.map(|c| c.to_string()).unwrap_or_default(),
            sender_id: sender.unwrap_or(0),
            kinds: self.kinds.iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect(),
            since: self.since.unwrap_or(0),
            until: self.until.unwrap_or(0),
            cursor: String::new(),
            limit: self.limit,
        }
    }
}

/// Searches and prints: each page's hits as it comes (or the page as
/// JSON), then the first page's matching friends and groups.
pub async fn run(ctx: &Ctx, args: SearchArgs) -> Result<()> {
    args.check()?;
    let (profile, http) = ctx.session()?;
    let conversation = match (args.conversation, &args.with) {
        (Some(id), _) => Some(id),
        (None, Some(who)) => Some(ConversationId::direct(profile.user_id, who.id(&http).await?)),
        (None, None) => None,
    };
    let sender = match &args.from {
        Some(who) => Some(who.id(&http).await?),
        None => None,
    };
    let mut search = args.request(conversation, sender);
    let mut titles = Titles::new(http.clone(), &profile);
    let highlight = stdout_highlight();
    let mut first_page = None;
    for _ in 0..MAX_PAGES {
        let page = http.search(&search).await?;
        if args.json {
            println!("{}", serde_json::to_string(&page)?);
        } else {
            titles.learn(&page.hits).await?;
            for hit in &page.hits {
                let message = hit.message.as_ref();
                let title = message.and_then(|m| titles.title(&m.conversation_id));
                println!("{}", output::search_hit_line(hit, title.as_deref(), &|id| titles.name(id), highlight));
            }
        }
        search.cursor = page.next_cursor.clone();
        first_page.get_or_insert(page);
        if search.cursor.is_empty() || !args.all {
            break;
        }
    }
    if !args.json
        && let Some(page) = &first_page
    {
        print_names(page);
    }
    // Hints go to stderr, as `chat`'s status lines do, so a pipe gets only
    // results; JSON carries `nextCursor` itself.
    if !search.cursor.is_empty() {
        if args.all {
            eprintln!("stopped after {MAX_PAGES} pages; more results remain (narrow with --since/--until)");
        } else if !args.json {
            eprintln!("more results: run again with --all (or a larger --limit)");
        }
    }
    Ok(())
}

/// The matching friends and groups, each in a section of its own.
fn print_names(page: &v1::SearchResult) {
    if !page.contacts.is_empty() {
        println!("contacts:");
        for c in &page.contacts {
            println!("  {}", output::contact_hit_line(c));
        }
    }
    if !page.groups.is_empty() {
        println!("groups:");
        for g in &page.groups {
            println!("  {}", output::group_hit_line(g));
        }
    }
}

/// Bold matches on a terminal, unless `NO_COLOR` asks for none
/// (<https://no-color.org>); brackets in a pipe or file.
fn stdout_highlight() -> Highlight {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if std::io::stdout().is_terminal() && !no_color { Highlight::Bold } else { Highlight::Brackets }
}

/// Names for hit lines: users by username, direct conversations by the
/// peer's, groups by their name. Looked up once a page, and the groups
/// (one call for all of yours) only once a hit is in one.
struct Titles {
    me: UserId,
    http: HttpApi,
    names: Names,
    groups: Option<HashMap<i64, String>>,
}

impl Titles {
    fn new(http: HttpApi, profile: &Profile) -> Self {
        let mut names = Names::new(http.clone());
        names.insert(profile.user_id, profile.username.clone());
        Self { me: profile.user_id, http, names, groups: None }
    }

    /// Looks up the senders, peers and groups of `hits` not known yet.
    async fn learn(&mut self, hits: &[v1::SearchHit]) -> Result<()> {
        let mut users = Vec::new();
        let mut in_group = false;
        for m in hits.iter().filter_map(|h| h.message.as_ref()) {
            users.push(m.sender_id);
            match m.conversation_id.parse::<ConversationId>() {
                Ok(ConversationId::Group(_)) => in_group = true,
                Ok(direct) => users.extend(direct.peer_of(self.me)),
                Err(_) => {}
            }
        }
        self.names.resolve(users).await?;
        if in_group && self.groups.is_none() {
            let groups = self.http.groups().await?;
            self.groups = Some(groups.into_iter().map(|g| (g.id, g.name)).collect());
        }
        Ok(())
    }

    /// The username of `id`.
    fn name(&self, id: UserId) -> String {
        self.names.name(id)
    }

    /// The peer's username or the group's name (`None` for a group whose
    /// name is not known).
    fn title(&self, conversation_id: &str) -> Option<String> {
        match conversation_id.parse::<ConversationId>().ok()? {
            ConversationId::Group(id) => self.groups.as_ref()?.get(&id).filter(|n| !n.is_empty()).cloned(),
            direct => direct.peer_of(self.me).map(|peer| self.names.name(peer)),
        }
    }
}

/// Reads `--in`: a conversation id.
fn parse_conversation_id(s: &str) -> Result<ConversationId, String> {
    s.trim().parse().map_err(|_| format!("not a conversation id: {s:?} (expected d_1_2 or g_5)"))
}

/// Reads a user: digits (after a `#` too, as `ferry` shows unknown users)
/// are an id, anything else a username. Ids win, as conversation ids do in
/// [`super::Conversation::parse`]: a username of digits only can still be
/// reached by its id.
fn parse_user(s: &str) -> Result<Who, String> {
    let s = s.trim();
    let digits = s.strip_prefix('#').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match digits.parse::<UserId>() {
            Ok(id) if id > 0 => Ok(Who::Id(id)),
            _ => Err(format!("not a user id: {s:?}")),
        };
    }
    if s.is_empty() || s.starts_with('#') {
        return Err(format!("not a user: {s:?} (expected a username, or an id like 7 or #7)"));
    }
    Ok(Who::Name(s.to_owned()))
}

const DAY_MS: i64 = 86_400_000;

/// Reads `--since`: Unix ms, a date (from its start), or an RFC 3339 time.
fn parse_since(s: &str) -> Result<i64, String> {
    parse_time(s, false)
}

/// Reads `--until`: as `--since`, but a date lasts to its end (the bound is
/// inclusive, so `--since D --until D` is that day).
fn parse_until(s: &str) -> Result<i64, String> {
    parse_time(s, true)
}

/// Unix ms from `1714555800000`, `2024-05-01` (UTC), or
/// `2024-05-01T09:30[:00[.123]][Z|+08:00]` (`t` or a space for `T` too;
/// UTC without an offset).
fn parse_time(s: &str, end_of_day: bool) -> Result<i64, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "not a time: {s:?} (expected Unix milliseconds, YYYY-MM-DD, or RFC 3339 like 2024-05-01T09:30:00+08:00)"
        )
    };
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| bad());
    }
    let (date, clock) = match s.split_once(['T', 't', ' ']) {
        Some((date, clock)) => (date, Some(clock)),
        None => (s, None),
    };
    let midnight = parse_date(date).ok_or_else(bad)? * DAY_MS;
    let ms = match clock {
        Some(clock) => midnight + parse_clock(clock).ok_or_else(bad)?,
        None if end_of_day => midnight + DAY_MS - 1,
        None => midnight,
    };
    if ms < 0 { Err(format!("{s:?} is before 1970")) } else { Ok(ms) }
}

/// `YYYY-MM-DD` as days since 1970-01-01.
fn parse_date(date: &str) -> Option<i64> {
    let mut fields = date.split('-');
    let (y, m, d) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d) = (number(y)?, number(m)?, number(d)?);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    (1..=month_days).contains(&d).then(|| days_from_civil(y, m, d))
}

/// `HH:MM[:SS[.fff]]` and an optional zone (`Z`, `+08:00`, `-05:00`) as
/// milliseconds after midnight UTC of the date it follows (negative, or
/// past a day, when the zone moves it across midnight). Digits of a second
/// past milliseconds are dropped.
fn parse_clock(clock: &str) -> Option<i64> {
    let (time, offset_ms) = if let Some(time) = clock.strip_suffix(['Z', 'z']) {
        (time, 0)
    } else if let Some(at) = clock.rfind(['+', '-']) {
        let (time, zone) = clock.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':')?;
        let (h, m) = (two_digits(h, 24)?, two_digits(m, 60)?);
        (time, sign * (h * 3_600_000 + m * 60_000))
    } else {
        (clock, 0)
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut fields = hms.split(':');
    let (h, m) = (two_digits(fields.next()?, 24)?, two_digits(fields.next()?, 60)?);
    let s = fields.next().map_or(Some(0), |s| two_digits(s, 60))?;
    if fields.next().is_some() || (time.contains('.') && fraction.is_empty()) {
        return None;
    }
    let millis: String = fraction.chars().chain("000".chars()).take(3).collect();
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(h * 3_600_000 + m * 60_000 + s * 1000 + number(&millis)? - offset_ms)
}

/// Exactly two digits, below `limit`.
fn two_digits(s: &str, limit: i64) -> Option<i64> {
    (s.len() == 2).then(|| number(s)).flatten().filter(|n| *n < limit)
}

/// Digits only (no sign), as a number.
fn number(s: &str) -> Option<i64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the
/// inverse of the one [`output::utc_minute`] uses).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::commands::test_args as words;

    /// `ferry search` alone, to parse its arguments.
    #[derive(Debug, Parser)]
    struct Search {
        #[command(flatten)]
        args: SearchArgs,
    }

    fn parse(line: &[&str]) -> Result<SearchArgs, clap::Error> {
        Search::try_parse_from(words(&[&["search"], line].concat())).map(|s| s.args)
    }

    #[test]
    fn queries_and_filters_become_one_request() {
        let args = parse(&["数据库", "迁移", "--from", "bob", "--kind", "text,file", "--kind", "link"]).unwrap();
        args.check().unwrap();
        assert_eq!(args.from, Some(Who::Name("bob".into())));
        let s = args.request(None, Some(2));
        assert_eq!((s.query.as_str(), s.sender_id, s.conversation_id.as_str()), ("数据库 迁移", 2, ""));
        assert_eq!(s.kinds, ["text", "file", "link"]);
        assert_eq!((s.since, s.until, s.limit, s.cursor.as_str()), (0, 0, 20, ""));
        assert!(!args.all && !args.json);

        // A query of one argument with spaces is the same query.
        assert_eq!(parse(&["数据库  迁移 "]).unwrap().query(), "数据库 迁移");

        let args = parse(&["plan", "--in", "g_5", "--since", "2024-05-01", "--until", "1714600000000"]).unwrap();
        assert_eq!(args.conversation, Some(ConversationId::Group(5)));
        let s = args.request(args.conversation, None);
        assert_eq!((s.conversation_id.as_str(), s.since, s.until), ("g_5", 1_714_521_600_000, 1_714_600_000_000));

        let args = parse(&["--with", "#7", "--limit", "100", "--all", "--json"]).unwrap();
        assert_eq!((args.with, args.limit, args.all, args.json), (Some(Who::Id(7)), 100, true, true));
    }

    #[test]
    fn a_filter_may_stand_in_for_the_query() {
        for line in [&["--kind", "file"][..], &["--from", "bob"], &["--in", "d_1_2"], &["--with", "7"]] {
            let args = parse(line).unwrap();
            args.check().unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(args.request(None, None).query, "", "{line:?}");
        }
        // Nothing to look for: refused before connecting. Time alone is not
        // a filter (the server refuses it too).
        for line in [&[][..], &[" "], &["--since", "2024-05-01"], &["--all"]] {
            let e = parse(line).unwrap().check().unwrap_err().to_string();
            assert!(e.starts_with("usage: ferry search QUERY"), "{line:?}: {e}");
        }
    }

    #[test]
    fn malformed_searches_are_refused_by_the_parser() {
        for line in [
            &["x", "--in", "bob"][..],
            &["x", "--in", "d_2_1"],
            &["x", "--in", "g_5", "--with", "bob"],
            &["x", "--from", "#bob"],
            &["x", "--from", "#0"],
            &["x", "--with", ""],
            &["x", "--limit", "0"],
            &["x", "--limit", "101"],
            &["x", "--since", "yesterday"],
            &["x", "--until", "2024-02-30"],
        ] {
            assert!(parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn users_are_usernames_or_ids() {
        assert_eq!(parse_user("bob"), Ok(Who::Name("bob".into())));
        assert_eq!(parse_user("7"), Ok(Who::Id(7)));
        assert_eq!(parse_user("#7"), Ok(Who::Id(7)));
        assert_eq!(parse_user("b0b"), Ok(Who::Name("b0b".into())));
        for bad in ["", "#", "#x", "0", "#0", "99999999999999999999"] {
            assert!(parse_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_unix_ms_dates_or_rfc_3339() {
        assert_eq!(parse_since("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_since("0"), Ok(0));
        assert_eq!(parse_since("1970-01-01"), Ok(0));
        assert_eq!(parse_since("2023-11-14"), Ok(1_699_920_000_000));
        // A date as `--until` is inclusive to its last millisecond.
        assert_eq!(parse_until("2023-11-14"), Ok(1_699_920_000_000 + DAY_MS - 1));
        assert_eq!(parse_until("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_since("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_since("2023-11-14t22:13:20.5z"), Ok(1_700_000_000_500));
        assert_eq!(parse_since("2023-11-14 22:13:20.123456"), Ok(1_700_000_000_123));
        assert_eq!(parse_until("2023-11-14T22:13"), Ok(1_699_999_980_000));
        assert_eq!(parse_since("2023-11-15T06:13:20+08:00"), Ok(1_700_000_000_000));
        assert_eq!(parse_since("2023-11-14T17:13:20-05:00"), Ok(1_700_000_000_000));
        // Leap days, agreeing with how times are printed.
        assert_eq!(output::utc_minute(parse_since("2000-02-29").unwrap()), "2000-02-29 00:00 UTC");
        assert_eq!(output::utc_minute(parse_until("2024-12-31").unwrap()), "2024-12-31 23:59 UTC");
        for bad in [
            "",
            "yesterday",
            "-5",
            "2023-13-01",
            "2023-02-29",
            "2023-1-01",
            "2023-01-01-01",
            "2023-01-01T24:00",
            "2023-01-01T12",
            "2023-01-01T12:60",
            "2023-01-01T12:00:00.",
            "2023-01-01T12:00:00.x",
            "2023-01-01T12:00+8",
            "2023-01-01T12:00+08:60",
        ] {
            assert!(parse_since(bad).unwrap_err().starts_with("not a time"), "{bad:?}");
        }
        assert_eq!(parse_since("1969-12-31").unwrap_err(), "\"1969-12-31\" is before 1970");
    }

    #[test]
    fn dates_count_days_from_1970() {
        for (date, days) in [((1970, 1, 1), 0), ((1969, 12, 31), -1), ((2000, 3, 1), 11_017), ((2024, 2, 29), 19_782)] {
            assert_eq!(days_from_civil(date.0, date.1, date.2), days, "{date:?}");
        }
    }
}
