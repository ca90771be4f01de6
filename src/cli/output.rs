//! How the client commands print: aligned tables and key/value blocks for
//! people, one JSON document for scripts (`--json`), colour only when
//! stdout is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use serde_json::Value;
use unicode_width::UnicodeWidthStr;

/// Where and how a command prints its answer.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub colour: bool,
}

/// The few styles the commands use, so colours mean the same everywhere.
#[derive(Debug, Clone, Copy)]
pub enum Tone {
    Header,
    Dim,
    Good,
    Warn,
    Bad,
    Accent,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Tone::Header => Style::new().bold(),
            Tone::Dim => Style::new().dimmed(),
            Tone::Good => AnsiColor::Green.on_default(),
            Tone::Warn => AnsiColor::Yellow.on_default(),
            Tone::Bad => AnsiColor::Red.on_default().bold(),
            Tone::Accent => AnsiColor::Cyan.on_default(),
        }
    }
}

impl Out {
    pub fn new(json: bool) -> Self {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Out { json, colour }
    }

    /// `text` in `tone` when colour is on, as is otherwise.
    pub fn paint(&self, tone: Tone, text: &str) -> String {
        if self.colour && !text.is_empty() {
            let style = tone.style();
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    /// Prints `value` as pretty JSON (the `--json` answer).
    /// Prints a value as one line of JSON (a stream of records).
    pub fn json_line(&self, value: &impl serde::Serialize) {
        line(&serde_json::to_string(value).unwrap_or_default());
    }

    pub fn json(&self, value: &impl serde::Serialize) {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        line(&text);
    }

    /// Prints one line of text.
    pub fn line(&self, text: &str) {
        line(text);
    }

    /// Prints `label: value` lines with the labels aligned.
    pub fn fields(&self, rows: &[(&str, String)]) {
        let width = rows.iter().map(|(k, _)| k.width()).max().unwrap_or(0);
        for (key, value) in rows {
            let pad = " ".repeat(width - key.width());
            line(&format!("{}{pad}  {value}", self.paint(Tone::Dim, key)));
        }
    }
}

fn line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`hivelog task ls | head`) is not an error worth a
    // message; anything else we cannot report either, so both are ignored.
    let _ = writeln!(stdout, "{text}");
}

/// A table whose columns are aligned on the text's display width, with
/// colour applied per cell after padding so escapes never skew alignment.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<(String, Option<Tone>)>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<(String, Option<Tone>)>) {
        self.rows.push(cells);
    }

    pub fn print(&self, out: &Out) {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, (text, _)) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(text.width());
                }
            }
        }
        let last = widths.len().saturating_sub(1);
        let render = |cells: Vec<(String, Option<Tone>)>| {
            let mut text = String::new();
            for (i, (cell, tone)) in cells.into_iter().enumerate() {
                let pad = if i == last {
                    String::new()
                } else {
                    " ".repeat(
                        widths
                            .get(i)
                            .copied()
                            .unwrap_or(0)
                            .saturating_sub(cell.width())
                            + 2,
                    )
                };
                let shown = match tone {
                    Some(tone) => out.paint(tone, &cell),
                    None => cell,
                };
                text.push_str(&shown);
                text.push_str(&pad);
            }
            text.trim_end().to_string()
        };
        line(&render(
            self.headers
                .iter()
                .map(|h| (h.to_string(), Some(Tone::Header)))
                .collect(),
        ));
        for row in &self.rows {
            line(&render(row.clone()));
        }
    }
}

/// A plain cell.
pub fn cell(text: impl Into<String>) -> (String, Option<Tone>) {
    (text.into(), None)
}

/// A coloured cell.
pub fn tinted(text: impl Into<String>, tone: Tone) -> (String, Option<Tone>) {
    (text.into(), Some(tone))
}

/// A field of a typed answer as display text, as it reads in the JSON
/// the server sent: strings bare, null and empty as "-", lists joined
/// with commas, anything else as JSON.
pub fn shown(v: &impl serde::Serialize) -> String {
    text_of(serde_json::to_value(v).ok().as_ref())
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

/// 1536 → "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// 3725 → "1h2m", 42 → "42s".
pub fn seconds(total: u64) -> String {
    let (d, h, m, s) = (
        total / 86_400,
        total % 86_400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// How long ago a stored timestamp was ("12s ago"); naive timestamps are
/// UTC, as the coordination API writes them.
pub fn ago(timestamp: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(timestamp)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.and_utc())
        });
    match parsed {
        Ok(t) => {
            let secs = (chrono::Utc::now() - t).num_seconds();
            if secs < 0 {
                "just now".into()
            } else {
                format!("{} ago", seconds(secs as u64))
            }
        }
        Err(_) => timestamp.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(seconds(42), "42s");
        assert_eq!(seconds(125), "2m5s");
        assert_eq!(seconds(3725), "1h2m");
        assert_eq!(seconds(90_000), "1d1h");
    }

    #[test]
    fn shown_shows_absent_and_empty_as_a_dash() {
        assert_eq!(shown(&None::<String>), "-");
        assert_eq!(shown(&""), "-");
        assert_eq!(shown(&Vec::<String>::new()), "-");
        assert_eq!(shown(&["x", "y"]), "x,y");
        assert_eq!(shown(&3), "3");
        assert_eq!(shown(&"ok"), "ok");
        assert_eq!(shown(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }
}
