//! The `qrlogin` binary: parse the command line and run what it names
//! (`serve` by default); the commands live in the library's [`qrlogin::cli`].

use clap::Parser as _;
use qrlogin::cli::{Cli, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    run(Cli::parse()).await
}
