//! The projects one server serves: the default project's coordinator, and
//! one more per project, opened the first time a request names it and
//! again at every start. A project exists once something names it; it is
//! recorded on `hivelog.state.project.<name>` (with the repository it was
//! set up from, when the caller said) so a restart, or another instance on
//! the same JetStream store, knows it. Every project's coordinator runs
//! its own background jobs (reaper, follower) and shares the machine's
//! pause switch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::project::{validate_project, DEFAULT_PROJECT};
use super::slots::{Slot, SlotScope};
use super::time::Timestamp;
use super::{lock, CoordConfig, CoordError, Coordinator, Pause};
use crate::streams::LogPort;

mod follow;

/// Where the projects are recorded (not under any project's root).
const RECORDS: &str = "hivelog.state.project";

/// How many projects one server serves by default: each is a coordinator
/// with its own jobs, and a name is all it takes to make one.
pub const DEFAULT_MAX_PROJECTS: usize = 256;

/// What is recorded about a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    pub name: String,
    /// The repository it was set up from (a normalized origin URL, or the
    /// path of its common git directory), when a caller said.
    #[serde(default)]
    pub repository: Option<String>,
    /// When it was first named (none for the default project, which
    /// always exists).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// An open project: its coordinator and what is recorded about it.
type Opened<P> = (Arc<Coordinator<P>>, ProjectInfo);

/// Background jobs, once started: new projects start theirs too.
struct Jobs {
    stop: watch::Receiver<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

/// Every other project is opened on the default project's store, clock,
/// settings (but its name and prefix) and machine switch.
pub struct Projects<P: LogPort + Clone> {
    default: Arc<Coordinator<P>>,
    open: Mutex<BTreeMap<String, Opened<P>>>,
    /// One opening at a time, so two requests naming a new project get
    /// one coordinator.
    opening: tokio::sync::Mutex<()>,
    jobs: Mutex<Option<Jobs>>,
    max: usize,
}

impl<P: LogPort + Clone> Projects<P> {
    /// The projects around an open default coordinator, none other open
    /// yet (`load` opens the recorded ones).
    pub fn around(default: Arc<Coordinator<P>>) -> Self {
        Projects {
            default,
            open: Mutex::default(),
            opening: tokio::sync::Mutex::new(()),
            jobs: Mutex::new(None),
            max: DEFAULT_MAX_PROJECTS,
        }
    }

    pub fn with_max(mut self, max: usize) -> Self {
        self.max = max.max(1);
        self
    }

    /// Opens every recorded project (one that no longer opens is logged
    /// and left out, so it cannot stop the start).
    pub async fn load(&self) -> Result<usize, CoordError> {
        let records = self
            .default
            .port
            .last_per_subject(&format!("{RECORDS}.*"))
            .await?;
        for r in records {
            let Ok(info) = serde_json::from_slice::<ProjectInfo>(&r.payload) else {
                tracing::error!(subject = %r.subject, "skipping a project record that does not decode");
                continue;
            };
            if let Err(e) = self.open_project(info, false).await {
                tracing::error!(project = %r.subject, error = %e, "cannot open a recorded project");
            }
        }
        Ok(lock(&self.open).len())
    }

    /// The default project's coordinator.
    pub fn default_project(&self) -> &Arc<Coordinator<P>> {
        &self.default
    }

    /// The coordinator of `name` (`None` or `default`: the default
    /// project), opening and recording it the first time. `repository`
    /// is recorded with a new project, or added to one that has none.
    pub async fn get(
        &self,
        name: Option<&str>,
        repository: Option<&str>,
    ) -> Result<Arc<Coordinator<P>>, CoordError> {
        let name = match name {
            None => return Ok(self.default.clone()),
            Some(n) if n == DEFAULT_PROJECT => return Ok(self.default.clone()),
            Some(n) => n,
        };
        validate_project(name)?;
        if let Some(repository) = repository {
            validate_repository(repository)?;
        }
        if let Some(c) = self.known(name, repository) {
            return Ok(c);
        }
        let _one = self.opening.lock().await;
        if let Some(c) = self.known(name, repository) {
            return Ok(c);
        }
        if let Some(info) = self.default.port.last(&record_subject(name)).await? {
            // Recorded by another instance sharing the store.
            if let Ok(mut info) = serde_json::from_slice::<ProjectInfo>(&info.payload) {
                let add = info.repository.is_none() && repository.is_some();
                if add {
                    info.repository = repository.map(str::to_string);
                }
                return self.open_project(info, add).await;
            }
        }
        let info = ProjectInfo {
            name: name.to_string(),
            repository: repository.map(str::to_string),
            created_at: Some(self.default.clock.now()),
        };
        self.open_project(info, true).await
    }

    /// As `get`, for a reader: a project nobody has written to is not
    /// made by looking at it (a typo in a dashboard link, a `task ls`
    /// with the wrong `--project`); it reads as empty from a coordinator
    /// that is neither recorded nor kept.
    pub async fn peek(&self, name: Option<&str>) -> Result<Arc<Coordinator<P>>, CoordError> {
        let Some(name) = name.filter(|n| *n != DEFAULT_PROJECT) else {
            return Ok(self.default.clone());
        };
        validate_project(name)?;
        if let Some(c) = self.known(name, None) {
            return Ok(c);
        }
        if self
            .default
            .port
            .last(&record_subject(name))
            .await?
            .is_some()
        {
            return self.get(Some(name), None).await;
        }
        Coordinator::open_in(
            self.default.port.clone(),
            self.config_of(name),
            self.default.clock.clone(),
            self.default.machine.clone(),
        )
        .await
    }

    /// Project `name`'s settings: the default project's, with its name and
    /// its own subject prefix for task events and channel messages.
    fn config_of(&self, name: &str) -> CoordConfig {
        CoordConfig {
            project: name.to_string(),
            prefix: format!("{}.p.{name}", self.default.config.prefix),
            ..self.default.config.clone()
        }
    }

    /// An open project's coordinator; records a repository it lacked.
    fn known(&self, name: &str, repository: Option<&str>) -> Option<Arc<Coordinator<P>>> {
        let mut open = lock(&self.open);
        let (coord, info) = open.get_mut(name)?;
        if info.repository.is_none() {
            if let Some(repository) = repository {
                info.repository = Some(repository.to_string());
                let (port, info) = (self.default.port.clone(), info.clone());
                // Best effort: the project works without it.
                tokio::spawn(async move {
                    if let Err(e) = record(&port, &info).await {
                        tracing::warn!(project = %info.name, error = %e, "cannot record the project's repository");
                    }
                });
            }
        }
        Some(coord.clone())
    }

    async fn open_project(
        &self,
        info: ProjectInfo,
        store: bool,
    ) -> Result<Arc<Coordinator<P>>, CoordError> {
        if lock(&self.open).len() + 1 >= self.max {
            return Err(CoordError::Invalid(format!(
                "this server serves at most {} projects (--max-projects)",
                self.max
            )));
        }
        let coord = Coordinator::open_in(
            self.default.port.clone(),
            self.config_of(&info.name),
            self.default.clock.clone(),
            self.default.machine.clone(),
        )
        .await?;
        if store {
            record(&self.default.port, &info).await?;
        }
        if let Some(jobs) = lock(&self.jobs).as_mut() {
            let stop = jobs.stop.clone();
            jobs.handles.extend(coord.jobs(stop));
        }
        tracing::info!(project = %info.name, "project opened");
        lock(&self.open).insert(info.name.clone(), (coord.clone(), info));
        Ok(coord)
    }

    /// Every project: the default first, then the others by name.
    pub fn list(&self) -> Vec<(ProjectInfo, Arc<Coordinator<P>>)> {
        let default = ProjectInfo {
            name: DEFAULT_PROJECT.to_string(),
            repository: None,
            created_at: None,
        };
        std::iter::once((default, self.default.clone()))
            .chain(
                lock(&self.open)
                    .values()
                    .map(|(c, i)| (i.clone(), c.clone())),
            )
            .collect()
    }

    /// Starts every project's background jobs, and those of projects
    /// opened later; they stop when `stop` turns true. Where other
    /// instances share the store, the projects they record are opened
    /// here too, so every instance lists and reaps them.
    pub fn start_jobs(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        let mut handles = self.default.jobs(stop.clone());
        for (c, _) in lock(&self.open).values() {
            handles.extend(c.jobs(stop.clone()));
        }
        if self.default.port.is_shared() {
            handles.push(tokio::spawn(self.clone().follow_records(stop.clone())));
        }
        *lock(&self.jobs) = Some(Jobs { stop, handles });
    }

    /// Waits for the background jobs to end (after `stop` turned true).
    pub async fn jobs_ended(&self) {
        let handles = lock(&self.jobs)
            .as_mut()
            .map(|j| std::mem::take(&mut j.handles))
            .unwrap_or_default();
        for job in handles {
            if let Err(e) = job.await {
                tracing::warn!(error = %e, "a project's background job ended abnormally");
            }
        }
    }

    /// Turns the machine's switch: grants stop (or start again) in every
    /// project.
    pub async fn set_machine_paused(
        &self,
        paused: bool,
        by: Option<String>,
        reason: Option<String>,
    ) -> Result<Pause, CoordError> {
        let state = self.default.set_machine_paused(paused, by, reason).await?;
        for (c, _) in lock(&self.open).values() {
            c.wake_claimers();
        }
        Ok(state)
    }
}

impl<P: LogPort + Clone> Projects<P> {
    /// Where the slot `name` asked for in `asked`'s project lives: the
    /// default project's, when it is a machine slot; else the project's
    /// own. `scope` is what a caller setting the slot asks for.
    pub async fn slot_home(
        &self,
        asked: &Arc<Coordinator<P>>,
        name: &str,
        scope: Option<SlotScope>,
    ) -> Result<Arc<Coordinator<P>>, CoordError> {
        if scope == Some(SlotScope::Machine) {
            return Ok(self.default.clone());
        }
        if Arc::ptr_eq(asked, &self.default) || scope == Some(SlotScope::Project) {
            return Ok(asked.clone());
        }
        let (slot, _) = self.default.load_slot(name).await?;
        Ok(match slot {
            Some(s) if s.scope == SlotScope::Machine => self.default.clone(),
            _ => asked.clone(),
        })
    }

    /// The slots `project`'s agents can acquire: its own and the
    /// machine's.
    pub async fn slots_of(&self, project: &Arc<Coordinator<P>>) -> Result<Vec<Slot>, CoordError> {
        let mut slots = project.slots().list().await?;
        if !Arc::ptr_eq(project, &self.default) {
            let machine = self.default.slots().list().await?;
            slots.retain(|s| {
                !machine
                    .iter()
                    .any(|m| m.scope == SlotScope::Machine && m.name == s.name)
            });
            slots.extend(
                machine
                    .into_iter()
                    .filter(|m| m.scope == SlotScope::Machine),
            );
            slots.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(slots)
    }
}

impl<P: LogPort> Coordinator<P> {
    /// This project's background jobs: the reaper always; a follower where
    /// the store is shared with other instances; snapshots where it is not
    /// (the default project only keeps them).
    fn jobs(self: &Arc<Self>, stop: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut jobs = vec![self.start_reaper(stop.clone())];
        if self.port.is_shared() {
            jobs.push(self.start_follower(stop));
        } else if self.keeps_snapshots() {
            jobs.push(self.start_snapshots(stop));
        }
        jobs
    }
}

fn record_subject(name: &str) -> String {
    format!("{RECORDS}.{name}")
}

async fn record<P: LogPort>(port: &P, info: &ProjectInfo) -> Result<(), CoordError> {
    let payload = serde_json::to_vec(info).map_err(|e| CoordError::Corrupt(e.to_string()))?;
    port.append(&record_subject(&info.name), payload, None)
        .await?;
    Ok(())
}

/// Longest repository string recorded.
pub const MAX_REPOSITORY: usize = 512;

fn validate_repository(repository: &str) -> Result<(), CoordError> {
    if repository.is_empty()
        || repository.len() > MAX_REPOSITORY
        || repository.chars().any(char::is_control)
    {
        return Err(CoordError::Invalid(format!(
            "repository must be 1 to {MAX_REPOSITORY} characters with no control characters"
        )));
    }
    Ok(())
}
