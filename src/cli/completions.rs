//! `drover completions bash|zsh|fish`: a completion script for the shell on stdout.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh or fish (also elvish, powershell)
    pub shell: Shell,
}

pub fn run(args: &CompletionsArgs) -> i32 {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "drover", &mut std::io::stdout());
    0
}
