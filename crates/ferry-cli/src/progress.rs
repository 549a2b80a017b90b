//! The progress of a file transfer on stderr: an indicatif bar on a
//! terminal; on anything else (a pipe, a log file) no bar, only the notes
//! (retries, a resumed transfer), one line each.

use std::{io::IsTerminal as _, time::Duration};

use ferry_client::TransferEvent;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::sanitize;

const HASHING: &str = "{msg} hashing [{bar:30}] {bytes}/{total_bytes}";
const MOVING: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}";

/// One transfer's bar (or its absence).
#[derive(Debug)]
pub struct TransferBar {
    bar: Option<ProgressBar>,
    /// Which template the bar shows.
    hashing: bool,
}

impl TransferBar {
    /// A bar labelled `label` (`uploading cat.png`), drawn only if stderr
    /// is a terminal.
    pub fn new(label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0).with_style(style(MOVING)).with_message(sanitize(label));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, hashing: false }
    }

    /// Shows what the transfer reports.
    pub fn on(&mut self, event: &TransferEvent<'_>) {
        match *event {
            TransferEvent::Hashing { done, total } => self.show(true, done, total),
            TransferEvent::Progress { done, total } => self.show(false, done, total),
            TransferEvent::Retrying { attempt, delay, error } => {
                self.note(&format!("{error}; retrying in {:.1} s (attempt {attempt})", delay.as_secs_f64()));
            }
            _ => {}
        }
    }

    fn show(&mut self, hashing: bool, done: u64, total: u64) {
        let Some(bar) = &self.bar else { return };
        if hashing != self.hashing {
            self.hashing = hashing;
            bar.set_style(style(if hashing { HASHING } else { MOVING }));
            bar.reset();
        }
        bar.set_length(total);
        bar.set_position(done);
    }

    /// A line above the bar (or alone, without one).
    pub fn note(&self, line: &str) {
        let line = sanitize(line);
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants that parse; the plain bar is only a
    // fallback should a future indicatif read them differently.
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        for t in [HASHING, MOVING] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }

    #[test]
    fn without_a_terminal_events_are_harmless() {
        let mut bar = TransferBar { bar: None, hashing: false };
        bar.on(&TransferEvent::Hashing { done: 1, total: 2 });
        bar.on(&TransferEvent::Progress { done: 1, total: 2 });
        bar.finish();
    }
}
