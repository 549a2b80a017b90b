//! Full-text search: how text is cut into tokens, what a query means, and
//! which parts of a found text to highlight. Shared by every store backend
//! (which index the tokens) and the server (which highlights), so a query
//! finds the same messages wherever it runs.
//!
//! Text is cut into *pieces*: runs of letters and digits. A run in a script
//! written with spaces between words is a *word*, indexed lower-cased (its
//! first [`WORD_CHARS`] characters). A run in a script written without
//! spaces (Han, kana, Hangul, Thai, Lao, Khmer, Myanmar) is indexed as its
//! overlapping character pairs followed by its last character alone, so
//! `数据库` becomes `数据 据库 库`. Everything else (spaces, punctuation,
//! emoji) only separates.
//!
//! A query is a list of terms, all of which must match (AND, any order):
//! - a word term matches any word of the text that starts with it
//!   (`datab` finds "Database");
//! - a run term matches where it occurs inside a run of the text, i.e. by
//!   substring: `数据库` finds `我们明天讨论数据库迁移` (its pairs at
//!   consecutive positions), and a single character finds every run that
//!   contains it.

use std::ops::Range;

use crate::ApiError;

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most terms in one query.
pub const MAX_TERMS: usize = 8;
/// Characters of a word that are indexed (and compared).
pub const WORD_CHARS: usize = 64;
/// Characters of a text that are indexed; the rest is not searchable.
pub const MAX_INDEXED_CHARS: usize = 8_192;

/// Whether `c` belongs to a script written without spaces between words.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF          // Thai, Lao
        | 0x1000..=0x109F        // Myanmar
        | 0x1780..=0x17FF        // Khmer
        | 0x1100..=0x11FF        // Hangul Jamo
        | 0x2E80..=0x2FDF        // CJK radicals, Kangxi
        | 0x3005..=0x3007        // 々 〆 〇
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3130..=0x318F        // Hangul compatibility Jamo
        | 0x31F0..=0x31FF        // Katakana extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xAC00..=0xD7AF        // Hangul syllables
        | 0xF900..=0xFAFF        // CJK compatibility ideographs
        | 0xFF66..=0xFF9F        // half-width Katakana
        | 0x20000..=0x3134F      // CJK extensions B-G
    )
}

/// What a piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Run,
}

fn class(c: char) -> Option<Class> {
    // Most text is ASCII: no script table for it.
    if c.is_ascii() {
        c.is_ascii_alphanumeric().then_some(Class::Word)
    } else if unspaced(c) {
        Some(Class::Run)
    } else if c.is_alphanumeric() {
        Some(Class::Word)
    } else {
        None
    }
}

/// The pieces of `text` (words and runs) with their byte ranges.
fn pieces(text: &str) -> Vec<(Class, Range<usize>)> {
    let mut out: Vec<(Class, Range<usize>)> = Vec::new();
    each_piece(text, |class, range| out.push((class, range)));
    out
}

/// Calls `f` with each piece of `text` (words and runs) and its byte
/// range, in order, without collecting them.
fn each_piece(text: &str, mut f: impl FnMut(Class, Range<usize>)) {
    let mut current: Option<(Class, usize)> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        match (current, k) {
            (Some((open, _)), Some(k)) if open == k => {}
            (Some((open, start)), _) => {
                f(open, start..i);
                current = k.map(|k| (k, i));
            }
            (None, k) => current = k.map(|k| (k, i)),
        }
    }
    if let Some((open, start)) = current {
        f(open, start..text.len());
    }
}

/// A word as it is indexed: lower-cased, accents removed, cut at
/// [`WORD_CHARS`].
fn word_token(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    push_word(word, &mut out);
    out
}

/// Appends [`word_token`] of `word` to `out`.
fn push_word(word: &str, out: &mut String) {
    if word.is_ascii() {
        let start = out.len();
        out.push_str(&word[..word.len().min(WORD_CHARS)]);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(folded(word).take(WORD_CHARS));
    }
}

/// The accents of Latin, Greek and Cyrillic letters: the combining
/// diacritical marks block, which is what canonical decomposition splits
/// `é`, `Ü`, `ệ` into (`e` + marks). Marks of other scripts (Devanagari
/// vowel signs, Arabic harakat) are kept: they are not accents there.
fn is_accent(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

/// `text` lower-cased with accents removed, character for character, so
/// `cafe` finds "Café" and `tieng viet` finds "Tiếng Việt". Only a
/// character that decomposes into one letter and accents changes (to the
/// letter); every other character stays as it is.
fn folded(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().flat_map(char::to_lowercase).filter(|c| !is_accent(*c)).map(|c| {
        let (mut base, mut letters, mut accents) = (c, 0, 0);
        unicode_normalization::char::decompose_canonical(c, |d| {
            if is_accent(d) {
                accents += 1;
            } else {
                base = d;
                letters += 1;
            }
        });
        if letters == 1 && accents > 0 { base } else { c }
    })
}

fn run_chars(run: &str) -> Vec<char> {
    run.chars().flat_map(char::to_lowercase).collect()
}

/// The tokens a store indexes for `text`, separated by single spaces:
/// lower-cased words, and each run's character pairs plus its last
/// character. Only the first [`MAX_INDEXED_CHARS`] characters count.
pub fn index_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    push_index_tokens(text, &mut out);
    out
}

/// [`index_tokens`] appended to `out` (after a space when `out` is not
/// empty), without allocating: the store builds each indexed line with it
/// on the send path's writer thread.
pub fn push_index_tokens(text: &str, out: &mut String) {
    if text.is_ascii() {
        return push_ascii_tokens(&text[..text.len().min(MAX_INDEXED_CHARS)], out);
    }
    let text = match text.char_indices().nth(MAX_INDEXED_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let mut first = out.is_empty();
    let mut sep = |out: &mut String| {
        if !first {
            out.push(' ');
        }
        first = false;
    };
    let mut push_piece = |class: Class, piece: &str| match class {
        Class::Word => {
            sep(out);
            push_word(piece, out);
        }
        Class::Run => {
            let mut prev: Option<char> = None;
            for c in piece.chars().flat_map(char::to_lowercase) {
                if let Some(p) = prev {
                    sep(out);
                    out.push(p);
                    out.push(c);
                }
                prev = Some(c);
            }
            if let Some(last) = prev {
                sep(out);
                out.push(last);
            }
        }
    };
    each_piece(text, |class, range| push_piece(class, &text[range]));
}

/// [`push_index_tokens`] of ASCII text, where every letter or digit is a
/// word character and nothing else is: its words, without looking at
/// characters one by one.
fn push_ascii_tokens(text: &str, out: &mut String) {
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        push_word(word, out);
    }
}

/// One term of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Matches words starting with it (lower-case).
    Word(String),
    /// Matches where it occurs inside a run (lower-case characters).
    Run(Vec<char>),
}

/// A parsed query: its terms, all of which must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

impl Query {
    /// Parses what a user typed. Characters that are neither letters nor
    /// digits only separate terms, so a query may have no terms at all
    /// ([`is_empty`](Self::is_empty)); callers decide whether that is
    /// enough (with a filter) or an error.
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        if input.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::invalid(format!("a search query has at most {MAX_QUERY_CHARS} characters")));
        }
        let mut terms: Vec<Term> = Vec::new();
        for (class, range) in pieces(input) {
            let term = match class {
                Class::Word => Term::Word(word_token(&input[range])),
                Class::Run => Term::Run(run_chars(&input[range])),
            };
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if terms.len() > MAX_TERMS {
            return Err(ApiError::invalid(format!("a search query has at most {MAX_TERMS} terms")));
        }
        Ok(Self { terms })
    }

    /// No terms: the query matches everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The terms as an SQLite FTS5 query over [`index_tokens`] (`None`
    /// when there are none): words as prefix queries, runs as all of their
    /// pairs (a single character as a prefix query), joined by AND. An
    /// index without positions answers it with candidates that
    /// [`Query::matches`] then checks.
    pub fn fts5(&self) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| match t {
                Term::Word(w) => format!("\"{w}\"*"),
                Term::Run(chars) if chars.len() == 1 => format!("\"{}\"*", chars[0]),
                Term::Run(chars) => {
                    // Each pair, in any order: an index without positions
                    // finds candidates, `matches` checks the run itself.
                    let mut pairs: Vec<String> =
                        chars.windows(2).map(|w| format!("\"{}\"", String::from_iter(w))).collect();
                    pairs.sort_unstable();
                    pairs.dedup();
                    pairs.join(" AND ")
                }
            })
            .collect();
        Some(parts.join(" AND "))
    }

    /// Whether `text` matches every term: each word as a prefix of a word
    /// of the text, each run as a substring.
    pub fn matches(&self, text: &str) -> bool {
        if self.terms.is_empty() {
            return true;
        }
        let text = match text.char_indices().nth(MAX_INDEXED_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        // Every match is a substring of the lower-cased, accent-free text
        // (folding goes character by character and leaves runs alone): a
        // cheap first test that turns most texts away without cutting
        // them up.
        let lower: String = if text.is_ascii() { text.to_ascii_lowercase() } else { folded(text).collect() };
        let plausible = self.terms.iter().all(|t| match t {
            Term::Word(w) => lower.contains(w.as_str()),
            Term::Run(q) => {
                let mut needle = String::with_capacity(q.len() * 3);
                needle.extend(q.iter());
                lower.contains(&needle)
            }
        });
        if !plausible {
            return false;
        }
        let pieces = pieces(text);
        let words: Vec<String> =
            pieces.iter().filter(|(c, _)| *c == Class::Word).map(|(_, r)| word_token(&text[r.clone()])).collect();
        let runs: Vec<Vec<char>> =
            pieces.iter().filter(|(c, _)| *c == Class::Run).map(|(_, r)| run_chars(&text[r.clone()])).collect();
        self.terms.iter().all(|t| match t {
            Term::Word(w) => words.iter().any(|word| word.starts_with(w.as_str())),
            Term::Run(q) => runs.iter().any(|run| run.windows(q.len()).any(|w| w == q.as_slice())),
        })
    }

    /// Byte ranges of `text` that the terms match, sorted and merged.
    pub fn highlights(&self, text: &str) -> Vec<Range<usize>> {
        let mut found: Vec<Range<usize>> = Vec::new();
        for (class, range) in pieces(text) {
            let piece = &text[range.clone()];
            match class {
                Class::Word => {
                    let token = word_token(piece);
                    for t in &self.terms {
                        if let Term::Word(w) = t
                            && token.starts_with(w.as_str())
                        {
                            // As many characters of the original as the term has.
                            let n = w.chars().count();
                            let end = piece.char_indices().nth(n).map_or(piece.len(), |(i, _)| i);
                            found.push(range.start..range.start + end);
                        }
                    }
                }
                Class::Run => {
                    let offsets: Vec<usize> = piece.char_indices().map(|(i, _)| i).collect();
                    let chars = run_chars(piece);
                    if chars.len() != offsets.len() {
                        continue; // lower-casing changed the length: no exact positions
                    }
                    for t in &self.terms {
                        if let Term::Run(q) = t {
                            for (i, w) in chars.windows(q.len()).enumerate() {
                                if w == q.as_slice() {
                                    let end = offsets.get(i + q.len()).copied().unwrap_or(piece.len());
                                    found.push(range.start + offsets[i]..range.start + end);
                                }
                            }
                        }
                    }
                }
            }
        }
        found.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for r in found {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }
}

/// A piece of a snippet: plain text or a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// At most `max_chars` characters of `text` on one line around its first
/// match (some context before it), split into plain and matched parts;
/// "…" marks a cut at either end.
pub fn snippet(query: &Query, text: &str, max_chars: usize) -> Vec<SnippetPart> {
    const BEFORE: usize = 16;
    let hits = query.highlights(text);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let first_hit = hits.first().map_or(0, |h| chars.partition_point(|(i, _)| *i < h.start));
    let start = first_hit.saturating_sub(BEFORE).min(chars.len().saturating_sub(max_chars));
    let end = (start + max_chars).min(chars.len());
    let byte = |c: usize| chars.get(c).map_or(text.len(), |(i, _)| *i);
    let (from, to) = (byte(start), byte(end));
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |s: &str, hit: bool| {
        let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        match parts.last_mut() {
            Some(last) if last.hit == hit => last.text.push_str(&s),
            _ if s.is_empty() => {}
            _ => parts.push(SnippetPart { text: s, hit }),
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = from;
    for h in hits.iter().filter(|h| h.end > from && h.start < to) {
        let (s, e) = (h.start.max(from), h.end.min(to));
        push(&text[at..s], false);
        push(&text[s..e], true);
        at = e;
    }
    push(&text[at..to], false);
    if end < chars.len() {
        push("…", false);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s).expect("query")
    }

    #[test]
    fn runs_become_pairs_and_words_lower_case() {
        assert_eq!(index_tokens("我们明天讨论数据库迁移"), "我们 们明 明天 天讨 讨论 论数 数据 据库 库迁 迁移 移");
        assert_eq!(index_tokens("Hello, WORLD! 你"), "hello world 你");
        assert_eq!(index_tokens("Rust是好的2026"), "rust 是好 好的 的 2026");
        assert_eq!(index_tokens("  ...  "), "");
        // ASCII and other words are cut at the same character count.
        assert_eq!(index_tokens(&"AbC".repeat(30)), "abc".repeat(30)[..WORD_CHARS]);
        assert_eq!(index_tokens(&"ÀbC".repeat(30)), "abc".repeat(30)[..WORD_CHARS]);
        assert_eq!(index_tokens("Ünïcode café_x"), "unicode cafe x");
        // Accents go (Latin, Greek, Cyrillic); other letters stay whole.
        assert_eq!(index_tokens("Tiếng Việt Ελληνικά Ёлка straße Łódź"), "tieng viet ελληνικα елка straße łodz");
        assert_eq!(index_tokens("\u{0958}लम"), "\u{0958}लम", "क़ decomposes to क and a nukta: kept");
        let mut line = String::from("prefix");
        push_index_tokens("数据 DB", &mut line);
        assert_eq!(line, "prefix 数据 据 db");
    }

    #[test]
    fn chinese_is_found_by_substring() {
        let text = "我们明天讨论数据库迁移";
        for hit in ["数据库", "数据", "库", "讨论数据库迁移", "明天 迁移"] {
            assert!(q(hit).matches(text), "{hit}");
        }
        for miss in ["数据表", "迁移数据", "库数"] {
            assert!(!q(miss).matches(text), "{miss}");
        }
        // Runs do not join across a separator.
        assert!(!q("数据库").matches("数据，库"));
    }

    #[test]
    fn words_match_by_prefix_case_insensitively() {
        let text = "Planning the Database migration";
        assert!(q("datab").matches(text));
        assert!(q("MIGRATION plan").matches(text));
        assert!(!q("base").matches(text));
        assert!(!q("database rollback").matches(text));
    }

    #[test]
    fn fts5_queries_mirror_the_terms() {
        assert_eq!(q("数据库 Datab").fts5().as_deref(), Some("\"据库\" AND \"数据\" AND \"datab\"*"));
        assert_eq!(q("哈哈哈").fts5().as_deref(), Some("\"哈哈\""));
        assert_eq!(q("库").fts5().as_deref(), Some("\"库\"*"));
        assert_eq!(q("!!").fts5(), None);
        assert!(q("!!").is_empty());
    }

    #[test]
    fn bounds_are_enforced() {
        assert!(Query::parse(&"a".repeat(MAX_QUERY_CHARS + 1)).is_err());
        assert!(Query::parse("a b c d e f g h i").is_err());
        assert_eq!(q("a a a").terms().len(), 1);
    }

    #[test]
    fn accents_do_not_matter_either_way() {
        assert!(q("cafe").matches("Un café, s'il vous plaît"));
        assert!(q("café").matches("CAFE OLE"));
        assert!(q("tieng viet").matches("Tiếng Việt có dấu"));
        assert!(q("Ελληνικα").matches("ελληνικά"));
        assert!(!q("cafes").matches("café"));
        let text = "Réunion à Zürich demain";
        let hits: Vec<&str> = q("zur reunion").highlights(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(hits, ["Réunion", "Zür"]);
    }

    #[test]
    fn highlights_and_snippets() {
        let query = q("数据库 plan");
        let text = "我们明天讨论数据库迁移 and Planning";
        let hits: Vec<&str> = query.highlights(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(hits, ["数据库", "Plan"]);
        let parts = snippet(&query, text, 100);
        let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, text);
        assert!(parts.iter().any(|p| p.hit && p.text == "数据库"));

        let long = format!("{}数据库{}", "前".repeat(100), "后".repeat(100));
        let parts = snippet(&q("数据库"), &long, 40);
        assert_eq!(parts.first().map(|p| p.text.chars().next()), Some(Some('…')));
        assert!(parts.iter().any(|p| p.hit && p.text == "数据库"));
        let total: usize = parts.iter().map(|p| p.text.chars().count()).sum();
        assert_eq!(total, 42); // 40 characters and two ellipses
    }
    /// The tokens as the first version cut them (pieces, then each piece),
    /// which indexes written before must still match.
    fn index_tokens_reference(text: &str) -> String {
        let text = match text.char_indices().nth(MAX_INDEXED_CHARS) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        let mut tokens: Vec<String> = Vec::new();
        for (class, range) in pieces(text) {
            match class {
                // Not `word_token`, which has a fast path of its own.
                Class::Word => tokens.push(folded(&text[range]).take(WORD_CHARS).collect()),
                Class::Run => {
                    let chars = run_chars(&text[range]);
                    tokens.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
                    tokens.extend(chars.last().map(char::to_string));
                }
            }
        }
        tokens.join(" ")
    }

    proptest::proptest! {
        #[test]
        fn tokens_are_cut_as_before(text in "(\\PC|[a-zA-Z0-9 _.,]|[数据库迁移我们こんにちは한국어ไทย]){0,80}") {
            proptest::prop_assert_eq!(index_tokens(&text), index_tokens_reference(&text));
        }

        /// ASCII text takes a path of its own, with long words and texts
        /// over the indexed length.
        #[test]
        fn ascii_tokens_are_cut_as_before(
            word in "[a-zA-Z0-9]{60,70}",
            text in "[a-zA-Z0-9 _.,!\n-]{0,120}",
            repeat in 0usize..80,
        ) {
            let long = format!("{text} {word} ").repeat(repeat);
            for t in [&text, &long] {
                proptest::prop_assert_eq!(index_tokens(t), index_tokens_reference(t));
                let mut out = String::from("x");
                push_index_tokens(t, &mut out);
                let expected = match index_tokens_reference(t) { r if r.is_empty() => "x".to_owned(), r => format!("x {r}") };
                proptest::prop_assert_eq!(out, expected);
            }
        }
    }
}
