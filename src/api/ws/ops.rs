//! A connection's client frames: each op (`sub`, `unsub`, `pub`, `ack`,
//! `ping`, …) read from the socket and turned into tasks or answers on the
//! connection's queue, and the count of bad frames that closes it.

use super::protocol::{self, ClientOp, ServerFrame};
use super::{subscription, Connection, TaskCount, MAX_PROTOCOL_ERRORS};
use crate::api::auth::Role;
use crate::log::PublishOptions;

impl Connection {
    /// Handles one text frame; false closes the connection.
    pub(super) fn on_text(&mut self, text: &str) -> bool {
        let op: ClientOp = match serde_json::from_str(text) {
            Ok(op) => op,
            Err(e) => return self.protocol_error(&format!("bad frame: {e}")),
        };
        self.errors = 0;
        match op {
            ClientOp::Ping => {
                self.shared.push(ServerFrame::Pong);
            }
            ClientOp::Sub {
                sid,
                subject,
                deliver,
                durable,
                ack,
            } => {
                if !self.on_sub(sid, subject, deliver, durable, ack) {
                    return false;
                }
            }
            ClientOp::Unsub { sid } => {
                let key = protocol::sid_key(&sid).unwrap_or_default();
                match self.subs.remove(&key) {
                    Some(h) => {
                        h.abort();
                        crate::log::lock_unpoisoned(&self.shared.acks).remove(&key);
                    }
                    None => return self.protocol_error(&format!("no subscription with sid {key}")),
                }
            }
            ClientOp::Ack { sid, seq } => {
                // Acks only mean something to durable subscriptions with
                // ack: true, which read them from the log's consumer.
                subscription::ack(&self.state.streams, &self.shared, &sid, seq);
            }
            ClientOp::Pub {
                id,
                subject,
                data,
                text,
                data_b64,
                msg_id,
                expect_last_subject_seq,
            } => {
                let payload = protocol::payload(data, text, data_b64);
                return self.on_pub_frame(id, subject, payload, msg_id, expect_last_subject_seq);
            }
        }
        // Reap finished tasks so the set does not grow with every publish.
        while self.tasks.try_join_next().is_some() {}
        true
    }

    /// A `sub`: checked, then run as a task of the connection; false
    /// closes the connection.
    fn on_sub(
        &mut self,
        sid: serde_json::Value,
        subject: String,
        deliver: protocol::Deliver,
        durable: Option<String>,
        ack: bool,
    ) -> bool {
        let key = match protocol::sid_key(&sid) {
            Ok(k) => k,
            Err(e) => return self.protocol_error(&e),
        };
        if let Err(e) = crate::log::subject::validate_pattern(&subject) {
            return self.protocol_error(&e.to_string());
        }
        let most = self.state.limits.config.ws_subscriptions;
        if self.subs.len() >= most {
            return self.protocol_error(&format!(
                "this connection holds its limit of {most} subscriptions (--ws-max-subscriptions); unsub one first"
            ));
        }
        if self.subs.contains_key(&key) {
            return self
                .protocol_error(&format!("sid {key} is already subscribed; unsub it first"));
        }
        let live = match &durable {
            Some(_) => None,
            None => match deliver.start().and_then(|from| {
                self.state
                    .streams
                    .subscribe(&subject, from)
                    .map_err(|e| e.to_string())
            }) {
                Ok(live) => Some(live),
                Err(e) => return self.protocol_error(&e),
            },
        };
        let job = protocol::Job {
            sid,
            subject,
            deliver,
            durable,
            ack,
        };
        let (streams, shared, stats) = (
            self.state.streams.clone(),
            self.shared.clone(),
            self.state.ws_stats.clone(),
        );
        let count = TaskCount::new(stats);
        let handle = self.tasks.spawn(async move {
            // Moved in, so it drops even if the task is aborted
            // before it ever runs.
            let _count = count;
            subscription::run(streams, shared, job, live).await;
        });
        self.subs.insert(key, handle);
        true
    }

    /// A `pub`: refused by role or a bad payload with an answer to its
    /// `id`, else published; false closes the connection.
    fn on_pub_frame(
        &mut self,
        id: serde_json::Value,
        subject: String,
        payload: Result<Vec<u8>, String>,
        msg_id: Option<String>,
        expect_last_subject_seq: Option<u64>,
    ) -> bool {
        if self.role < Role::Agent {
            self.shared.push(protocol::err_for(
                &id,
                format!(
                    "this token has the {} role; publishing needs agent",
                    self.role.as_str()
                ),
            ));
            return true;
        }
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                self.shared.push(protocol::err_for(&id, e));
                return true;
            }
        };
        let opts = PublishOptions {
            msg_id,
            expected_last_subject_seq: expect_last_subject_seq,
            ..Default::default()
        };
        self.on_pub(id, subject, payload, opts)
    }

    pub(super) fn protocol_error(&mut self, detail: &str) -> bool {
        self.errors += 1;
        self.shared.push(protocol::err(detail));
        if self.errors >= MAX_PROTOCOL_ERRORS {
            tracing::info!(
                "closing a websocket after {} bad frames in a row",
                self.errors
            );
            return false;
        }
        true
    }
}
