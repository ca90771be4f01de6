//! Messages on channels (`coordination`, `errors`, `status`, …), stored on
//! `<prefix>.<channel>` as the replaced service did, with `@agent` mentions
//! picked out so they can be filtered.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::facets::Channels;
use super::inbox::InboxItem;
use super::time::ClientTime;
use super::{CoordError, Coordinator};
use crate::streams::LogPort;

const MAX_CONTENT: usize = 64 * 1024;
/// How far back a filtered read (mentions, messages only) looks.
const SCAN_BACK: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelMessage {
    /// What the client sent as `message_id`, as text (old clients read
    /// null or a string here).
    #[serde(default, deserialize_with = "id_as_text")]
    pub message_id: Option<String>,
    /// The message's sequence in its stream; not stored (it is the
    /// record's own sequence), filled in when read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
    pub agent_id: Option<String>,
    pub channel: String,
    pub content: Value,
    /// The client's `timestamp`, echoed as sent; the server's clock when it
    /// sent none.
    pub timestamp: Option<ClientTime>,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message to post, as clients send it (the CLI too).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessageInput {
    pub agent_id: Option<String>,
    pub channel: Option<String>,
    pub content: Option<Value>,
    #[serde(
        default,
        deserialize_with = "id_as_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<ClientTime>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A client's message id as text: strings as they are, numbers written
/// out; anything else is dropped rather than refused, because old records
/// and other tools put all kinds of things there.
fn id_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Channel names are one subject token: letters, digits, `_` and `-`.
pub fn validate_channel(channel: &str) -> Result<(), CoordError> {
    let ok = !channel.is_empty()
        && channel.len() <= 64
        && channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(CoordError::Invalid(format!(
            "channel {channel:?} must be 1 to 64 letters, digits, '_' or '-'"
        )));
    }
    if channel == "heartbeat" {
        return Err(CoordError::Invalid(
            "channel \"heartbeat\" is reserved for heartbeats".into(),
        ));
    }
    Ok(())
}

/// `@name` mentions, in order, without repeats.
pub fn mentions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices('@') {
        // An '@' inside a word (an e-mail address) is not a mention.
        if text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric())
        {
            continue;
        }
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        let name = name.trim_end_matches('.').to_string();
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

impl<P: LogPort> Coordinator<P> {
    /// Copies a message into the inbox of every agent it mentions or is
    /// addressed to (`"to"`); a failed copy is logged, the message stands.
    async fn deliver_message(&self, message: &ChannelMessage, text: &str) {
        let mut to: Vec<String> = message.mentions.clone();
        match message.extra.get("to") {
            Some(Value::String(a)) => to.push(a.clone()),
            Some(Value::Array(list)) => {
                to.extend(list.iter().filter_map(|v| v.as_str().map(String::from)))
            }
            _ => {}
        }
        to.sort();
        to.dedup();
        let from = message.agent_id.clone();
        for agent in to.iter().filter(|a| Some(*a) != from.as_ref()).take(64) {
            let item = InboxItem {
                seq: 0,
                kind: "message".into(),
                from: from.clone(),
                text: text.to_string(),
                task_id: message
                    .extra
                    .get("task_id")
                    .and_then(Value::as_str)
                    .map(String::from),
                channel: Some(message.channel.clone()),
                at: self.clock.now(),
            };
            // Mentions of names that are not valid agent ids are skipped.
            if let Err(e) = self.inbox().deliver(agent, item).await {
                tracing::debug!(%agent, error = %e, "message not copied to an inbox");
            }
        }
    }
}

impl<P: LogPort> Channels<'_, P> {
    /// Posts a message; returns it with its sequence.
    pub async fn post(self, input: MessageInput) -> Result<ChannelMessage, CoordError> {
        let agent_id = input
            .agent_id
            .filter(|a| !a.is_empty())
            .ok_or(CoordError::MissingAgent)?;
        let channel = input
            .channel
            .ok_or_else(|| CoordError::Invalid("channel is required".into()))?;
        validate_channel(&channel)?;
        let content = input
            .content
            .ok_or_else(|| CoordError::Invalid("content is required".into()))?;
        let text = match &content {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.len() > MAX_CONTENT {
            return Err(CoordError::Invalid(format!(
                "content is longer than {MAX_CONTENT} bytes"
            )));
        }
        let mut message = ChannelMessage {
            message_id: input.message_id,
            sequence: None,
            agent_id: Some(agent_id),
            channel: channel.clone(),
            mentions: mentions(&text),
            content,
            timestamp: Some(input.timestamp.unwrap_or_else(|| self.c.clock.now().into())),
            extra: input.extra,
        };
        let payload =
            serde_json::to_vec(&message).map_err(|e| CoordError::Corrupt(e.to_string()))?;
        let seq = self
            .c
            .port
            .append(&self.c.subject(&channel), payload, None)
            .await?;
        message.sequence = Some(seq);
        self.c.deliver_message(&message, &text).await;
        Ok(message)
    }

    /// The most recent `limit` messages of a channel, oldest first;
    /// with `mention`, only those that mention that agent. Anything else
    /// published on the channel's subject (a task version on `tasks`, raw
    /// text) is shown with itself as the content, unless `messages_only`:
    /// then it is skipped, as the replaced service skipped what did not
    /// parse as a message.
    pub async fn messages(
        self,
        channel: &str,
        limit: usize,
        mention: Option<&str>,
        messages_only: bool,
    ) -> Result<Vec<ChannelMessage>, CoordError> {
        validate_channel(channel).or_else(|e| {
            if channel == "heartbeat" {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        let subject = self.c.subject(channel);
        let filtered = mention.is_some() || messages_only;
        // A plain read looks back exactly `limit` records. A filtered one
        // first does too (on most channels every record is a message), and
        // only when that falls short looks further back.
        let mut window = if mention.is_some() { SCAN_BACK } else { limit };
        loop {
            let records = self.c.port.tail(&subject, window).await?;
            let complete = records.len() < window || window >= SCAN_BACK || !filtered;
            let mut out: Vec<ChannelMessage> = records
                .into_iter()
                .filter_map(|r| read_message(channel, r.seq, &r.payload, messages_only))
                .filter(|m| mention.is_none_or(|who| m.mentions.iter().any(|x| x == who)))
                .collect();
            if out.len() >= limit || complete {
                let skip = out.len().saturating_sub(limit);
                out.drain(..skip);
                return Ok(out);
            }
            window = SCAN_BACK;
        }
    }
}

/// A record of a channel's subject as a message. Anything else published
/// there (a task version on `tasks`, raw text) is shown with itself as the
/// content, or skipped with `messages_only`.
fn read_message(
    channel: &str,
    seq: u64,
    payload: &[u8],
    messages_only: bool,
) -> Option<ChannelMessage> {
    let mut m = match serde_json::from_slice::<ChannelMessage>(payload) {
        Ok(m) if m.agent_id.is_some() || !messages_only => m,
        Ok(_) => return None,
        Err(_) if messages_only => return None,
        Err(_) => ChannelMessage {
            message_id: None,
            sequence: None,
            agent_id: None,
            channel: channel.to_string(),
            content: serde_json::from_slice(payload)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned())),
            timestamp: None,
            mentions: Vec::new(),
            extra: Map::new(),
        },
    };
    m.sequence = Some(seq);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mentions_but_not_email_addresses() {
        assert_eq!(
            mentions("@bob the schema is ready, cc @alice-2."),
            ["bob", "alice-2"]
        );
        assert_eq!(mentions("mail me at me@example.com"), Vec::<String>::new());
        assert_eq!(mentions("@bob @bob"), ["bob"]);
        assert_eq!(mentions("@ nobody"), Vec::<String>::new());
    }
}
