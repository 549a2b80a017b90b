//! `ferry-server migrate-store`: a single node's SQLite store copied into
//! PostgreSQL for a cluster. The copy is the store's
//! ([`ferry_store::migrate`]); this adds what the server knows — how
//! message bodies are read for search — and the report.

use std::fmt::Write as _;

pub use ferry_store::migrate::{MigrateError, Summary};
use ferry_store::migrate::{MigrateOptions, sqlite_to_postgres};

use crate::config::{Config, MigrateStoreArgs};

/// Copies and verifies; messages are indexed for search as
/// `messages.search` says (as a node of the cluster would index them).
pub async fn migrate_store(config: &Config, args: &MigrateStoreArgs) -> Result<Summary, MigrateError> {
    let options = MigrateOptions { search: config.messages.search.then(crate::service::content::search_extractor) };
    sqlite_to_postgres(&args.from, &args.to, options).await
}

/// The summary printed at the end: rows per table, time and rate.
pub fn report(summary: &Summary) -> String {
    let secs = summary.elapsed.as_secs_f64().max(1e-3);
    let mut out = format!("migrated {} to PostgreSQL in {secs:.1} s\n", summary.source.display());
    for (table, rows) in &summary.tables {
        let _ = writeln!(out, "  {table:<24}{rows:>12}");
    }
    let (rows, messages) = (summary.rows(), summary.rows_of("messages"));
    let _ = writeln!(
        out,
        "  {:<24}{rows:>12} rows ({:.0} rows/s, {:.0} messages/s)",
        "total",
        rows as f64 / secs,
        messages as f64 / secs
    );
    let _ = writeln!(
        out,
        "verified: row counts of {} tables, seqs of {} conversations",
        summary.tables.len(),
        summary.conversations_checked
    );
    out
}
