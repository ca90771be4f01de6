//! The set of streams: create (refusing overlapping subjects), update
//! (limits enforced at once), delete, and their descriptions. One change
//! to the set at a time.

use std::sync::atomic::Ordering;

use super::error::{LogError, Result};
use super::store::StreamRecord;
use super::stream::StreamConfig;
use super::{guard, lock, now_ns, read, write, Log, StreamInfo};

impl Log {
    /// Creates a stream. Returns `(info, created)`: an existing stream with
    /// an identical config is not an error (`created == false`).
    pub fn create_stream(&self, config: StreamConfig) -> Result<(StreamInfo, bool)> {
        config.validate()?;
        // One stream change at a time keeps the overlap check honest.
        let _one_at_a_time = lock(&self.shared.config_changes);
        let streams = read(&self.shared.streams).clone();
        if let Some(existing) = streams.get(&config.name) {
            let same = lock(&existing.inner).config == config;
            return if same {
                Ok((self.stream_info(&config.name)?, false))
            } else {
                Err(LogError::StreamExists(config.name))
            };
        }
        for other in streams.values() {
            config.check_no_overlap(&lock(&other.inner).config)?;
        }
        let record = StreamRecord {
            config,
            created_ns: now_ns(),
        };
        self.shared.store.save_stream_record(&record)?;
        self.shared.store.flush()?;
        let name = record.config.name.clone();
        self.load_stream(record)?;
        tracing::info!(stream = %name, "stream created");
        Ok((self.stream_info(&name)?, true))
    }

    /// Changes a stream's subjects and limits. Messages beyond new limits are
    /// removed at once, oldest first.
    pub fn update_stream(&self, config: StreamConfig) -> Result<StreamInfo> {
        config.validate()?;
        self.check_guard(&config.name, guard::Op::Update, Some(&config))?;
        let _one_at_a_time = lock(&self.shared.config_changes);
        let handle = self.stream(&config.name)?;
        let streams = read(&self.shared.streams).clone();
        for other in streams.values().filter(|o| o.name != handle.name) {
            config.check_no_overlap(&lock(&other.inner).config)?;
        }
        let old = {
            let mut inner = lock(&handle.inner);
            let old = std::mem::replace(&mut inner.config, config.clone());
            self.shared.store.save_stream_record(&StreamRecord {
                config: config.clone(),
                created_ns: handle.created_ns,
            })?;
            old
        };
        {
            let mut routes = write(&self.shared.routes);
            for s in &old.subjects {
                routes.remove(s, &handle.name);
            }
            for s in &config.subjects {
                routes.insert(s, handle.name.clone());
            }
        }
        super::retention::enforce_limits(&handle)?;
        self.shared.store.flush()?;
        self.stream_info(&config.name)
    }

    pub fn delete_stream(&self, name: &str) -> Result<()> {
        let handle = self.stream(name)?;
        self.check_guard(name, guard::Op::Delete, None)?;
        let _one_at_a_time = lock(&self.shared.config_changes);
        let writer = lock(&handle.inner);
        handle.deleted.store(true, Ordering::Release);
        write(&self.shared.streams).remove(name);
        let mut routes = write(&self.shared.routes);
        for s in &writer.config.subjects {
            routes.remove(s, &handle.name);
        }
        drop(routes);
        for consumer in std::mem::take(&mut *lock(&handle.consumers)).into_values() {
            consumer.deleted.store(true, Ordering::Release);
            consumer.changed.notify_waiters();
        }
        // Wake long-polling fetchers so they see the stream is gone.
        handle.committed.send_modify(|_| {});
        self.shared.store.remove_stream(name)?;
        self.shared.store.flush()?;
        // Not under the stream's lock: a checkpoint takes the manifest's
        // lock, then stream locks.
        drop(writer);
        self.shared.store.forget_stream(name)?;
        tracing::info!(stream = %name, "stream deleted");
        Ok(())
    }

    pub fn stream_names(&self) -> Vec<String> {
        read(&self.shared.streams).keys().cloned().collect()
    }

    pub fn stream_info(&self, name: &str) -> Result<StreamInfo> {
        let handle = self.stream(name)?;
        let consumer_count = lock(&handle.consumers).len();
        let inner = lock(&handle.inner);
        Ok(StreamInfo {
            config: inner.config.clone(),
            state: inner.state,
            created_ns: handle.created_ns,
            consumer_count,
        })
    }

    pub fn streams(&self) -> Vec<StreamInfo> {
        self.stream_names()
            .iter()
            .filter_map(|n| self.stream_info(n).ok())
            .collect()
    }
}
