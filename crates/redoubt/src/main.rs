//! The `redoubt` binary: argument parsing and subcommands only.
//!
//! `redoubt server [FILE] [--directive value ...]` runs the cache server.
//! Invoked through a link whose name ends in `-server` (`redoubt-server`,
//! or `redis-server` where tooling expects that name) it behaves like
//! `redis-server`.
//!
//! The server's arguments follow redis-server's irregular form (`--port
//! 6380 --save "" --bind a b`), which a general-purpose parser like clap
//! does not express; they are parsed by hand below.

use server::config::Config;
use std::path::PathBuf;

const USAGE: &str = "Usage: redoubt server [/path/to/redis.conf] [--directive value ...]
       redoubt server --version
       (a link named redoubt-server or redis-server runs `redoubt server`)";

/// `--directive value ...` pairs from the command line.
type Overrides = Vec<(String, Vec<String>)>;

/// Splits redis-server style arguments into an optional file and
/// `(directive, values)` overrides.
fn parse_server_args(args: &[String]) -> Result<(Option<PathBuf>, Overrides), String> {
    let mut file = None;
    let mut overrides: Overrides = Vec::new();
    let mut i = 0;
    if let Some(first) = args.first() {
        if !first.starts_with("--") {
            file = Some(PathBuf::from(first));
            i = 1;
        }
    }
    while i < args.len() {
        let a = &args[i];
        match a.strip_prefix("--") {
            Some(name) if !name.is_empty() => overrides.push((name.to_string(), Vec::new())),
            _ => match overrides.last_mut() {
                Some((_, vals)) => vals.push(a.clone()),
                None => return Err(format!("Unexpected argument '{a}'")),
            },
        }
        i += 1;
    }
    Ok((file, overrides))
}

fn server_main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "Redoubt server v={} redis_version={} bits=64",
            server::REDOUBT_VERSION,
            server::REDIS_VERSION
        );
        return 0;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return 0;
    }
    let (file, overrides) = match parse_server_args(args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return 1;
        }
    };
    let config = match Config::load(file.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    server::run(config)
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let prog = argv
        .first()
        .map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let code = if prog.ends_with("-server") {
        server_main(&argv[1..])
    } else {
        match argv.get(1).map(String::as_str) {
            Some("server") => server_main(&argv[2..]),
            Some("--version") | Some("-v") => server_main(&argv[1..]),
            _ => {
                eprintln!("{USAGE}");
                2
            }
        }
    };
    std::process::exit(code);
}
