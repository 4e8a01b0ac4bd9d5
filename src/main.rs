//! drover: agent and CLI in one binary.

mod cli;

fn main() {
    // The per-task shim is this binary too; it must stay small, so it starts before
    // anything else (no argument parser, no logging, no async runtime).
    let mut raw = std::env::args_os();
    if raw.nth(1).as_deref() == Some(std::ffi::OsStr::new("shim")) {
        let rest: Vec<String> = raw.map(|a| a.to_string_lossy().into_owned()).collect();
        let code = match rest.split_first() {
            Some((verb, args)) if verb == "exec" => drover_driver::runtime::exec::main(args),
            Some((dir, _)) => drover_driver::runtime::shim::main(std::path::Path::new(dir)),
            None => 2,
        };
        std::process::exit(code);
    }
    let args = cli::args::normalise(std::env::args());
    let cli = match <cli::Cli as clap::Parser>::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout (exit 0); usage errors to stderr with
            // Nomad's exit code 1 (clap's own is 2).
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 1 } else { 0 });
        }
    };
    // The agent logs at its own level; every other command only warns.
    let default_filter = match &cli.command {
        cli::Command::Agent(args) => args.log_filter(),
        _ => "warn".to_string(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal, not into log files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // A CLI whose reader went away (`drover job inspect x | head`) ends quietly, as
    // Nomad's does, instead of panicking on EPIPE. The agent keeps Rust's ignored
    // SIGPIPE: its sockets must see EPIPE as an error.
    if !matches!(
        cli.command,
        cli::Command::Agent(_) | cli::Command::Container(_)
    ) {
        // SAFETY: setting a signal's disposition to the default, before any threads.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // The launcher forks into namespaces: it must run before any runtime threads exist.
    if let cli::Command::Container(cli::ContainerCommand::Run(args)) = cli.command {
        match cli::container::run(args) {
            Ok(code) => std::process::exit(code),
            Err(e) => {
                eprintln!("Error: {}", error_text(&e));
                std::process::exit(125);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Agent(args) => cli::agent::run(args).await,
            cli::Command::Image(args) => cli::image::run(args).await,
            cli::Command::Job(args) => cli::job::run(args),
            cli::Command::Status(args) => match cli::status::status(args) {
                0 => Ok(()),
                code => std::process::exit(code),
            },
            cli::Command::Alloc(args) => match cli::alloc::run(args)? {
                0 => Ok(()),
                code => std::process::exit(code),
            },
            cli::Command::Logs(args) => exit(cli::alloc::logs(args)?),
            cli::Command::Node(args) => exit(cli::node::run(args)),
            cli::Command::Deployment(args) => exit(cli::deployment::run(args)),
            cli::Command::Eval(args) => exit(cli::eval::run(args)),
            cli::Command::AgentInfo(args) => exit(cli::agent_info::agent_info(&args)),
            cli::Command::Server(cli::ServerCommand::Members(args)) => {
                exit(cli::agent_info::members(&args))
            }
            cli::Command::Version => exit(cli::agent_info::version()),
            cli::Command::Completions(args) => exit(cli::completions::run(&args)),
            cli::Command::Container(_) => unreachable!("handled before the runtime starts"),
        }
    });
    if let Err(e) = result {
        eprintln!("Error: {}", error_text(&e));
        std::process::exit(1);
    }
}

/// A command's exit code: 0 returns, anything else ends the process with it.
fn exit(code: i32) -> anyhow::Result<()> {
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// The error and its causes, skipping causes whose text the message already carries
/// (driver errors name their source in their own message).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
