//! `drover container run`: one task in the foreground, like `ctr run`: stdio passes
//! through and the exit code is the task's (137 after a kill, as shells report). For
//! debugging and for the start benchmark.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use drover_driver::cgroup::{
    Bytes, CgroupConfig, CgroupManager, Cgroups, CpuShares, MemoryLimits, Resources,
};
use drover_driver::image::{ImageRecord, ImageRef, ImageStore, StoreLimits};
use drover_driver::runtime::drivers::{container_spec, ContainerTask};
use drover_driver::runtime::{
    self, BindMount, Driver, DriverConfig, LogConfig, Rootfs, RuntimeError, StartRequest, TaskSpec,
};

use super::image::RegistryArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Memory limit in MB (hard)
    #[arg(long)]
    pub memory: Option<u64>,
    /// CPU share in MHz, as Nomad's `cpu`
    #[arg(long)]
    pub cpu: Option<u64>,
    /// Most processes the task may have (pids.max): a fork bomb stops here
    #[arg(long, default_value_t = 4096)]
    pub pids: u64,
    /// Network namespace to join (path); default: the host's network
    #[arg(long)]
    pub net: Option<PathBuf>,
    /// User to run as (name, uid, uid:gid); default: the image's
    #[arg(long)]
    pub user: Option<String>,
    /// Working directory; default: the image's
    #[arg(long)]
    pub workdir: Option<String>,
    /// Environment KEY=value (repeatable)
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Replace the image's entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Start the task under its shim, print its handle (JSON) and exit; the task keeps
    /// running, its output goes to DATA_DIR/containers/ID/logs
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Image to run
    pub image: String,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs the task and returns its exit code for the process to exit with.
pub fn run(args: RunArgs) -> Result<i32> {
    super::require_root("drover container run")?;
    let data_dir = args.registry.data_dir.clone();
    let store = ImageStore::open(data_dir.join("image"), StoreLimits::default())
        .context("opening the image store")?;
    let reference = ImageRef::parse(&args.image)?;
    let Some(record) = local_image(&store, &reference)? else {
        // Pulling needs threads; the launcher needs a single-threaded process. Pull,
        // then start over in a fresh process image that finds the image present.
        pull_then_reexec(&args, reference)?;
        unreachable!("exec returned");
    };

    let id = format!("run-{}-{:x}", std::process::id(), nanos());
    let dir = data_dir.join("containers").join(&id);
    let result = run_in(&args, &store, &record, &id, &dir);
    if !args.detach || result.is_err() {
        let _ = store.release(&id);
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn local_image(store: &ImageStore, reference: &ImageRef) -> Result<Option<ImageRecord>> {
    Ok(store
        .resolve(reference)?
        .filter(|r| r.layers.iter().all(|l| store.has_layer(&l.diff_id))))
}

fn pull_then_reexec(args: &RunArgs, reference: ImageRef) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(super::image::pull(&args.registry, &reference, None, false))?;
    drop(runtime);
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("/proc/self/exe")
        .args(std::env::args_os().skip(1))
        .exec();
    bail!("re-executing drover: {err}")
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn run_in(
    args: &RunArgs,
    store: &ImageStore,
    record: &ImageRecord,
    id: &str,
    dir: &std::path::Path,
) -> Result<i32> {
    store.lease(id, &record.manifest_digest)?;
    let spec = task_spec(args, record, store, id, dir)?;
    let resources = Resources {
        cpu_shares: args.cpu.map(CpuShares::from_mhz),
        memory: MemoryLimits {
            hard: args.memory.map(Bytes::from_mib),
            reservation: None,
        },
        pids_max: Some(args.pids),
        ..Default::default()
    };
    if args.detach {
        let driver = Driver::new(DriverConfig {
            shim_exe: drover_driver::runtime::shim::locate_shim()
                .context("finding the drover binary")?,
            cgroup_parent: "drover".into(),
        })?;
        let handle = driver.start(StartRequest {
            spec,
            resources,
            logs: LogConfig::new(dir.join("logs"), "task"),
            state_dir: dir.to_path_buf(),
        })?;
        println!("{}", serde_json::to_string(&handle)?);
        return Ok(0);
    }
    foreground(args, &spec, &resources, id)
}

/// The task as `container run` describes it: the image's entrypoint, command, env,
/// working dir and user, overridden by the flags.
fn task_spec(
    args: &RunArgs,
    record: &ImageRecord,
    store: &ImageStore,
    id: &str,
    dir: &std::path::Path,
) -> Result<TaskSpec> {
    for sub in ["upper", "work", "rootfs"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let hostname = id.to_string();
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"),
    )?;
    let mut mounts = vec![BindMount {
        source: hosts,
        target: "/etc/hosts".into(),
        readonly: true,
        noexec: false,
    }];
    // The host's resolver config, read-only: the task shares the host's network.
    if std::path::Path::new("/etc/resolv.conf").exists() {
        mounts.push(BindMount {
            source: "/etc/resolv.conf".into(),
            target: "/etc/resolv.conf".into(),
            readonly: true,
            noexec: false,
        });
    }

    let rootfs = Rootfs::Overlay {
        layers: record
            .layers
            .iter()
            .map(|l| store.layer_fs(&l.diff_id))
            .collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        target: dir.join("rootfs"),
    };
    // Docker's CLI semantics: arguments after the image replace its Cmd.
    let task = ContainerTask {
        id: id.to_string(),
        args: args.command.clone(),
        entrypoint: args.entrypoint.clone().map(|e| vec![e]),
        work_dir: args.workdir.clone(),
        user: args.user.clone(),
        env: args.env.clone(),
        hostname: Some(hostname),
        netns: args.net.clone(),
        task_dir: dir.to_path_buf(),
        mounts,
        ..Default::default()
    };
    container_spec(&task, &record.config.config, rootfs)
        .with_context(|| format!("running image {}", args.image))
}

fn foreground(args: &RunArgs, spec: &TaskSpec, resources: &Resources, id: &str) -> Result<i32> {
    let cgroups = Cgroups::detect(&CgroupConfig::default())?;
    let mut cgroup = cgroups.task(id)?;
    cgroup.create(resources)?;
    let outcome = (|| -> Result<i32> {
        runtime::supervise::block_signals();
        let task = match runtime::launch(spec, &cgroup, [0, 1, 2]) {
            Ok(task) => task,
            // As shells (and `docker run`) report a command that cannot run.
            Err(e @ RuntimeError::Exec { not_found, .. }) => {
                eprintln!("Error: {e}");
                return Ok(if not_found { 127 } else { 126 });
            }
            Err(e) => return Err(e.into()),
        };
        // First signal: pass it on; second: the user means it, kill everything.
        let status = runtime::supervise::wait_forwarding(&task, |sig, count| {
            if count == 1 {
                let _ = runtime::supervise::signal(&task, sig);
            } else {
                let _ = cgroup.kill_all(drover_driver::cgroup::Signal::KILL);
            }
        })?;
        if cgroup.oom_killed().unwrap_or(false) {
            eprintln!(
                "drover: task {id} was OOM killed (memory limit {} MB)",
                args.memory.unwrap_or(0)
            );
        }
        Ok(status.shell_code())
    })();
    let destroyed = cgroup.destroy();
    // The parent goes too once no other task is in it (an error means one is).
    let _ = cgroups.remove_parent();
    let code = outcome?;
    destroyed?;
    Ok(code)
}
