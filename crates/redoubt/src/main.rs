//! The `redoubt` binary: argument parsing and subcommands only.
//!
//! `redoubt server [FILE] [--directive value ...]` runs the cache server.
//! Invoked through a link whose name ends in `-server` (`redoubt-server`,
//! or `redis-server` where tooling expects that name) it behaves like
//! `redis-server`; one ending in `-check-aof` behaves like
//! `redis-check-aof`.
//!
//! The server's arguments follow redis-server's irregular form (`--port
//! 6380 --save "" --bind a b`), which a general-purpose parser like clap
//! does not express; they are parsed by hand below.

mod check_aof;
mod check_rdb;
mod cli;
mod confgen;
mod doctor;
mod flags;
mod top;
mod up;
mod up_cluster;

use server::config::Config;
use std::path::PathBuf;

/// Splits redis-server style arguments into an optional config file and
/// the options text: each `--name` starts a config line and the arguments
/// after it are appended quoted, exactly as redis-server 7.0 builds it, so
/// a bad option is reported with the same line and quoting. As there, a
/// `--name` right after an option name is taken as that option's value,
/// and a bare `--save` means `save ""`.
fn parse_server_args(args: &[String]) -> (Option<PathBuf>, bool, String) {
    let mut file = None;
    let mut from_stdin = false;
    let mut rest = args;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            file = Some(PathBuf::from(first));
            rest = &args[1..];
        }
    }
    let mut options = String::new();
    // Whether the last option name already has its value.
    let mut handled_last = true;
    for (j, a) in rest.iter().enumerate() {
        let last = j + 1 == rest.len();
        // `-` as the first or the last argument: config lines on stdin.
        let first = j == 0 && file.is_none();
        if a == "-" && (first || (last && j + 1 == args.len() - usize::from(file.is_some()))) {
            from_stdin = true;
        } else if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let words = a.split_ascii_whitespace().count();
            if words == 1 {
                handled_last = false;
                let is_save = a.eq_ignore_ascii_case("--save");
                if is_save && (last || rest[j + 1].starts_with("--")) {
                    options.push_str("\"\"");
                    handled_last = !last;
                }
            } else {
                // `"--port 6380"` as one argument carries its own value.
                handled_last = true;
            }
        } else {
            options.push_str(&server::config::parse::repr(a.as_bytes()));
            options.push(' ');
            handled_last = true;
        }
    }
    (file, from_stdin, options)
}

fn server_main(args: &[String]) -> i32 {
    // `--sentinel` anywhere selects Sentinel mode, as with redis-server.
    if args.iter().any(|a| a == "--sentinel") {
        let rest: Vec<String> = args
            .iter()
            .filter(|a| *a != "--sentinel")
            .cloned()
            .collect();
        return run_main(&rest, Some(&sentinel::MODE));
    }
    run_main(args, None)
}

fn run_main(args: &[String], mode: Option<&'static server::mode::Mode>) -> i32 {
    if args.iter().any(|a| a == "--version" || a == "-v") {
        println!(
            "Redoubt server v={} redis_version={} bits=64",
            server::REDOUBT_VERSION,
            server::REDIS_VERSION
        );
        return 0;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", cli::server_help(mode.is_some()));
        return 0;
    }
    let (file, from_stdin, options) = parse_server_args(args);
    let mut stdin_text = None;
    if from_stdin {
        server::log::set_role(b'C');
        server::log_warning!("Reading config from stdin");
        let mut t = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut t) {
            server::log_warning!("Can't read the config from stdin: {e}");
            return 1;
        }
        stdin_text = Some(t);
    }
    if mode.is_some() {
        // Sentinel keeps its state in its config file, so it needs one it
        // can write (Redis's start-up checks and wording).
        server::log::set_role(b'X');
        match file.as_deref() {
            None => {
                server::log_warning!(
                    "Sentinel needs config file on disk to save state.  Exiting..."
                );
                return 1;
            }
            Some(f) => {
                if let Err(e) = std::fs::OpenOptions::new().append(true).open(f) {
                    server::log_warning!(
                        "Sentinel config file {} is not writable: {}. Exiting...",
                        f.display(),
                        server::config::strerror(&e)
                    );
                    return 1;
                }
            }
        }
    }
    let config = match Config::load_in_mode(file.as_deref(), stdin_text.as_deref(), &options, mode)
    {
        Ok(c) => c,
        // An unreadable file is logged, as Redis does; a bad line gets the
        // FATAL CONFIG FILE ERROR block on stderr.
        Err(e) if e.is_open_failure() => {
            // Logged before the server role is known, hence `C` as Redis.
            server::log::set_role(b'C');
            server::log_warning!("{e}");
            return 1;
        }
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    server::run(config, families::FAMILIES)
}

/// `redoubt --help` (`-h`, `help`): the commands, on standard output;
/// `redoubt help COMMAND`: that command's help.
fn help(command: Option<&str>) -> i32 {
    match command {
        None => {
            let _ = cli::redoubt().print_long_help();
            0
        }
        Some("server") => server_main(&["--help".to_string()]),
        Some("sentinel") => run_main(&["--help".to_string()], Some(&sentinel::MODE)),
        Some(c) => match cli::redoubt().find_subcommand(c) {
            Some(sub) => {
                cli::print_help(sub.clone());
                0
            }
            None => {
                eprintln!("redoubt: unknown command `{c}`; `redoubt --help` lists them");
                2
            }
        },
    }
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
    } else if prog.ends_with("-sentinel") {
        run_main(&argv[1..], Some(&sentinel::MODE))
    } else if prog.ends_with("-check-aof") {
        check_aof::main(&argv[1..])
    } else {
        match argv.get(1).map(String::as_str) {
            Some("server") => server_main(&argv[2..]),
            Some("sentinel") => run_main(&argv[2..], Some(&sentinel::MODE)),
            Some("check-rdb") => check_rdb::main(&argv[2..]),
            Some("check-aof") => check_aof::main(&argv[2..]),
            Some("up") => up::main(&argv[2..]),
            Some("config") => confgen::main(&argv[2..]),
            Some("doctor") => doctor::main(&argv[2..]),
            Some("top") => top::main(&argv[2..]),
            Some("--version") | Some("-v") => server_main(&argv[1..]),
            Some("--help") | Some("-h") | Some("help") => help(argv.get(2).map(String::as_str)),
            Some(other) => {
                eprintln!("redoubt: unknown command `{other}`; `redoubt --help` lists them");
                2
            }
            None => {
                eprint!("{}", cli::redoubt().render_help());
                2
            }
        }
    };
    std::process::exit(code);
}
