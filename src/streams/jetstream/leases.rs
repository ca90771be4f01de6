//! Leases on NATS: a JetStream KV bucket with one key per job that must
//! run once (the reaper), whose entries lapse `ttl` after their last write.

use std::time::Duration;

use async_nats::jetstream;

use super::{unavailable, JetStreamPort};
use crate::streams::PortError;

/// The KV bucket of leases (one key per job that must run once).
const LEASES_BUCKET: &str = "HIVELOG_LEASES";

impl JetStreamPort {
    /// The lease bucket: entries lapse `ttl` after their last write, which
    /// is what lets another instance take a dead holder's lease.
    async fn leases(&self, ttl: Duration) -> Result<&jetstream::kv::Store, PortError> {
        self.leases
            .get_or_try_init(|| async {
                match self.js.get_key_value(LEASES_BUCKET).await {
                    Ok(kv) => Ok(kv),
                    Err(_) => self
                        .js
                        .create_key_value(jetstream::kv::Config {
                            bucket: LEASES_BUCKET.into(),
                            description: "which hivelog instance runs each job that must run once"
                                .into(),
                            history: 1,
                            max_age: ttl,
                            num_replicas: self.replicas,
                            ..Default::default()
                        })
                        .await
                        .map_err(unavailable),
                }
            })
            .await
    }

    /// Takes or renews the lease `name` for `holder`: true while it holds
    /// it. A create or an update at the revision read, so two instances
    /// can never both hold one.
    pub(super) async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, PortError> {
        use jetstream::kv::{CreateErrorKind, Operation, UpdateErrorKind};
        let kv = self.leases(ttl).await?;
        let entry = kv.entry(name).await.map_err(unavailable)?;
        match entry {
            Some(e) if e.operation == Operation::Put => {
                if e.value.as_ref() != holder.as_bytes() {
                    return Ok(false);
                }
                // Ours: renewed only if nobody took it meanwhile.
                match kv.update(name, holder.to_string().into(), e.revision).await {
                    Ok(_) => Ok(true),
                    Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                    Err(err) => Err(unavailable(err)),
                }
            }
            _ => match kv.create(name, holder.to_string().into()).await {
                Ok(_) => Ok(true),
                Err(err) if err.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                Err(err) => Err(unavailable(err)),
            },
        }
    }
}
