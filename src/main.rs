use std::path::PathBuf;
use std::process::ExitCode;

use manifold::config::{Config, EMBEDDED_DEFAULT};

const HELP: &str = "\
Manifold — one live ingest, delivered at once to many outputs.

USAGE:
    manifold [serve] [--config FILE]   run (without --config: the embedded default)
    manifold check-config FILE         validate FILE and print the effective config
    manifold print-default-config      print the embedded default config
    manifold --version | --help

Logging: server.log_level in the config; RUST_LOG (e.g. RUST_LOG=manifold=debug)\noverrides it.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--version" | "-V"] => {
            println!("manifold {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help" | "-h" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["check-config", file] => match Config::load(&PathBuf::from(file)) {
            Ok(config) => {
                match toml::to_string_pretty(&config) {
                    Ok(text) => print!("{text}"),
                    Err(e) => eprintln!("cannot print config: {e}"),
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        ["print-default-config"] => {
            print!("{EMBEDDED_DEFAULT}");
            ExitCode::SUCCESS
        }
        [] | ["serve"] => serve(None),
        ["--config", file] | ["serve", "--config", file] => serve(Some(PathBuf::from(file))),
        _ => {
            eprint!("error: unrecognised arguments\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

fn serve(path: Option<PathBuf>) -> ExitCode {
    let config = match &path {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::embedded_default(),
    };
    init_logging(&config.server.log_level);
    match manifold::server::run(config, path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG`, when set, overrides `server.log_level`.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
