//! Where instances share a JetStream store: the projects another instance
//! records are opened here too, so every instance lists, reaps and
//! follows them.

use std::sync::Arc;

use tokio::sync::watch;

use super::{ProjectInfo, Projects, RECORDS};
use crate::coord::lock;
use crate::streams::LogPort;

impl<P: LogPort + Clone> Projects<P> {
    /// Opens each project another instance records, until `stop`.
    pub(super) async fn follow_records(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let filter = format!("{RECORDS}.*");
        let mut after = self.default.port.head(&filter).await.unwrap_or(0);
        loop {
            let mut watch = match self.default.port.watch(&filter, after).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot follow the project records; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.changed() => return,
                    }
                }
            };
            loop {
                tokio::select! {
                    next = futures_util::StreamExt::next(&mut watch) => match next {
                        Some(Ok(r)) => {
                            after = after.max(r.seq);
                            let Ok(info) = serde_json::from_slice::<ProjectInfo>(&r.payload) else {
                                continue;
                            };
                            // The newest record is what is known about it.
                            if let Some((_, known)) = lock(&self.open).get_mut(&info.name) {
                                *known = info;
                                continue;
                            }
                            let _one = self.opening.lock().await;
                            if self.known(&info.name, None).is_none() {
                                if let Err(e) = self.open_project(info, false).await {
                                    tracing::warn!(error = %e, "cannot open a project another instance recorded");
                                }
                            }
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "the project watch ended; following again");
                            break;
                        }
                        None => break,
                    },
                    _ = stop.changed() => return,
                }
            }
        }
    }
}
