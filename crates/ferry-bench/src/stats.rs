//! Measurement and bookkeeping: HDR latency histograms that travel between
//! processes, received-seq sets per conversation, and the correctness check
//! (zero lost, zero duplicated, seq contiguous).

use std::collections::BTreeMap;

use anyhow::Context as _;
use base64::Engine as _;
use hdrhistogram::{
    Histogram,
    serialization::{Deserializer, Serializer as _, V2Serializer},
};
use serde::{Deserialize, Serialize};

/// Highest latency a histogram records, in microseconds (one hour); larger
/// values are clamped to it.
const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds. Serialises as the HdrHistogram V2
/// format in base64, so workers can ship it to the parent losslessly.
///
/// Allocated on the first value: every client of a worker keeps a report
/// with several of these, and an HDR histogram over one hour at three
/// digits is ~200 KiB of counters, zeroed when made (20,000 clients made
/// eagerly cost gigabytes and the connect phase its CPU).
#[derive(Debug, Clone, Default)]
pub struct Hist(Option<Box<Histogram<u64>>>);

fn new_histogram() -> Histogram<u64> {
    // Cannot fail: the bounds and precision are valid constants.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

impl Hist {
    fn get_mut(&mut self) -> &mut Histogram<u64> {
        self.0.get_or_insert_with(|| Box::new(new_histogram()))
    }

    /// Records one latency in microseconds (clamped to the histogram's range).
    pub fn record_us(&mut self, us: u64) {
        self.get_mut().saturating_record(us.clamp(1, MAX_US));
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Hist) {
        if let Some(o) = &other.0 {
            // Cannot fail: both histograms have the same bounds.
            self.get_mut().add(&**o).expect("same histogram bounds");
        }
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// Largest recorded value (µs; 0 when empty).
    pub fn max_us(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.max())
    }

    /// p50/p90/p99/p99.9/max in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        let Some(h) = self.0.as_deref().filter(|h| !h.is_empty()) else {
            return LatencySummary::default();
        };
        LatencySummary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }

    /// Empty: "" (nothing to allocate on either side).
    fn to_base64(&self) -> String {
        let Some(h) = &self.0 else { return String::new() };
        let mut buf = Vec::new();
        // Cannot fail: writing into a Vec.
        V2Serializer::new().serialize(&**h, &mut buf).expect("serialise into a Vec");
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    fn from_base64(s: &str) -> anyhow::Result<Self> {
        let mut out = Self::default();
        if s.is_empty() {
            return Ok(out);
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).context("histogram base64")?;
        let h: Histogram<u64> =
            Deserializer::new().deserialize(&mut &bytes[..]).map_err(|e| anyhow::anyhow!("histogram: {e:?}"))?;
        out.get_mut().add(&h).map_err(|e| anyhow::anyhow!("histogram: {e:?}"))?;
        Ok(out)
    }
}

impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}

/// The usual latency figures, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    /// Added with the `web` workload; absent from older JSON reports.
    #[serde(default)]
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl std::fmt::Display for LatencySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  p99.9 {:.3} ms  max {:.3} ms  (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

/// The seqs a sender had acknowledged in one conversation: enough to check
/// they are contiguous (`count == max - min + 1`) and merge across senders.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SeqRange {
    pub min: u64,
    pub max: u64,
    pub count: u64,
}

impl SeqRange {
    /// A range holding one seq.
    pub fn one(seq: u64) -> Self {
        Self { min: seq, max: seq, count: 1 }
    }

    /// Adds the seqs of another (disjoint) range.
    pub fn merge(&mut self, other: &SeqRange) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    /// Whether the seqs fill `min..=max` exactly once.
    pub fn contiguous(&self) -> bool {
        self.count == self.max - self.min + 1
    }
}

/// Merges per-conversation ranges (acks of one sender are disjoint from
/// another's: every seq is acked to exactly one sender).
pub fn merge_ranges(into: &mut BTreeMap<String, SeqRange>, from: &BTreeMap<String, SeqRange>) {
    for (conv, r) in from {
        into.entry(conv.clone()).and_modify(|a| a.merge(r)).or_insert(*r);
    }
}

/// What one client received in one conversation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecvSummary {
    /// Client index (for messages about violations).
    pub client: u32,
    pub conv: String,
    /// Lowest and highest seq received (0 when nothing was).
    pub min: u64,
    pub max: u64,
    /// Distinct seqs received.
    pub distinct: u64,
    /// Seqs received twice on the same live stream.
    pub dups: u64,
    /// Pushes that arrived below a seq already seen (out of order).
    pub reorders: u64,
}

/// A set of seqs as a bitmap from a moving base: a conversation's seqs are
/// dense, so this costs one bit per message.
#[derive(Debug, Clone, Default)]
pub struct SeqSet {
    base: u64,
    words: Vec<u64>,
    min: u64,
    max: u64,
    distinct: u64,
    pub dups: u64,
    pub reorders: u64,
}

impl SeqSet {
    /// Inserts `seq`; returns false when it was already present.
    pub fn insert(&mut self, seq: u64) -> bool {
        if self.distinct == 0 {
            self.base = seq / 64 * 64;
            self.words.clear();
        } else if seq < self.base {
            let new_base = seq / 64 * 64;
            let shift = ((self.base - new_base) / 64) as usize;
            self.words.splice(0..0, std::iter::repeat_n(0, shift));
            self.base = new_base;
        }
        let idx = (seq - self.base) as usize;
        let (w, b) = (idx / 64, idx % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        if self.words[w] & (1 << b) != 0 {
            return false;
        }
        self.words[w] |= 1 << b;
        if self.distinct == 0 {
            (self.min, self.max) = (seq, seq);
        } else {
            self.min = self.min.min(seq);
            self.max = self.max.max(seq);
        }
        self.distinct += 1;
        true
    }

    /// Whether `seq` is present.
    pub fn contains(&self, seq: u64) -> bool {
        if self.distinct == 0 || seq < self.base {
            return false;
        }
        let idx = (seq - self.base) as usize;
        self.words.get(idx / 64).is_some_and(|w| w & (1 << (idx % 64)) != 0)
    }

    /// Highest seq received, 0 if none.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The highest `s` such that every seq in `from+1..=s` is present
    /// (`from` itself when `from+1` is missing): where a resync starts.
    pub fn contiguous_from(&self, from: u64) -> u64 {
        let mut s = from;
        while self.contains(s + 1) {
            s += 1;
        }
        s
    }

    /// The summary for the report.
    pub fn summary(&self, client: u32, conv: &str) -> RecvSummary {
        RecvSummary {
            client,
            conv: conv.to_owned(),
            min: self.min,
            max: self.max,
            distinct: self.distinct,
            dups: self.dups,
            reorders: self.reorders,
        }
    }
}

/// The outcome of the correctness check of one run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Correctness {
    /// Conversations with acked messages.
    pub conversations: u64,
    /// (receiver, conversation) pairs checked.
    pub streams_checked: u64,
    /// Acked messages some expected receiver never got.
    pub lost: u64,
    /// Messages a receiver got twice.
    pub duplicated: u64,
    /// Conversations whose acked seqs have holes (another writer, or a bug).
    pub non_contiguous: u64,
    /// Receivers that saw seqs beyond the last acked one (sent, never acked).
    pub beyond_acked: u64,
    /// Pushes that arrived out of seq order (informational: the SDK orders
    /// them; the server's promise is per-conversation order).
    pub reordered: u64,
    /// Sends that never got an ack before the drain deadline.
    pub unacked: u64,
    /// Clients that could not connect, or lost their connection when the
    /// workload did not expect it.
    pub connection_failures: u64,
    /// Human-readable first few violations.
    pub violations: Vec<String>,
}

impl Correctness {
    /// Whether the run must be reported as FAILED.
    pub fn failed(&self) -> bool {
        self.lost > 0
            || self.duplicated > 0
            || self.non_contiguous > 0
            || self.unacked > 0
            || self.connection_failures > 0
    }

    /// Records `n` clients that failed to connect or were dropped.
    pub fn connection_failed(&mut self, n: u64, what: &str) {
        if n > 0 {
            self.connection_failures += n;
            self.violation(format!("{n} clients {what}"));
        }
    }

    /// Records a violation (the first 20 are kept).
    pub fn violation(&mut self, s: String) {
        if self.violations.len() < 20 {
            self.violations.push(s);
        }
    }
}

/// Checks every expected receiver's stream against the acked seqs: it must
/// hold exactly `acked.min..=acked.max`, each once.
pub fn check(acked: &BTreeMap<String, SeqRange>, received: &[RecvSummary], unacked: u64) -> Correctness {
    let mut c = Correctness { conversations: acked.len() as u64, unacked, ..Default::default() };
    if unacked > 0 {
        c.violation(format!("{unacked} sends were never acknowledged"));
    }
    for (conv, a) in acked {
        if !a.contiguous() {
            c.non_contiguous += 1;
            c.violation(format!("{conv}: acked seqs {}..={} hold only {} messages", a.min, a.max, a.count));
        }
    }
    for r in received {
        let Some(a) = acked.get(&r.conv) else { continue };
        c.streams_checked += 1;
        c.duplicated += r.dups;
        c.reordered += r.reorders;
        if r.max > a.max {
            c.beyond_acked += 1;
        }
        // Seqs of the acked range that are missing. `distinct` may include
        // seqs beyond the acked range (unacked sends), which the range check
        // above reports; count only what lies inside.
        let inside_hi = r.max.min(a.max);
        let inside_lo = r.min.max(a.min);
        let inside = if r.distinct == 0 || inside_hi < inside_lo {
            0
        } else {
            // Contiguity inside is guaranteed when min/max/distinct agree;
            // otherwise estimate with the distinct count, capped.
            r.distinct.min(inside_hi - inside_lo + 1)
        };
        let lost = a.count.saturating_sub(inside);
        if lost > 0 {
            c.lost += lost;
            c.violation(format!(
                "client {} {}: {} of {} acked messages missing (got {} distinct, seqs {}..={}, acked {}..={})",
                r.client, r.conv, lost, a.count, r.distinct, r.min, r.max, a.min, a.max
            ));
        }
        if r.dups > 0 {
            c.violation(format!("client {} {}: {} duplicated", r.client, r.conv, r.dups));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_serialisation() {
        let mut h = Hist::default();
        for v in [1, 10, 100, 1000, 10_000] {
            h.record_us(v);
        }
        let json = serde_json::to_string(&h).unwrap();
        let back: Hist = serde_json::from_str(&json).unwrap();
        assert_eq!(back.count(), 5);
        assert_eq!(back.max_us(), h.max_us());
        // An empty one allocates nothing and travels as "".
        let empty: Hist = serde_json::from_str(&serde_json::to_string(&Hist::default()).unwrap()).unwrap();
        assert_eq!((empty.count(), empty.summary().count), (0, 0));
    }

    #[test]
    fn summary_has_the_usual_quantiles() {
        let mut h = Hist::default();
        for ms in 1..=100 {
            h.record_us(ms * 1000);
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        // Three significant digits: each quantile within 0.1% of its value.
        for (got, want) in [(s.p50_ms, 50.0), (s.p90_ms, 90.0), (s.p99_ms, 99.0), (s.max_ms, 100.0)] {
            assert!((got - want).abs() <= want * 1e-3, "{got} vs {want}");
        }
    }

    #[test]
    fn seq_set_counts_and_grows_both_ways() {
        let mut s = SeqSet::default();
        assert!(s.insert(200));
        assert!(s.insert(201));
        assert!(!s.insert(200));
        assert!(s.insert(3));
        assert!(s.contains(3) && s.contains(201) && !s.contains(4));
        assert_eq!(s.contiguous_from(199), 201);
        let r = s.summary(0, "c");
        assert_eq!((r.min, r.max, r.distinct), (3, 201, 3));
    }

    #[test]
    fn check_flags_loss_and_duplicates() {
        let mut acked = BTreeMap::new();
        acked.insert("c".to_owned(), SeqRange { min: 5, max: 9, count: 5 });
        let good = RecvSummary { client: 1, conv: "c".into(), min: 5, max: 9, distinct: 5, dups: 0, reorders: 0 };
        assert!(!check(&acked, std::slice::from_ref(&good), 0).failed());
        let lossy = RecvSummary { distinct: 4, ..good.clone() };
        assert_eq!(check(&acked, &[lossy], 0).lost, 1);
        let dup = RecvSummary { dups: 2, ..good };
        assert!(check(&acked, &[dup], 0).failed());
        let mut holes = acked.clone();
        holes.insert("d".into(), SeqRange { min: 1, max: 3, count: 2 });
        assert!(check(&holes, &[], 0).failed());
    }
}
