//! The tools' command lines, declared with clap: one [`Command`] per
//! subcommand with its one-line description, options, defaults and an
//! example, from which `--help` is rendered and arguments are parsed.
//!
//! The server and Sentinel keep redis-server's argument syntax (parsed in
//! main.rs: clap cannot express `--save "" --bind a b`), and `check-rdb` /
//! `check-aof` keep redis-check-rdb's and redis-check-aof's (they also run
//! as those programs); all three take `--help` here.
//!
//! A parsed command line is handed to the tools as [`Flags`]: only what
//! was given on the command line, so each tool keeps its own defaults in
//! one place (the help text shows the same values).

use crate::flags::Flags;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, Command};

fn opt(name: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name(value).help(help)
}

fn switch(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn positional(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .value_name(name)
        .num_args(0..)
        .action(ArgAction::Append)
        .help(help)
}

pub fn up() -> Command {
    Command::new("up")
        .bin_name("redoubt up")
        .about("Run a whole local topology: 1 master, replicas and sentinels on 127.0.0.1")
        .long_about(
            "Run a whole local topology: a master, its replicas and sentinels on 127.0.0.1, \
             with their configs, logs and data under --dir. Waits until the replicas are in \
             sync and the sentinels agree, saying what it waits for, then prints a status \
             table every --refresh-ms. Ctrl-C stops everything and keeps the data; the same \
             command on the same --dir resumes.",
        )
        .arg(switch("cluster", "Run a Redis Cluster instead: --masters masters with --replicas replicas each"))
        .arg(opt("masters", "N", "With --cluster: number of masters [default: 3]"))
        .arg(opt("node-timeout", "MS", "With --cluster: cluster-node-timeout [default: 5000]"))
        .arg(opt("bus-port", "PORT", "With --cluster: the first node's cluster bus port [default: each port + 10000]"))
        .arg(opt("port", "PORT", "The master's port; replicas take the next ones [default: 6379; 7000 with --cluster]"))
        .arg(opt("replicas", "N", "Number of replicas (with --cluster: of each master) [default: 2; 1 with --cluster]"))
        .arg(opt("sentinels", "N", "Number of sentinels (0: none) [default: 3]"))
        .arg(opt("sentinel-port", "PORT", "The first sentinel's port [default: 26379]"))
        .arg(opt("password", "P", "requirepass/masterauth for every server (no spaces)"))
        .arg(opt("dir", "DIR", "Folder for configs, logs and data [default: ./redoubt-data]"))
        .arg(opt("master-name", "NAME", "The name sentinels monitor [default: mymaster]"))
        .arg(opt("quorum", "N", "Sentinels needed to agree the master is down [default: 2]"))
        .arg(opt("down-after", "MS", "Sentinel down-after-milliseconds [default: 5000]"))
        .arg(opt("failover-timeout", "MS", "Sentinel failover-timeout [default: 60000]"))
        .arg(opt("server-cmd", "'PROGRAM ARGS'", "Program to run as each server [default: this binary's `server`]"))
        .arg(opt("sentinel-cmd", "'PROGRAM ARGS'", "Program to run as each sentinel [default: this binary's `sentinel`]"))
        .arg(opt("refresh-ms", "MS", "Status table refresh period [default: 1000]"))
        .after_help(
            "Examples:\n  redoubt up\n  redoubt up --port 7000 --sentinel-port 27000 --dir /tmp/t\n  \
             redoubt up --cluster   # 3 masters x 1 replica on 7000-7005, as redis-cli --cluster create makes it\n  \
             redoubt up --server-cmd redis-server --sentinel-cmd redis-sentinel   # the same on real Redis",
        )
}

pub fn doctor() -> Command {
    Command::new("doctor")
        .bin_name("redoubt doctor")
        .about("Check a replicated deployment and this host for the known failure modes")
        .long_about(
            "Check servers (Redoubt or Redis; replicas are discovered from their master), \
             sentinels and this host for the known failure modes of a replicated set-up, and \
             say what to change. The write rate is sampled from the masters' offsets over \
             --sample-ms (or given with --write-rate) and sizes the backlog and replica \
             output-buffer checks. Exit code: 0 nothing found, 1 warnings, 2 errors.",
        )
        .arg(positional("HOST:PORT", "Servers to check"))
        .arg(opt("password", "P", "Password of the servers"))
        .arg(
            opt("sentinel", "HOST:PORT", "A sentinel to check (repeatable)")
                .action(ArgAction::Append),
        )
        .arg(opt("sentinel-password", "P", "Password of the sentinels"))
        .arg(opt(
            "master-name",
            "NAME",
            "Master name to check on the sentinels [default: every one they monitor]",
        ))
        .arg(switch("json", "Print the findings as JSON"))
        .arg(opt(
            "write-rate",
            "BYTES/s",
            "Write rate to size for (e.g. 5mb) [default: sampled]",
        ))
        .arg(opt(
            "max-outage",
            "SECS",
            "Link outage the backlog must cover [default: 60]",
        ))
        .arg(opt(
            "full-sync-time",
            "SECS",
            "Full sync duration the replica output buffer must cover [default: 60]",
        ))
        .arg(opt(
            "sample-ms",
            "MS",
            "How long to sample the write rate [default: 1000]",
        ))
        .arg(opt(
            "max-lag",
            "BYTES",
            "Replica lag to warn about [default: derived from the backlog]",
        ))
        .after_help(
            "Examples:\n  redoubt doctor 127.0.0.1:6379\n  \
             redoubt doctor --sentinel 127.0.0.1:26379 --password S 10.0.0.1:6379 --json",
        )
}

pub fn config() -> Command {
    Command::new("config")
        .bin_name("redoubt config")
        .about("Print a complete commented config file for a master, replica or sentinel")
        .long_about(
            "Print a complete commented config file for a master, replica or sentinel on \
             standard output, with the backlog and the replica output buffer sized from \
             --write-rate, --max-outage and --full-sync-time.",
        )
        .arg(positional("ROLE", "master, replica or sentinel"))
        .arg(opt("port", "PORT", "Port [default: 6379, sentinel 26379]"))
        .arg(opt(
            "bind",
            "'ADDR ...'",
            "Addresses to listen on [default: 127.0.0.1 -::1]",
        ))
        .arg(opt(
            "password",
            "P",
            "requirepass (and masterauth / auth-pass)",
        ))
        .arg(opt(
            "dir",
            "DIR",
            "Working directory [default: /var/lib/redoubt, sentinel /var/lib/redoubt-sentinel]",
        ))
        .arg(opt(
            "logfile",
            "FILE",
            "Log file [default: standard output]",
        ))
        .arg(opt(
            "supervised",
            "systemd|no",
            "Notify systemd of readiness [default: no]",
        ))
        .arg(opt(
            "write-rate",
            "BYTES/s",
            "Expected write rate, e.g. 5mb",
        ))
        .arg(opt(
            "max-outage",
            "SECS",
            "Link outage the backlog must cover [default: 60]",
        ))
        .arg(opt(
            "full-sync-time",
            "SECS",
            "Full sync duration the replica output buffer must cover [default: 60]",
        ))
        .arg(opt(
            "min-replicas",
            "N",
            "master: min-replicas-to-write [default: 1]",
        ))
        .arg(opt(
            "min-replicas-max-lag",
            "SECS",
            "master: min-replicas-max-lag [default: 10]",
        ))
        .arg(opt("master", "HOST:PORT", "replica, sentinel: the master"))
        .arg(opt(
            "replica-priority",
            "N",
            "replica: replica-priority [default: 100]",
        ))
        .arg(opt(
            "announce-ip",
            "IP",
            "replica, sentinel: the address to announce",
        ))
        .arg(opt(
            "master-name",
            "NAME",
            "sentinel: the monitored name [default: mymaster]",
        ))
        .arg(opt("quorum", "N", "sentinel: quorum [default: 2]"))
        .arg(opt(
            "down-after",
            "MS",
            "sentinel: down-after-milliseconds [default: 5000]",
        ))
        .arg(opt(
            "failover-timeout",
            "MS",
            "sentinel: failover-timeout [default: 60000]",
        ))
        .arg(opt(
            "parallel-syncs",
            "N",
            "sentinel: parallel-syncs [default: 1]",
        ))
        .after_help(
            "Examples:\n  redoubt config master --password S --write-rate 5mb > master.conf\n  \
             redoubt config replica --master 10.0.0.1:6379 --password S > replica.conf\n  \
             redoubt config sentinel --master 10.0.0.1:6379 --password S > sentinel.conf",
        )
}

pub fn top() -> Command {
    Command::new("top")
        .bin_name("redoubt top")
        .about("Show a server's live ops/s, clients, memory, keys and replication lag")
        .long_about(
            "Print one line per interval for a server (Redoubt or Redis): role, ops/s, \
             busiest commands, clients, memory, keys, hit ratio, replication offset and \
             worst replica lag.",
        )
        .arg(positional("HOST:PORT", "The server"))
        .arg(opt("password", "P", "Password"))
        .arg(opt("interval-ms", "MS", "Interval between lines [default: 1000]"))
        .arg(opt("count", "N", "Stop after N lines (0: until Ctrl-C) [default: 0]"))
        .after_help("Examples:\n  redoubt top 127.0.0.1:6379\n  redoubt top 10.0.0.1:6379 --password S --count 10")
}

pub fn check_rdb() -> Command {
    Command::new("check-rdb")
        .bin_name("redoubt check-rdb")
        .about("Validate an RDB file and say what it holds, or where and why it is broken")
        .long_about(
            "Validate an RDB file (Redoubt's or Redis's, up to version 10) and print what it \
             holds, or the offset and the reason it is broken, as redis-check-rdb does. Exit \
             code 0 for a sound file, 1 otherwise.",
        )
        .arg(Arg::new("FILE").required(true).help("The RDB file"))
        .after_help("Example:\n  redoubt check-rdb /var/lib/redoubt/dump.rdb")
}

pub fn check_aof() -> Command {
    Command::new("check-aof")
        .bin_name("redoubt check-aof")
        .about("Validate an append-only file (and with --fix, cut a broken tail)")
        .long_about(
            "Validate an append-only file as redis-check-aof 7.0 does: a manifest (every file \
             it lists, the base first) or a single AOF file. With --fix, a broken last file is \
             cut back to its last whole command after confirmation. Exit code 0 when \
             everything is valid (or was fixed), 1 otherwise.",
        )
        .arg(switch("fix", "Truncate a broken last file to its last whole command (asks first)"))
        .arg(Arg::new("FILE").required(true).help("appendonly.aof.manifest or an .aof file"))
        .after_help(
            "Examples:\n  redoubt check-aof /var/lib/redoubt/appendonlydir/appendonly.aof.manifest\n  \
             redoubt check-aof --fix appendonly.aof",
        )
}

/// The top-level command, for `redoubt --help`: every subcommand with its
/// one-line description.
pub fn redoubt() -> Command {
    Command::new("redoubt")
        .about("Redoubt: a Redis-compatible, replicated, in-memory cache server")
        .version(server::REDOUBT_VERSION)
        .disable_version_flag(true)
        .subcommand(Command::new("server").about("Run the cache server (redis-server's arguments; see `redoubt server --help`)"))
        .subcommand(Command::new("sentinel").about("Run Sentinel: monitor masters and fail over (redis-sentinel's arguments)"))
        .subcommand(up())
        .subcommand(doctor())
        .subcommand(config())
        .subcommand(top())
        .subcommand(check_rdb())
        .subcommand(check_aof())
        .after_help(
            "`redoubt help COMMAND` or `redoubt COMMAND --help` describes one command.\n\
             A link named redoubt-server or redis-server runs `redoubt server`; one named \
             redoubt-sentinel or redis-sentinel runs `redoubt sentinel`; one named \
             redis-check-aof runs `redoubt check-aof`.\n\n\
             Example:\n  redoubt up                      # a master, 2 replicas, 3 sentinels on 127.0.0.1",
        )
}

/// Parses a tool's arguments. `Err(code)`: help was printed (0) or the
/// arguments were refused with a message on standard error (2).
pub fn parse(cmd: Command, args: &[String]) -> Result<Flags, i32> {
    let name = cmd.get_name().to_string();
    let argv = std::iter::once(format!("redoubt {name}")).chain(args.iter().cloned());
    let m = match cmd.clone().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return Err(code);
        }
    };
    let mut f = Flags::default();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if m.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let values: Vec<String> = m
            .get_raw(id)
            .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        if arg.is_positional() {
            f.positional.extend(values);
        } else if matches!(arg.get_action(), ArgAction::SetTrue) {
            f.set_switch(id);
        } else {
            for v in values {
                f.set_value(id, v);
            }
        }
    }
    Ok(f)
}

/// Prints `cmd`'s full help on standard output.
pub fn print_help(mut cmd: Command) {
    let _ = cmd.print_long_help();
}

/// `redoubt server --help`: redis-server's argument syntax, and the
/// directives that are Redoubt's own (every redis.conf directive of Redis
/// 7.0 is accepted as well).
pub fn server_help(sentinel: bool) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    if sentinel {
        o.push_str(
            "Run Sentinel: monitor masters, agree on failures, promote a replica.\n\n\
             Usage: redoubt sentinel FILE [--directive value ...]\n       \
             redoubt server FILE --sentinel [--directive value ...]\n\n\
             FILE is a sentinel.conf (Redis's syntax). Sentinel rewrites it as the topology \
             changes, so it must be writable.\n",
        );
    } else {
        o.push_str(
            "Run the cache server.\n\n\
             Usage: redoubt server [FILE] [--directive value ...] [-]\n       \
             redoubt server --version\n\n\
             FILE is a redis.conf-style file; every directive of Redis 7.0's redis.conf is \
             accepted, in the file or as --directive value overrides, as redis-server takes \
             them (`--save \"\"`, `--bind 127.0.0.1 ::1`). `-` reads more config lines from \
             standard input. --sentinel switches to Sentinel mode.\n",
        );
    }
    o.push_str("\nRedoubt's own directives (Redis rejects them):\n");
    for d in server::config::table::DIRECTIVES {
        if !REDOUBT_DIRECTIVES.iter().any(|(n, _)| *n == d.name) {
            continue;
        }
        let help = REDOUBT_DIRECTIVES
            .iter()
            .find(|(n, _)| *n == d.name)
            .map_or("", |(_, h)| *h);
        let _ = writeln!(o, "  {:<14} {help} [default: {}]", d.name, d.default);
    }
    if sentinel {
        o.push_str(
            "\nExample:\n  printf 'port 26379\\nsentinel monitor mymaster 127.0.0.1 6379 1\\n' > sentinel.conf\n  \
             redoubt sentinel sentinel.conf\n",
        );
    } else {
        o.push_str(
            "\nExamples:\n  redoubt server --port 6379 --bind 127.0.0.1\n  \
             redoubt server /etc/redoubt/redoubt.conf --port 6380 --metrics-port 9121\n",
        );
    }
    o
}

/// Redoubt's own directives with a one-line description; the defaults
/// come from the config table.
const REDOUBT_DIRECTIVES: &[(&str, &str)] = &[
    (
        "metrics-port",
        "Serve Prometheus metrics (redis_exporter's names too) on this port; 0: off",
    ),
    ("metrics-bind", "Address of the metrics endpoint"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_well_formed() {
        redoubt().debug_assert();
    }

    #[test]
    fn only_given_options_reach_the_tool() {
        let args: Vec<String> = ["--port", "7000", "--sentinels=1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = parse(up(), &args).unwrap_or_default();
        assert_eq!(f.get("port"), Some("7000"));
        assert_eq!(f.get("sentinels"), Some("1"));
        assert_eq!(f.get("dir"), None);
        let args: Vec<String> = ["--sentinel", "a:1", "h:2", "--sentinel", "b:2", "--json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = parse(doctor(), &args).unwrap_or_default();
        assert_eq!(f.all("sentinel"), vec!["a:1", "b:2"]);
        assert_eq!(f.positional, vec!["h:2"]);
        assert!(f.has("json"));
    }

    #[test]
    fn server_help_lists_our_directives_with_their_defaults() {
        let h = server_help(false);
        assert!(h.contains("metrics-port"), "{h}");
        assert!(h.contains("[default: 127.0.0.1]"), "{h}");
    }
}
