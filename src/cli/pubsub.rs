//! `hivelog pub` and `hivelog sub`: publishing over HTTP (the answer comes
//! once the message is on disk) and following subjects over `/ws`, which
//! `msg tail --follow` reuses.

use std::io::Read;
use std::time::Instant;

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::client::{typed, Body, CliError, Client};
use super::output::{shown, Out, Tone};
use crate::api::ws::protocol::{ClientOp, Deliver, ServerFrame};
use crate::log::PubAck;
use crate::ops::messages::{Payload, Shown};

#[derive(Debug, Args)]
pub struct PubArgs {
    /// Subject to publish to, e.g. `mjwork.coordination`.
    subject: String,
    /// The payload (`-` reads it from stdin; empty when left out). With
    /// --count, `{{ n }}` in it (spaces optional) becomes the message's number.
    data: Option<String>,
    /// De-duplication id (`Nats-Msg-Id`): a second publish with the same id
    /// within the stream's duplicate window is stored once. `{{ n }}` works here too.
    #[arg(long, value_name = "ID")]
    msg_id: Option<String>,
    /// Publish N messages, one after another (a progress bar shows on a terminal).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// A header stored with the message, as NAME=VALUE (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    headers: Vec<String>,
}

/// `{{n}}` (or `{{ n }}`: clap's help turns the spaceless form into a line
/// break, so the help shows the spaced one) becomes the message number.
fn number(text: &str, n: u64) -> String {
    let n = n.to_string();
    text.replace("{{n}}", &n).replace("{{ n }}", &n)
}

pub async fn publish(client: &Client, out: Out, args: PubArgs) -> Result<(), CliError> {
    let template = match args.data.as_deref() {
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::input(format!("cannot read the payload from stdin: {e}")))?;
            bytes
        }
        Some(text) => text.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once('=') else {
            return Err(CliError::input(format!(
                "--header {header:?} must be NAME=VALUE"
            )));
        };
        headers.push((format!("hdr-{}", name.trim()), value.to_string()));
    }
    let numbered = |text: &[u8], n: u64| -> Vec<u8> {
        String::from_utf8(text.to_vec())
            .map(|s| number(&s, n).into_bytes())
            .unwrap_or_else(|_| text.to_vec())
    };

    let bar = progress(args.count, out);
    let started = Instant::now();
    let (mut first, mut last, mut duplicates) = (None, None, 0u64);
    // One Ctrl-C listener for the whole run: a fresh one per step could
    // miss a signal that lands between two steps.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    for n in 1..=args.count {
        let mut message_headers = headers.clone();
        if let Some(id) = &args.msg_id {
            message_headers.push(("Nats-Msg-Id".into(), number(id, n)));
        }
        let body = Body::Raw {
            bytes: numbered(&template, n),
            headers: message_headers,
        };
        let path = ["api", "pub", &args.subject];
        let call = client.call(Method::POST, &path, &[], Some(body), &[]);
        let answer = tokio::select! {
            answer = call => answer,
            _ = &mut interrupted => {
                bar.abandon();
                return Err(CliError::Interrupted(format!(
                    "published {} of {} messages to {} (number {n} was in flight and may be stored too)",
                    n - 1,
                    args.count,
                    args.subject
                )));
            }
        };
        let answer = match answer.and_then(|a| typed::<PubAck>(a.body)) {
            Ok(a) => a,
            Err(e) if args.count > 1 => {
                bar.abandon();
                return Err(CliError::input(format!(
                    "message {n} of {}: {e}",
                    args.count
                )));
            }
            Err(e) => return Err(e),
        };
        if answer.duplicate {
            duplicates += 1;
        }
        first.get_or_insert(answer.seq);
        last = Some(answer);
        bar.inc(1);
    }
    bar.finish_and_clear();
    // `count` is at least 1, so there was a last answer.
    let Some(last) = last else { return Ok(()) };

    if args.count == 1 {
        if out.json {
            out.json(&last);
        } else {
            out.line(&describe_puback(&out, &args.subject, &last));
        }
        return Ok(());
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary = Published {
        subject: &args.subject,
        published: args.count,
        duplicates,
        stream: last.stream.as_deref(),
        first_seq: first.flatten(),
        last_seq: last.seq,
        seconds: (seconds * 1000.0).round() / 1000.0,
    };
    if out.json {
        out.json(&summary);
    } else {
        out.line(&format!(
            "Published {} messages to {} in {:.2}s ({:.0}/s){}; last seq {}",
            args.count,
            out.paint(Tone::Accent, &args.subject),
            seconds,
            args.count as f64 / seconds.max(1e-9),
            if duplicates > 0 {
                format!(", {duplicates} duplicates")
            } else {
                String::new()
            },
            shown(&last.seq),
        ));
    }
    Ok(())
}

/// What `pub --count N --json` prints.
#[derive(serde::Serialize)]
struct Published<'a> {
    subject: &'a str,
    published: u64,
    duplicates: u64,
    stream: Option<&'a str>,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    seconds: f64,
}

fn describe_puback(out: &Out, subject: &str, ack: &PubAck) -> String {
    let subject = out.paint(Tone::Accent, subject);
    let seq = ack.seq.unwrap_or(0);
    match &ack.stream {
        None => format!(
            "Published to {subject}: no stream stores it; delivered to live subscribers only"
        ),
        Some(stream) if ack.duplicate => format!(
            "Duplicate: {subject} already stored in {stream} as seq {seq} (nothing new written)"
        ),
        Some(stream) => format!("Published to {subject}: {stream} seq {seq}"),
    }
}

/// A progress bar for bulk work, drawn on stderr only when it is a
/// terminal and the answer is not JSON.
pub fn progress(total: u64, out: Out) -> ProgressBar {
    if total <= 1 || out.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

#[derive(Debug, Args)]
pub struct SubArgs {
    /// Subject or pattern: `*` matches one token, `>` the rest (e.g. `mjwork.>`).
    pattern: String,
    /// Start with every stored message, then follow live.
    #[arg(long, group = "start")]
    all: bool,
    /// Start with the last stored message.
    #[arg(long, group = "start")]
    last: bool,
    /// Start with the last stored message of each subject.
    #[arg(long, group = "start")]
    last_per_subject: bool,
    /// Start with messages stored in the last DURATION (`10m`, `2h`) or since a time (`2026-11-25T10:00:00Z`).
    #[arg(long, group = "start", value_name = "WHEN")]
    since: Option<String>,
    /// Start at this stream sequence.
    #[arg(long, group = "start", value_name = "SEQ")]
    start_seq: Option<u64>,
    /// Resume by NAME: a durable subscription continues after the last
    /// message it acknowledged (each is acknowledged once printed).
    #[arg(long, value_name = "NAME")]
    durable: Option<String>,
    /// Exit after N messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

pub async fn subscribe(client: &Client, out: Out, args: SubArgs) -> Result<(), CliError> {
    let deliver = if args.all {
        Deliver::All
    } else if args.last {
        Deliver::Last
    } else if args.last_per_subject {
        Deliver::LastPerSubject
    } else if let Some(seq) = args.start_seq {
        Deliver::StartSeq(seq)
    } else if let Some(since) = &args.since {
        Deliver::StartTime(since_to_time(since)?)
    } else {
        Deliver::New
    };
    let sub = ClientOp::Sub {
        sid: Value::from(1),
        subject: args.pattern,
        deliver,
        ack: args.durable.is_some(),
        durable: args.durable,
    };
    follow(client, sub, args.count, |m| {
        if out.json {
            // The frame without its `op` and `sid`.
            out.line(&serde_json::to_string(&m).unwrap_or_default());
        } else {
            out.line(&describe_msg(&out, &m.message));
        }
    })
    .await
}

/// `10m` → the time 10 minutes ago; anything else is passed on as a time.
fn since_to_time(since: &str) -> Result<String, CliError> {
    if let Ok(ago) = crate::log::duration::parse_duration(since) {
        let ago = chrono::Duration::from_std(ago)
            .map_err(|_| CliError::input(format!("--since {since:?} is too long ago")))?;
        return Ok((chrono::Utc::now() - ago).to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
    if chrono::DateTime::parse_from_rfc3339(since).is_ok()
        || chrono::NaiveDateTime::parse_from_str(since, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    {
        return Ok(since.to_string());
    }
    Err(CliError::input(format!(
        "--since {since:?}: give a duration such as 10m or 2h, or a time such as 2026-11-25T10:00:00Z"
    )))
}

/// `17:32:43 mjwork.tasks #12  {"task_id":...}`
fn describe_msg(out: &Out, m: &Shown) -> String {
    let time = m
        .time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    let seq = match m.seq {
        Some(seq) => format!(" #{seq}"),
        None => String::new(),
    };
    format!(
        "{} {}{}  {}",
        out.paint(Tone::Dim, &time),
        out.paint(Tone::Accent, &m.subject),
        out.paint(Tone::Dim, &seq),
        payload_text(&m.payload)
    )
}

/// The payload as one line: JSON compact, text as is, binary by size.
pub fn payload_text(payload: &Payload) -> String {
    match payload {
        Payload::Data(data) => data.to_string(),
        Payload::Text(text) => text.replace('\n', "\\n"),
        Payload::DataB64(b64) => format!("<{} bytes of binary>", b64.len() / 4 * 3),
    }
}

/// A delivered message as `follow` hands it on: the `msg` frame without
/// its `op` and `sid`.
#[derive(Debug, serde::Serialize)]
pub struct Followed {
    #[serde(flatten)]
    pub message: Shown,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
}

/// Subscribes with `sub` over `/ws` and calls `on_msg` for each message
/// until `count` messages, Ctrl-C, or the server goes away. Durable
/// subscriptions with `"ack": true` acknowledge each message after
/// `on_msg` has printed it.
pub async fn follow(
    client: &Client,
    sub: ClientOp,
    count: Option<u64>,
    mut on_msg: impl FnMut(Followed),
) -> Result<(), CliError> {
    let url = client.ws_url();
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| CliError::input(format!("bad WebSocket URL {url}: {e}")))?;
    if let Some(token) = client.token() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| CliError::input("--token must be printable ASCII"))?;
        request.headers_mut().insert("authorization", value);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        request,
        None,
        true,
        client.ws_connector(),
    )
    .await
    .map_err(|e| CliError::Unreachable {
        server: url.clone(),
        reason: e.to_string(),
    })?;
    let acks = matches!(sub, ClientOp::Sub { ack: true, .. });
    ws.send(Frame::text(frame_text(&sub)?))
        .await
        .map_err(|e| CliError::Protocol(format!("cannot subscribe: {e}")))?;

    let mut seen = 0u64;
    if count == Some(0) {
        return Ok(());
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = &mut ctrl_c => break,
        };
        let text = match frame {
            None => {
                return Err(CliError::Protocol(
                    "the server closed the connection".into(),
                ))
            }
            Some(Err(e)) => return Err(CliError::Protocol(format!("connection lost: {e}"))),
            Some(Ok(Frame::Text(text))) => text,
            Some(Ok(Frame::Close(_))) => {
                return Err(CliError::Protocol(
                    "the server closed the connection".into(),
                ))
            }
            Some(Ok(_)) => continue,
        };
        // Frames of a newer server this one does not know are skipped.
        let Ok(frame) = serde_json::from_str::<ServerFrame>(text.as_str()) else {
            continue;
        };
        match frame {
            ServerFrame::Msg {
                sid,
                message,
                delivered,
            } => {
                let seq = message.seq;
                on_msg(Followed { message, delivered });
                if let (true, Some(seq)) = (acks, seq) {
                    let ack = ClientOp::Ack { sid, seq };
                    ws.send(Frame::text(frame_text(&ack)?))
                        .await
                        .map_err(|e| CliError::Protocol(format!("connection lost: {e}")))?;
                }
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            ServerFrame::Err { detail, .. } => return Err(CliError::Protocol(detail)),
            _ => {}
        }
    }
    // Finish the closing handshake: read until the server's close reply.
    // Exiting with frames still unread would make the kernel reset the
    // connection, and the server would drop the acks it had not read yet.
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(frame)) = ws.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    Ok(())
}

fn frame_text(op: &ClientOp) -> Result<String, CliError> {
    serde_json::to_string(op).map_err(|e| CliError::Protocol(format!("cannot encode a frame: {e}")))
}
