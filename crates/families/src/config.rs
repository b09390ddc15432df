//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP.
//!
//! The directives themselves live in `config::table`; this file only turns
//! requests into look-ups and changes of the [`Config`](server::config::Config)
//! and encodes the replies, with Redis 7.0's error texts.

use server::cmd::{CommandStats, Ctx, Handler};
use server::config::table::flags::{DENY_LOADING, HIDDEN, IMMUTABLE, PROTECTED};
use server::config::Directive;
use server::config::{self, table::DIRECTIVES, ConfigError};
use server::errors;
use server::log_warning;
use server::stats::Stats;
use server::util::glob;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("config|get", config_get),
    ("config|set", config_set),
    ("config|resetstat", config_resetstat),
    ("config|rewrite", config_rewrite),
    ("config|help", config_help),
];

/// The working directory as `CONFIG GET dir` and `CONFIG REWRITE` show it
/// (Redis reports `getcwd`, not the configured text).
fn cwd() -> String {
    std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn rendered(ctx: &Ctx, i: usize) -> String {
    if DIRECTIVES[i].name == "dir" {
        return cwd();
    }
    ctx.srv.config.render(i)
}

/// `CONFIG GET pattern [pattern ...]`: each matching parameter once, as a
/// map. A pattern without glob characters is an exact look-up (hidden
/// parameters only answer those) and keeps the name as typed.
fn config_get(ctx: &mut Ctx) {
    let mut found: Vec<(String, usize)> = Vec::new();
    let seen = |found: &Vec<(String, usize)>, name: &str| {
        found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    for pat in ctx.argv.from(2) {
        let pat_s = String::from_utf8_lossy(pat).into_owned();
        if !pat.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            if seen(&found, &pat_s) {
                continue;
            }
            if let Some((i, _)) = ctx.srv.config.lookup(&pat_s) {
                found.push((pat_s, i));
            }
            continue;
        }
        for (i, d) in DIRECTIVES.iter().enumerate() {
            if d.is(HIDDEN) {
                continue;
            }
            for name in std::iter::once(d.name).chain(d.alias) {
                if !seen(&found, name) && glob::matches(pat, name.as_bytes(), true) {
                    found.push((name.to_string(), i));
                }
            }
        }
    }
    let values: Vec<String> = found.iter().map(|(_, i)| rendered(ctx, *i)).collect();
    let out = ctx.out();
    out.map(found.len());
    for ((name, _), v) in found.iter().zip(&values) {
        out.bulk(name.as_bytes());
        out.bulk(v.as_bytes());
    }
}

/// `CONFIG SET name value [name value ...]`: all or nothing. Every name is
/// checked first (unknown, immutable, protected, duplicate), then every
/// value is parsed into a copy of the configuration, which replaces the
/// live one only when all succeeded.
fn config_set(ctx: &mut Ctx) {
    if !ctx.argv.len().is_multiple_of(2) {
        return ctx.err(errors::SYNTAX);
    }
    let pairs: Vec<(String, String)> = ctx
        .argv
        .from(2)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(p[0]).into_owned(),
                String::from_utf8_lossy(p[1]).into_owned(),
            )
        })
        .collect();
    let failed = |arg: &str, why: &str| {
        format!("ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}")
    };
    let protected_ok = ctx.srv.config.get_str(Directive::EnableProtectedConfigs) == "yes"
        || (ctx.srv.config.get_str(Directive::EnableProtectedConfigs) == "local"
            && ctx.client.addr.is_none_or(server::net::is_local));
    let mut idxs: Vec<usize> = Vec::with_capacity(pairs.len());
    let mut first_err: Option<String> = None;
    // Redis counts a background (`async_loading`) load as loading here.
    let loading = ctx.srv.persist.loading.is_some() || ctx.srv.repl.async_loading;
    // While loading, a directive that cannot change then refuses the whole
    // command with -LOADING, ahead of any other error (as Redis orders
    // them: clients may retry on LOADING).
    if loading
        && pairs.iter().any(|(name, _)| {
            ctx.srv
                .config
                .lookup(name)
                .is_some_and(|(_, d)| d.is(DENY_LOADING))
        })
    {
        return ctx.err(errors::LOADING);
    }
    for (name, _) in &pairs {
        let Some((i, d)) = ctx.srv.config.lookup(name) else {
            let msg =
                format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'");
            return ctx.err(&msg);
        };
        if first_err.is_some() {
            continue;
        }
        if d.is(IMMUTABLE) {
            first_err = Some(failed(name, "can't set immutable config"));
        } else if d.is(PROTECTED) && !protected_ok {
            first_err = Some(failed(name, "can't set protected config"));
        } else if idxs.contains(&i) {
            first_err = Some(failed(name, "duplicate parameter"));
        }
        idxs.push(i);
    }
    if let Some(e) = first_err {
        return ctx.err(&e);
    }
    let mut next = ctx.srv.config.clone();
    for ((name, value), &i) in pairs.iter().zip(&idxs) {
        let d = &DIRECTIVES[i];
        let args = config::set_args(d, value);
        let v = match config::parse::parse_value(d, &args, next.value(i)) {
            Ok(v) => v,
            Err(ConfigError::BadDirective) => {
                return ctx.err(&failed(name, "wrong number of arguments"))
            }
            Err(ConfigError::Invalid(why)) => return ctx.err(&failed(name, &why)),
        };
        next.put(i, v);
    }
    // Any `tls-*` change rebuilds the TLS material from the new values,
    // re-reading every file: new connections get it, a failure keeps the
    // old one (and the old values), as Redis's `applyTlsCfg`.
    let mut new_tls = None;
    if let Some(k) = idxs
        .iter()
        .position(|&i| DIRECTIVES[i].name.starts_with("tls-"))
    {
        if server::tls::wanted(&next) {
            match server::tls::configure(&next) {
                Ok(t) => new_tls = Some(t),
                Err(why) => {
                    log_warning!("{why}");
                    log_warning!("Failed applying new configuration. Possibly related to new {} setting. Restoring previous settings.", DIRECTIVES[idxs[k]].name);
                    return ctx.err(&failed(&pairs[k].0, errors::TLS_RECONFIGURE));
                }
            }
        }
    }
    // `dir`, `port` and `bind` act outside the process state; they are
    // applied once every value parsed, and undone if a later one fails, so
    // a failed CONFIG SET leaves everything unchanged.
    let position = |name: &str| idxs.iter().position(|&i| DIRECTIVES[i].name == name);
    let old_cwd = std::env::current_dir().ok();
    if let Some(k) = position("dir") {
        if let Err(e) = std::env::set_current_dir(&pairs[k].1) {
            return ctx.err(&failed(&pairs[k].0, &config::strerror(&e)));
        }
    }
    let (port_k, bind_k) = (position("port"), position("bind"));
    let cur = &ctx.srv.config;
    let moved = cur.get_int(Directive::Port) != next.get_int(Directive::Port)
        || cur.get_list(Directive::Bind) != next.get_list(Directive::Bind);
    if moved && ctx.srv.listeners.active {
        let old_bind = cur.get_list(Directive::Bind);
        let old_port = cur.get_int(Directive::Port) as u16;
        let new_port = next.get_int(Directive::Port) as u16;
        let rebound = ctx.srv.listeners.rebind(
            &next.get_list(Directive::Bind),
            new_port,
            (&old_bind, old_port),
        );
        if !rebound {
            if let Some(d) = old_cwd {
                let _ = std::env::set_current_dir(d);
            }
            let msg = match (port_k, bind_k) {
                (Some(k), _) => failed(&pairs[k].0, "Unable to listen on this port"),
                (None, Some(k)) => failed(&pairs[k].0, "Failed to bind to specified addresses."),
                (None, None) => failed("port", "Unable to listen on this port"),
            };
            return ctx.err(&msg);
        }
    }
    let cur = &ctx.srv.config;
    let tls_moved = cur.get_int(Directive::TlsPort) != next.get_int(Directive::TlsPort)
        || cur.get_list(Directive::Bind) != next.get_list(Directive::Bind);
    if tls_moved && ctx.srv.listeners.active {
        let old_bind = cur.get_list(Directive::Bind);
        let old_port = cur.get_int(Directive::TlsPort) as u16;
        let new_port = next.get_int(Directive::TlsPort) as u16;
        let new_bind = next.get_list(Directive::Bind);
        let rebound = ctx
            .srv
            .listeners
            .rebind_tls(&new_bind, new_port, (&old_bind, old_port));
        if !rebound {
            if let Some(d) = old_cwd {
                let _ = std::env::set_current_dir(d);
            }
            if moved {
                let old_port = ctx.srv.config.get_int(Directive::Port) as u16;
                ctx.srv
                    .listeners
                    .rebind(&old_bind, old_port, (&old_bind, old_port));
            }
            let arg = position("tls-port")
                .or(bind_k)
                .map_or("tls-port", |k| &pairs[k].0);
            return ctx.err(&failed(arg, errors::TLS_LISTEN));
        }
    }
    // The OOM score is the last step that can fail: on failure what was
    // applied above (dir, listeners) is undone and the old score put back,
    // as Redis restores the previous settings when an apply step fails.
    if let Some(k) = oom_change(&ctx.srv.config, &next, &idxs) {
        let replica = ctx.srv.is_replica();
        if let Err(e) = server::os::apply_oom_score_adj(&next, replica) {
            let name = DIRECTIVES[idxs[k]].name;
            log_warning!("Failed applying new configuration. Possibly related to new {name} setting. Restoring previous settings.");
            if let Some(d) = old_cwd {
                let _ = std::env::set_current_dir(d);
            }
            let cur = &ctx.srv.config;
            let (old_bind, old_port, old_tls_port) = (
                cur.get_list(Directive::Bind),
                cur.get_int(Directive::Port) as u16,
                cur.get_int(Directive::TlsPort) as u16,
            );
            if moved && ctx.srv.listeners.active {
                let old = (old_bind.as_slice(), old_port);
                ctx.srv.listeners.rebind(&old_bind, old_port, old);
            }
            if tls_moved && ctx.srv.listeners.active {
                let old = (old_bind.as_slice(), old_tls_port);
                ctx.srv.listeners.rebind_tls(&old_bind, old_tls_port, old);
            }
            let _ = server::os::apply_oom_score_adj(&ctx.srv.config, replica);
            return ctx.err(&failed(name, &e.to_string()));
        }
        if DIRECTIVES[idxs[k]].name == "oom-score-adj-values" {
            server::os::warn_unusual_oom_values(&next);
        }
    }
    if new_tls.is_some() {
        ctx.srv.tls = new_tls;
    }
    ctx.srv.config = next;
    ctx.srv.apply_config();
    ctx.out().ok();
}

/// The position in `idxs` of the first of `oom-score-adj` and
/// `oom-score-adj-values` whose value changes from `cur` to `next` (Redis
/// runs an apply step only for a changed value, and names that directive
/// when it fails).
fn oom_change(cur: &config::Config, next: &config::Config, idxs: &[usize]) -> Option<usize> {
    idxs.iter().position(|&i| {
        matches!(DIRECTIVES[i].name, "oom-score-adj" | "oom-score-adj-values")
            && cur.value(i) != next.value(i)
    })
}

/// `CONFIG RESETSTAT`: the counters of INFO stats, commandstats and
/// errorstats start again from zero. The slow log is kept (SLOWLOG RESET
/// clears it), as in Redis.
/// `CONFIG RESETSTAT`: the counters INFO reports start again from zero —
/// server statistics, error and command statistics with the commands'
/// latency histograms, the peak memory — as Redis resets them.
fn config_resetstat(ctx: &mut Ctx) {
    ctx.srv.stats = Stats::default();
    for st in &mut ctx.srv.commands.stats {
        *st = CommandStats::default();
    }
    ctx.srv.latency_hist.clear();
    ctx.srv.lazyfree.reset_stats();
    ctx.srv.mem_peak = server::alloc::allocated() as u64;
    ctx.out().ok();
}

fn config_rewrite(ctx: &mut Ctx) {
    let Some(path) = ctx.srv.config.file.clone() else {
        return ctx.err("ERR The server is running without a config file");
    };
    match rewrite_live_config(ctx, &path, false) {
        Ok(()) => {
            server::log_notice!("CONFIG REWRITE executed with success.");
            ctx.out().ok();
        }
        Err(e) => {
            server::log_warning!("CONFIG REWRITE failed: {}", config::strerror(&e));
            let msg = format!("ERR Rewriting config file: {}", config::strerror(&e));
            ctx.err(&msg);
        }
    }
}

/// Writes the configuration as it is now into `path`: the directives,
/// the ACL users and the master followed now. `force_all` writes every
/// directive even at its default (`DEBUG CONFIG-REWRITE-FORCE-ALL`).
pub fn rewrite_live_config(
    ctx: &mut Ctx,
    path: &std::path::Path,
    force_all: bool,
) -> std::io::Result<()> {
    // The users as they are now, written as `user` lines.
    let mut cfg = ctx.srv.config.clone();
    cfg.users = ctx
        .srv
        .acl
        .users
        .iter()
        .map(|(name, u)| {
            let mut line = vec![String::from_utf8_lossy(name).into_owned()];
            line.extend(u.borrow().describe().split(' ').map(str::to_string));
            line
        })
        .collect();
    // `replicaof` is what this server follows now (REPLICAOF, a Sentinel
    // failover), not what the file said at start-up: Redis rewrites the
    // live master, which is how Sentinel makes a failover survive restarts.
    let master: Vec<String> = match &ctx.srv.repl.master {
        Some(m) => vec![m.host.clone(), m.port.to_string()],
        None => Vec::new(),
    };
    let _ = cfg.set("replicaof", &master);
    config::rewrite::rewrite_with(&cfg, path, &cwd(), force_all)
}

const HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
];

fn config_help(ctx: &mut Ctx) {
    let out = ctx.out();
    out.array(HELP.len());
    for l in HELP {
        out.simple(l.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn get_set_and_errors() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["CONFIG", "GET", "port"]),
            "*2\r\n$4\r\nport\r\n$4\r\n6379\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "SET", "maxmemory", "1mb", "hz", "20"]),
            "+OK\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "GET", "maxmemory"]),
            "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n"
        );
        assert_eq!(k.srv.hz, 20);
        // Atomic: the bad second pair leaves the first unchanged.
        assert_eq!(
            k.run(&["CONFIG", "SET", "hz", "30", "port", "abc"]),
            "-ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer\r\n"
        );
        assert_eq!(k.srv.hz, 20);
        assert_eq!(
            k.run(&["CONFIG", "SET", "foo", "bar"]),
            "-ERR Unknown option or number of arguments for CONFIG SET - 'foo'\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "SET", "daemonize", "no"]),
            "-ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "SET", "port", "1", "port", "2"]),
            "-ERR CONFIG SET failed (possibly related to argument 'port') - duplicate parameter\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "SET", "a", "b", "c"]),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            k.run(&["CONFIG", "REWRITE"]),
            "-ERR The server is running without a config file\r\n"
        );
    }

    #[test]
    fn get_globs_list_each_name_once() {
        let mut k = Kit::new();
        let r = k.run(&["CONFIG", "GET", "slave-*", "*-priority"]);
        assert!(r.starts_with("*16\r\n"), "{r}");
        assert_eq!(r.matches("slave-priority").count(), 1);
        let all = k.run(&["CONFIG", "GET", "*"]);
        assert!(all.starts_with("*384\r\n"), "{}", &all[..10]);
        // Hidden knobs answer only to their exact name.
        assert!(!all.contains("key-load-delay"));
        assert!(k
            .run(&["CONFIG", "GET", "key-load-delay"])
            .starts_with("*2\r\n"));
    }

    #[test]
    fn resetstat_clears_counters_but_not_the_slowlog() {
        let mut k = Kit::new();
        k.run(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        k.run(&["GET", "x"]);
        k.run(&["NOSUCH"]);
        assert!(k.srv.stats.total_commands > 0);
        let slow = k.srv.slowlog.len();
        assert_eq!(k.run(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
        assert_eq!(k.srv.stats.keyspace_misses, 0);
        assert!(k.srv.stats.errors.is_empty());
        assert!(k.srv.slowlog.len() >= slow);
    }

    #[test]
    fn secrets_are_redacted_in_the_slowlog() {
        let mut k = Kit::new();
        k.run(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        k.run(&["CONFIG", "SET", "masterauth", "secret", "hz", "10"]);
        let entry = &k.srv.slowlog[0];
        let args: Vec<&[u8]> = entry.args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(
            args,
            [
                &b"CONFIG"[..],
                b"SET",
                b"masterauth",
                b"(redacted)",
                b"hz",
                b"10"
            ]
        );
    }
}
