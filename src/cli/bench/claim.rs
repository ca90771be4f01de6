//! The claim workload: 16 agents taking work and finishing it. hivelog:
//! claim-next + complete over HTTP; nats-server: a work-queue stream
//! drained by a pull consumer, fetch 1 + acked ack.

use std::sync::Arc;
use std::time::Instant;

use crate::coord::task::{Task, TaskInput};
use crate::ops::tasks::{AgentStep, CompleteStep, TaskStep};
use anyhow::Context;
use async_nats::jetstream::consumer;
use futures_util::StreamExt;

use super::workloads::{lock, run_tag, sample, Lat, Sample, Target, AGENTS, PAYLOAD};

impl Target {
    /// The claim workload takes and completes every claimable task, so on
    /// a running server that holds someone's real work it would finish
    /// that work as a success. It runs only on a queue with nothing
    /// claimable in it.
    async fn refuse_foreign_work(&self) -> anyhow::Result<()> {
        let Target::Hivelog { base, http } = self else {
            return Ok(());
        };
        let r = http
            .get(format!("{base}/api/tasks/available?limit=1"))
            .send()
            .await?;
        anyhow::ensure!(
            r.status().is_success(),
            "list available tasks: {}",
            r.status()
        );
        let waiting: Vec<Task> = r.json().await?;
        match waiting.first() {
            Some(t) => anyhow::bail!(
                "the claim workload would take and complete the tasks waiting on {base} (first: {:?}); run it against a server of its own (leave out --hivelog) or skip it with --workload",
                t.task_id
            ),
            None => Ok(()),
        }
    }

    /// Queues `size` units of work (not measured), then 16 agents take
    /// and finish them until none is left.
    pub(super) async fn claim(&self, size: usize, round: usize) -> anyhow::Result<Sample> {
        self.refuse_foreign_work().await?;
        let tag = run_tag();
        let fill: Vec<_> = (0..AGENTS)
            .map(|w| async move {
                for i in (w..size).step_by(AGENTS) {
                    match self {
                        Target::Hivelog { .. } => {
                            let body = TaskInput {
                                task_id: Some(format!("bench-{tag}-{round}-{i}").into()),
                                title: Some("bench".into()),
                                description: Some(String::new()),
                                ..TaskInput::default()
                            };
                            let r = self.post("/api/tasks", &body).await?;
                            anyhow::ensure!(r.status().is_success(), "add task: {}", r.status());
                        }
                        Target::Nats { js, .. } => {
                            js.publish(format!("benchq.{tag}.{round}"), vec![b'x'; PAYLOAD].into())
                                .await?
                                .await?;
                        }
                    }
                }
                anyhow::Ok(())
            })
            .collect();
        for r in futures_util::future::join_all(fill).await {
            r?;
        }
        let c = match self {
            Target::Nats { js, .. } => Some(
                js.get_stream("BENCHQ")
                    .await?
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some(format!("q{tag}-{round}")),
                        filter_subject: format!("benchq.{tag}.{round}"),
                        ..Default::default()
                    })
                    .await?,
            ),
            Target::Hivelog { .. } => None,
        };
        let lat: Lat = Arc::default();
        let started = Instant::now();
        let agents: Vec<_> = (0..AGENTS)
            .map(|a| {
                let (lat, c) = (lat.clone(), c.clone());
                async move {
                    let me = format!("bench-{a}");
                    let mut mine = Vec::new();
                    loop {
                        let t = Instant::now();
                        let more = match (self, &c) {
                            (Target::Nats { .. }, Some(c)) => {
                                let mut one = c.fetch().max_messages(1).messages().await?;
                                match one.next().await {
                                    Some(m) => {
                                        m.map_err(|e| anyhow::anyhow!("{e}"))?
                                            .double_ack()
                                            .await
                                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                                        true
                                    }
                                    None => false,
                                }
                            }
                            _ => {
                                let r = self
                                    .post("/api/tasks/claim-next", &AgentStep::by(me.as_str()))
                                    .await?;
                                if r.status().as_u16() == 204 {
                                    false
                                } else {
                                    let step: TaskStep =
                                        r.json().await.context("claim-next without a task")?;
                                    let id = step.task_id;
                                    let done = CompleteStep {
                                        agent_id: Some(me.clone()),
                                        success: true,
                                        result: None,
                                        error: None,
                                        fencing_token: None,
                                    };
                                    let r = self
                                        .post(&format!("/api/tasks/{id}/complete"), &done)
                                        .await?;
                                    anyhow::ensure!(
                                        r.status().is_success(),
                                        "complete: {}",
                                        r.status()
                                    );
                                    true
                                }
                            }
                        };
                        if !more {
                            break;
                        }
                        mine.push(t.elapsed());
                    }
                    lock(&lat).extend(mine);
                    anyhow::Ok(())
                }
            })
            .collect();
        for r in futures_util::future::join_all(agents).await {
            r?;
        }
        Ok(sample(lat, started.elapsed()))
    }
}
