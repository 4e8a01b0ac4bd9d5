//! The client as the HTTP API's `/v1/client/*` routes see it.

use std::path::PathBuf;

use super::stats::alloc_usage;
use super::task_runner::{parse_signal, TaskRunner};
use super::view::{ClientError, ClientView};
use super::Client;
use crate::structs::{AllocResourceUsage, HostStats};

impl Client {
    fn find(&self, alloc_id: &str) -> Result<std::sync::Arc<super::AllocRunner>, ClientError> {
        self.runner(alloc_id)
            .ok_or_else(|| ClientError::UnknownAlloc(alloc_id.to_string()))
    }

    /// One named task, or all of them.
    fn pick<'a>(
        runner: &'a super::AllocRunner,
        task: Option<&str>,
    ) -> Result<Vec<&'a std::sync::Arc<TaskRunner>>, ClientError> {
        match task.filter(|t| !t.is_empty()) {
            Some(name) => Ok(vec![runner
                .task(name)
                .ok_or_else(|| ClientError::UnknownTask(name.to_string()))?]),
            None => Ok(runner.tasks.iter().collect()),
        }
    }
}

impl ClientView for Client {
    fn node_id(&self) -> String {
        self.ctx.node_id.clone()
    }

    fn alloc_dir(&self, alloc_id: &str) -> Option<PathBuf> {
        let dir = self.ctx.alloc_dir.join(alloc_id);
        (self.runner(alloc_id).is_some() || dir.is_dir()).then_some(dir)
    }

    fn alloc_stats(&self, alloc_id: &str) -> Result<AllocResourceUsage, ClientError> {
        let runner = self.find(alloc_id)?;
        let need_sample = {
            let latest = self.ctx.latest.lock();
            runner.tasks.iter().any(|t| {
                t.handle().is_some()
                    && !latest.contains_key(&(alloc_id.to_string(), t.name.clone()))
            })
        };
        if need_sample {
            // Started since the last round: read it now (CPU percentages start at 0).
            self.sample_stats();
        }
        let latest = self.ctx.latest.lock();
        let tasks = runner
            .tasks
            .iter()
            .filter(|t| t.handle().is_some())
            .filter_map(|t| {
                let key = (alloc_id.to_string(), t.name.clone());
                latest.get(&key).map(|u| (t.name.clone(), u.clone()))
            })
            .collect();
        Ok(alloc_usage(tasks))
    }

    fn host_stats(&self) -> HostStats {
        let mhz = self.ctx.mhz_per_core();
        self.ctx.host_stats.lock().collect(&self.ctx.alloc_dir, mhz)
    }

    fn restart_alloc(&self, alloc_id: &str, task: Option<&str>) -> Result<(), ClientError> {
        let runner = self.find(alloc_id)?;
        let tasks = Self::pick(&runner, task)?;
        if tasks.iter().all(|t| t.handle().is_none()) {
            return Err(ClientError::TaskNotRunning(task.unwrap_or("").to_string()));
        }
        for t in tasks.into_iter().filter(|t| t.handle().is_some()) {
            t.request_restart();
        }
        Ok(())
    }

    fn signal_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<(), ClientError> {
        let runner = self.find(alloc_id)?;
        let sig = if signal.is_empty() {
            libc::SIGKILL
        } else {
            parse_signal(signal)
                .ok_or_else(|| ClientError::BadRequest(format!("invalid signal {signal:?}")))?
        };
        let tasks = Self::pick(&runner, task)?;
        let mut sent = false;
        for t in tasks {
            if let Some(h) = t.handle() {
                t.record_signal(signal);
                self.ctx
                    .driver
                    .signal(&h, sig)
                    .map_err(|e| ClientError::Internal(e.to_string()))?;
                sent = true;
            }
        }
        if !sent {
            return Err(ClientError::TaskNotRunning(task.unwrap_or("").to_string()));
        }
        Ok(())
    }

    fn exec_command(
        &self,
        alloc_id: &str,
        task: &str,
        argv: &[String],
        tty: bool,
    ) -> Result<std::process::Command, ClientError> {
        let runner = self.find(alloc_id)?;
        let t = runner
            .task(task)
            .ok_or_else(|| ClientError::UnknownTask(task.to_string()))?;
        let h = t
            .handle()
            .ok_or_else(|| ClientError::TaskNotRunning(task.to_string()))?;
        if argv.is_empty() {
            return Err(ClientError::BadRequest("command is not present".into()));
        }
        Ok(self.ctx.driver.exec_command(&h, argv, tty))
    }
}
