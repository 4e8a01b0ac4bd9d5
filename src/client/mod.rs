//! The client: fingerprints the node, registers it, runs the allocations the servers
//! give it (alloc runner → task runners → driver) and reports back how they fare.
//!
//! Loops, each a tokio task: heartbeats; the watcher (a blocking query for this node's
//! allocations, diffed by AllocModifyIndex against the runners); the updater (batches
//! reports every 200 ms, as Nomad's client does); garbage collection of terminal
//! allocations. Its own state (`state.rs`) lets a restarted agent reattach to tasks.

pub mod alloc_dir;
pub mod alloc_runner;
pub mod conn;
pub mod events;
pub mod fingerprint;
mod gc;
pub mod health;
mod network_hook;
pub mod restarts;
pub mod state;
pub mod stats;
pub mod task_config;
pub mod task_runner;
pub mod task_setup;
pub mod taskenv;
mod updater;
pub mod view;
mod view_impl;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use drover_driver::image::{ImageStore, Puller, RegistryConfig, StoreLimits};
use drover_driver::network::{NetworkConfig, NetworkManager};
use drover_driver::runtime::{Driver, DriverConfig};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use conn::{InProcess, ServerConn};
pub use view::{ClientError, ClientView};

use alloc_runner::AllocRunner;
use state::{AllocRecord, StateDb};
use updater::Updates;

use crate::agent::config::ClientSettings;
use crate::structs::{Node, ALLOC_CLIENT_COMPLETE, ALLOC_CLIENT_FAILED, ALLOC_CLIENT_LOST};
use crate::structs::{ALLOC_DESIRED_RUN, NODE_STATUS_READY};

/// How often task usage is read (Nomad's `telemetry.collection_interval`).
const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// How long a watch for allocations blocks before asking again.
const WATCH_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub node_name: String,
    pub datacenter: String,
    pub region: String,
    /// `<state_dir>/client-id` keeps the node's ID across restarts (not in `-dev`).
    pub state_dir: PathBuf,
    pub alloc_dir: PathBuf,
    /// The image store (shared with `drover image`).
    pub image_dir: PathBuf,
    pub settings: ClientSettings,
    /// `-dev`: a new node ID each start, allocations destroyed at shutdown.
    pub dev: bool,
    /// This agent's HTTP address, for the node's `HTTPAddr`.
    pub http_addr: String,
    /// Parent of task cgroups.
    pub cgroup_parent: PathBuf,
}

/// What runners share.
pub struct ClientCtx {
    pub node_id: String,
    pub region: String,
    pub driver: Arc<Driver>,
    pub images: Arc<Puller>,
    pub state: StateDb,
    pub alloc_dir: PathBuf,
    pub settings: ClientSettings,
    pub node: Mutex<Node>,
    pub(crate) updates: Updates,
    /// Bridge networking; `None` when it cannot be set up here (tasks that need it fail
    /// with that reason).
    pub network: Option<NetworkManager>,
    /// CPU percentages come from the difference between two readings.
    pub stats: Mutex<stats::StatsTracker>,
    /// The newest reading per (allocation, task), taken every second as Nomad's
    /// `collection_interval`: CPU percentages need two readings a known time apart.
    pub latest: Mutex<HashMap<(String, String), crate::structs::TaskResourceUsage>>,
    pub host_stats: Mutex<stats::HostStatsTracker>,
}

impl ClientCtx {
    pub fn raw_exec_enabled(&self) -> bool {
        matches!(
            self.settings.option("driver.raw_exec.enable"),
            Some("true" | "1")
        )
    }

    pub fn node(&self) -> Node {
        self.node.lock().clone()
    }

    /// The node's MHz per core (CPU ticks are counted in MHz, as Nomad does).
    pub fn mhz_per_core(&self) -> f64 {
        let node = self.node.lock();
        let cpu = &node.node_resources.cpu;
        if cpu.total_cpu_cores == 0 {
            return 1000.0;
        }
        cpu.cpu_shares as f64 / cpu.total_cpu_cores as f64
    }

    /// The address ports are published on (`client { network_interface }`).
    pub fn node_ip(&self) -> std::net::Ipv4Addr {
        self.node
            .lock()
            .attributes
            .get("unique.network.ip-address")
            .and_then(|a| a.parse().ok())
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST)
    }
}

pub struct Client {
    pub ctx: Arc<ClientCtx>,
    conn: Arc<dyn ServerConn>,
    config: ClientConfig,
    runners: Mutex<HashMap<String, Arc<AllocRunner>>>,
    running: Mutex<JoinSet<()>>,
    loops: Mutex<JoinSet<()>>,
    stop: watch::Sender<bool>,
}

impl Client {
    /// Fingerprints and registers the node, restores allocations from the client state,
    /// and starts the loops. Call from within a tokio runtime.
    pub async fn start(config: ClientConfig, conn: Arc<dyn ServerConn>) -> Result<Arc<Client>> {
        for dir in [&config.state_dir, &config.alloc_dir, &config.image_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let node_id = node_id(&config)?;
        let driver = Driver::new(DriverConfig {
            shim_exe: drover_driver::runtime::shim::locate_shim()
                .context("finding the drover-shim binary")?,
            cgroup_parent: config.cgroup_parent.clone(),
        })
        .context("setting up cgroups for tasks")?;
        let store =
            ImageStore::open(&config.image_dir, StoreLimits::default()).with_context(|| {
                format!("opening the image store in {}", config.image_dir.display())
            })?;
        let images = Puller::new(Arc::new(store), registry_config(&config.settings));
        let state = StateDb::open(&config.state_dir).with_context(|| {
            format!("opening the client state in {}", config.state_dir.display())
        })?;
        let node = fingerprint_node(&config, &node_id, &driver);
        let network = network_manager(&config);
        let ctx = Arc::new(ClientCtx {
            node_id: node_id.clone(),
            region: config.region.clone(),
            driver: Arc::new(driver),
            images: Arc::new(images),
            state,
            alloc_dir: config.alloc_dir.clone(),
            settings: config.settings.clone(),
            node: Mutex::new(node.clone()),
            updates: Updates::default(),
            network,
            stats: Mutex::new(stats::StatsTracker::new()),
            latest: Mutex::new(HashMap::new()),
            host_stats: Mutex::new(stats::HostStatsTracker::new()),
        });
        let client = Arc::new(Client {
            ctx,
            conn,
            config,
            runners: Mutex::new(HashMap::new()),
            running: Mutex::new(JoinSet::new()),
            loops: Mutex::new(JoinSet::new()),
            stop: watch::channel(false).0,
        });
        client.register(node).await?;
        client.restore();
        if let Some(net) = &client.ctx.network {
            let live = client.runners.lock().keys().cloned().collect();
            match net.reconcile(&live) {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!(allocs = ?gone, "client: removed networking of allocations that are gone")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "client: reconciling allocation networks"),
            }
        }
        {
            let mut loops = client.loops.lock();
            loops.spawn(client.clone().heartbeat_loop());
            loops.spawn(client.clone().watch_loop());
            loops.spawn(updater::run(client.clone()));
            loops.spawn(gc::run(client.clone()));
            loops.spawn(client.clone().stats_loop());
        }
        tracing::info!(node_id = %node_id, "client: started");
        Ok(client)
    }

    pub fn node_id(&self) -> &str {
        &self.ctx.node_id
    }

    async fn register(&self, node: Node) -> Result<()> {
        let conn = self.conn.clone();
        let id = node.id.clone();
        tokio::task::spawn_blocking(move || {
            conn.register(node)?;
            conn.update_status(&id, NODE_STATUS_READY)
        })
        .await
        .context("registering the node")?
        .map_err(|e| anyhow::anyhow!("registering the node: {}", e.message))?;
        Ok(())
    }

    /// Runners for the allocations the client state remembers (after an agent restart).
    fn restore(self: &Arc<Self>) {
        for record in self.ctx.state.load_all() {
            if record.alloc.node_id != self.ctx.node_id {
                let _ = self.ctx.state.delete(&record.alloc.id);
                continue;
            }
            tracing::info!(alloc = %record.alloc.id, "client: restoring allocation");
            self.add_runner(record, false);
        }
    }

    fn add_runner(self: &Arc<Self>, record: AllocRecord, fresh: bool) {
        let runner = AllocRunner::new(self.ctx.clone(), record);
        self.runners
            .lock()
            .insert(runner.id().to_string(), runner.clone());
        self.running.lock().spawn(runner.run(fresh));
    }

    pub fn runner(&self, alloc_id: &str) -> Option<Arc<AllocRunner>> {
        self.runners.lock().get(alloc_id).cloned()
    }

    pub(crate) fn runners(&self) -> Vec<Arc<AllocRunner>> {
        self.runners.lock().values().cloned().collect()
    }

    async fn heartbeat_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let conn = self.conn.clone();
            let id = self.ctx.node_id.clone();
            let beat = tokio::task::spawn_blocking(move || conn.heartbeat(&id)).await;
            wait = match beat {
                // Well inside the TTL, as Nomad's client does.
                Ok(Ok(ttl)) => (ttl / 2).max(Duration::from_millis(500)),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e.message, "client: heartbeat refused; registering again");
                    let _ = self.register(self.ctx.node()).await;
                    Duration::from_secs(1)
                }
                Err(_) => Duration::from_secs(1),
            };
        }
    }

    async fn watch_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut index = 0;
        loop {
            let conn = self.conn.clone();
            let node_id = self.ctx.node_id.clone();
            let (allocs, next) = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                r = conn.node_allocs(&node_id, index, WATCH_WAIT) => r,
            };
            index = next;
            let mut seen = std::collections::HashSet::new();
            for alloc in allocs {
                seen.insert(alloc.id.clone());
                match self.runner(&alloc.id) {
                    Some(r) => {
                        let old = r.alloc();
                        if alloc.alloc_modify_index > old.alloc_modify_index
                            || alloc.desired_status != old.desired_status
                        {
                            r.update_alloc(alloc);
                        }
                    }
                    None => {
                        let terminal = matches!(
                            alloc.client_status.as_str(),
                            ALLOC_CLIENT_COMPLETE | ALLOC_CLIENT_FAILED | ALLOC_CLIENT_LOST
                        );
                        if alloc.desired_status == ALLOC_DESIRED_RUN && !terminal {
                            tracing::debug!(alloc = %alloc.id, "client: new allocation");
                            self.add_runner(
                                AllocRecord {
                                    alloc,
                                    ..Default::default()
                                },
                                true,
                            );
                        }
                    }
                }
            }
            // Allocations the servers no longer have (garbage collected, job purged).
            let gone: Vec<Arc<AllocRunner>> = self
                .runners()
                .into_iter()
                .filter(|r| !seen.contains(r.id()))
                .collect();
            for r in gone {
                r.kill("alloc was removed by the servers", false);
                if r.is_terminal() {
                    self.remove(&r);
                }
            }
        }
    }

    async fn stats_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(STATS_INTERVAL) => {}
            }
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.sample_stats()).await;
        }
    }

    /// Reads every running task's cgroup once.
    pub(crate) fn sample_stats(&self) {
        let version = self.ctx.driver.cgroup_version();
        let mhz = self.ctx.mhz_per_core();
        let mut fresh = HashMap::new();
        for r in self.runners() {
            for t in &r.tasks {
                let Some(h) = t.handle() else { continue };
                let Ok(reading) = self.ctx.driver.stats(&h) else {
                    continue;
                };
                let usage = self.ctx.stats.lock().task_usage(
                    r.id(),
                    &t.name,
                    &reading,
                    version,
                    mhz,
                    std::time::SystemTime::now(),
                );
                fresh.insert((r.id().to_string(), t.name.clone()), usage);
            }
        }
        *self.ctx.latest.lock() = fresh;
    }

    /// Forgets a runner whose tasks are dead and removes what it left on the node.
    pub(crate) fn remove(&self, runner: &AllocRunner) {
        runner.destroy();
        self.ctx.stats.lock().forget(runner.id());
        self.runners.lock().remove(runner.id());
    }

    /// Stops the loops. In `-dev` (`destroy`), kills every allocation's tasks and
    /// removes what they left, as Nomad's dev agent does; otherwise tasks keep running
    /// for the next agent to reattach to.
    pub async fn shutdown(&self, destroy: bool) {
        let _ = self.stop.send(true);
        let mut loops = std::mem::take(&mut *self.loops.lock());
        while loops.join_next().await.is_some() {}
        if destroy {
            let runners = self.runners();
            for r in &runners {
                r.kill("agent is shutting down", true);
            }
            let mut running = std::mem::take(&mut *self.running.lock());
            while running.join_next().await.is_some() {}
            // Tell the servers how it ended (they are in the same process in -dev).
            updater::flush(self).await;
            for r in &runners {
                self.remove(r);
            }
        } else {
            updater::flush(self).await;
            self.running.lock().abort_all();
        }
        // Both are no-ops while tasks still use them (a non-dev agent's, which run on).
        if let Err(e) = self.ctx.driver.cleanup() {
            tracing::debug!(error = %e, "client: task cgroup parent left in place");
        }
        if let Some(net) = &self.ctx.network {
            if let Err(e) = net.cleanup() {
                tracing::warn!(error = %e, "client: removing the bridge");
            }
        }
    }

    fn conn(&self) -> Arc<dyn ServerConn> {
        self.conn.clone()
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }
}

/// Bridge networking as the `client` block configures it. The nft table and the
/// namespaces are named after the bridge, so agents with different bridges (tests) never
/// touch each other's.
fn network_manager(config: &ClientConfig) -> Option<NetworkManager> {
    let mut net = NetworkConfig::with_state_dir(config.state_dir.join("network"));
    let s = &config.settings;
    if !s.bridge_network_name.is_empty() {
        net.bridge = s.bridge_network_name.clone();
        net.nft_table = s.bridge_network_name.clone();
        net.netns_prefix = format!("{}-", s.bridge_network_name);
    }
    if !s.bridge_network_subnet.is_empty() {
        match s.bridge_network_subnet.parse() {
            Ok(subnet) => net.subnet = subnet,
            Err(e) => {
                tracing::error!(subnet = %s.bridge_network_subnet, error = %e, "client: bad bridge_network_subnet");
                return None;
            }
        }
    }
    match NetworkManager::new(net) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = %e, "client: bridge networking unavailable");
            None
        }
    }
}

/// The node's ID: random each start in `-dev`, else kept in `<state_dir>/client-id`.
fn node_id(config: &ClientConfig) -> Result<String> {
    if config.dev {
        return Ok(uuid::Uuid::new_v4().to_string());
    }
    let path = config.state_dir.join("client-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        _ => {}
    }
    let id = uuid::Uuid::new_v4().to_string();
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

fn registry_config(settings: &ClientSettings) -> RegistryConfig {
    let mut config = RegistryConfig {
        insecure: settings.insecure_registries.clone(),
        ..Default::default()
    };
    if let Some(mirror) = &settings.registry_mirror {
        config
            .mirrors
            .entry("docker.io".into())
            .or_default()
            .push(mirror.clone());
    }
    if let Some(auth) = &settings.registry_auth_file {
        config.docker_config = Some(auth.clone());
    }
    config
}

fn fingerprint_node(config: &ClientConfig, node_id: &str, driver: &Driver) -> Node {
    let s = &config.settings;
    let settings = fingerprint::FingerprintSettings {
        node_id: node_id.to_string(),
        node_name: config.node_name.clone(),
        datacenter: config.datacenter.clone(),
        node_class: s.node_class.clone(),
        node_pool: s.node_pool.clone(),
        meta: s.meta.clone(),
        options: s.options.clone(),
        network_interface: s.network_interface.clone(),
        reserved_cpu: s.reserved_cpu,
        reserved_memory_mb: s.reserved_memory_mb,
        reserved_disk_mb: s.reserved_disk_mb,
        reserved_ports: s.reserved_ports.clone(),
        min_dynamic_port: s.min_dynamic_port,
        max_dynamic_port: s.max_dynamic_port,
        http_addr: config.http_addr.clone(),
        alloc_dir: config.alloc_dir.clone(),
    };
    let mut node = fingerprint::fingerprint(&settings, &driver.fingerprint());
    node.secret_id = uuid::Uuid::new_v4().to_string();
    node
}
