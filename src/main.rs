//! drover: agent and CLI in one binary.

mod cli;

use clap::Parser;

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
    let cli = cli::Cli::parse_from(args);
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
            cli::Command::Status(args) => match cli::job::status(args) {
                0 => Ok(()),
                code => std::process::exit(code),
            },
            cli::Command::Alloc(args) => match cli::alloc::run(args)? {
                0 => Ok(()),
                code => std::process::exit(code),
            },
            cli::Command::Container(_) => unreachable!("handled before the runtime starts"),
        }
    });
    if let Err(e) = result {
        eprintln!("Error: {}", error_text(&e));
        std::process::exit(1);
    }
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
