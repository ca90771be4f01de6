//! `LogPort` in memory: one ordered list of records with a global sequence,
//! as a stream would hold them. For tests of coordination that need no
//! disk and no timing — paired with `ManualClock`, the whole task
//! lifecycle runs in microseconds. It also lets a test fail writes
//! (`fail_writes`) to see what coordination does when storage refuses.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{LogPort, PortError, Record, Watch};
use crate::log::subject::matches;
use futures_util::StreamExt;

pub struct MemoryPort {
    inner: Mutex<Inner>,
    /// Every appended record, for watchers.
    appended: tokio::sync::broadcast::Sender<Record>,
}

impl Default for MemoryPort {
    fn default() -> Self {
        MemoryPort {
            inner: Mutex::default(),
            appended: tokio::sync::broadcast::channel(4096).0,
        }
    }
}

#[derive(Default)]
struct Inner {
    /// seq → record, every record ever appended.
    records: BTreeMap<u64, Record>,
    /// subject → its newest sequence.
    last: BTreeMap<String, u64>,
    next_seq: u64,
    failing: Option<PortError>,
    /// Lease name → holder and when it lapses.
    leases: std::collections::HashMap<String, (String, std::time::Instant)>,
    snapshot: Option<Vec<u8>>,
}

impl MemoryPort {
    pub fn new() -> MemoryPort {
        MemoryPort::default()
    }

    /// Every later append fails with `error` (None: they work again).
    pub fn fail_writes(&self, error: Option<PortError>) {
        self.lock().failing = error;
    }

    /// How many records were appended.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LogPort for MemoryPort {
    async fn append(
        &self,
        subject: &str,
        payload: Vec<u8>,
        expect: Option<u64>,
    ) -> Result<u64, PortError> {
        let mut inner = self.lock();
        if let Some(e) = &inner.failing {
            return Err(e.clone());
        }
        let actual = inner.last.get(subject).copied().unwrap_or(0);
        if expect.is_some_and(|e| e != actual) {
            return Err(PortError::Conflict { actual });
        }
        inner.next_seq += 1;
        let seq = inner.next_seq;
        inner.records.insert(
            seq,
            Record {
                subject: subject.to_string(),
                seq,
                payload,
            },
        );
        inner.last.insert(subject.to_string(), seq);
        // Sent while the lock is held, so watchers see appends in order.
        let _ = self.appended.send(inner.records[&seq].clone());
        Ok(seq)
    }

    async fn last_per_subject(&self, filter: &str) -> Result<Vec<Record>, PortError> {
        let inner = self.lock();
        let mut seqs: Vec<u64> = inner
            .last
            .iter()
            .filter(|(s, _)| matches(filter, s))
            .map(|(_, seq)| *seq)
            .collect();
        seqs.sort_unstable();
        Ok(seqs.iter().map(|s| inner.records[s].clone()).collect())
    }

    async fn last(&self, subject: &str) -> Result<Option<Record>, PortError> {
        let inner = self.lock();
        Ok(inner
            .last
            .get(subject)
            .map(|seq| inner.records[seq].clone()))
    }

    async fn scan(
        &self,
        subject: &str,
        start_seq: u64,
        limit: usize,
    ) -> Result<Vec<Record>, PortError> {
        let inner = self.lock();
        Ok(inner
            .records
            .range(start_seq..)
            .map(|(_, r)| r)
            .filter(|r| r.subject == subject)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn tail(&self, subject: &str, limit: usize) -> Result<Vec<Record>, PortError> {
        let inner = self.lock();
        let mut newest: Vec<Record> = inner
            .records
            .values()
            .rev()
            .filter(|r| r.subject == subject)
            .take(limit)
            .cloned()
            .collect();
        newest.reverse();
        Ok(newest)
    }

    async fn head(&self, _filter: &str) -> Result<u64, PortError> {
        Ok(self.lock().next_seq)
    }

    async fn watch(&self, filter: &str, after: u64) -> Result<Watch, PortError> {
        // Subscribed before the backlog is read, under the lock: nothing
        // falls between the two.
        let (backlog, rx) = {
            let inner = self.lock();
            let rx = self.appended.subscribe();
            let backlog: Vec<Record> = inner
                .records
                .range(after + 1..)
                .map(|(_, r)| r.clone())
                .filter(|r| matches(filter, &r.subject))
                .collect();
            (backlog, rx)
        };
        let filter = filter.to_string();
        let last = backlog.last().map_or(after, |r| r.seq);
        let live =
            futures_util::stream::unfold((rx, filter, last), |(mut rx, filter, last)| async move {
                loop {
                    match rx.recv().await {
                        Ok(r) if r.seq > last && matches(&filter, &r.subject) => {
                            let seq = r.seq;
                            return Some((Ok(r), (rx, filter, seq)));
                        }
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            return Some((
                                Err(PortError::Unavailable(format!(
                                    "watcher fell {n} records behind"
                                ))),
                                (rx, filter, u64::MAX),
                            ))
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            });
        Ok(Box::pin(
            futures_util::stream::iter(backlog.into_iter().map(Ok)).chain(live),
        ))
    }

    async fn lead(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, PortError> {
        let now = std::time::Instant::now();
        let mut inner = self.lock();
        let free = match inner.leases.get(name) {
            None => true,
            Some((h, until)) => h == holder || *until <= now,
        };
        if free {
            inner
                .leases
                .insert(name.to_string(), (holder.to_string(), now + ttl));
        }
        Ok(free)
    }

    async fn load_snapshot(&self) -> Result<Option<Vec<u8>>, PortError> {
        let inner = self.lock();
        match &inner.failing {
            Some(e) => Err(e.clone()),
            None => Ok(inner.snapshot.clone()),
        }
    }

    async fn save_snapshot(&self, bytes: Vec<u8>) -> Result<(), PortError> {
        self.lock().snapshot = Some(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn appends_with_expected_sequences_and_reads_like_a_stream() {
        let p = MemoryPort::new();
        assert_eq!(p.append("a.x", b"1".to_vec(), Some(0)).await.unwrap(), 1);
        assert_eq!(p.append("a.y", b"2".to_vec(), None).await.unwrap(), 2);
        assert!(matches!(
            p.append("a.x", b"3".to_vec(), Some(0)).await,
            Err(PortError::Conflict { actual: 1 })
        ));
        assert_eq!(p.append("a.x", b"3".to_vec(), Some(1)).await.unwrap(), 3);
        let last: Vec<u64> = p
            .last_per_subject("a.*")
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(last, vec![2, 3]);
        assert_eq!(p.last("a.x").await.unwrap().unwrap().payload, b"3");
        assert_eq!(p.scan("a.x", 2, 10).await.unwrap().len(), 1);
        assert_eq!(p.tail("a.x", 1).await.unwrap()[0].seq, 3);
        assert!(p.last_per_subject("b.>").await.unwrap().is_empty());
        p.fail_writes(Some(PortError::Full("full".into())));
        assert!(matches!(
            p.append("a.x", vec![], None).await,
            Err(PortError::Full(_))
        ));
    }
}
