//! Start-up and shutdown: daemonize, pidfile, listeners, the cron, and
//! orderly exit on SIGTERM/SIGINT, with Redis's log lines.

use crate::cmd::HandlerTable;
use crate::config::{Config, Directive};
use crate::listeners::Listeners;
use crate::server::Server;
use crate::{log, log_notice, log_warning};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Forks into the background as redis-server does with `daemonize yes`:
/// the parent exits, the child starts a new session and detaches stdio.
/// This happens before any thread exists, so fork is safe here.
fn daemonize() {
    // SAFETY: no threads exist yet; the parent exits immediately.
    unsafe {
        match libc::fork() {
            -1 => return,
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if devnull >= 0 {
            libc::dup2(devnull, 0);
            libc::dup2(devnull, 1);
            libc::dup2(devnull, 2);
            if devnull > 2 {
                libc::close(devnull);
            }
        }
    }
}

fn write_pidfile(path: &str) {
    if path.is_empty() {
        return;
    }
    if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
        log_warning!("Failed to write PID file: {e}");
    }
}

/// Warns when the kernel would silently cap `tcp-backlog`.
fn check_somaxconn(backlog: i64) {
    if let Ok(s) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
        if let Ok(max) = s.trim().parse::<i64>() {
            if max < backlog {
                log_warning!("WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {max}.");
            }
        }
    }
}

/// The start-up banner. As in Redis, it is shown under `always-show-logo
/// yes` or when logging to a terminal; otherwise one line says the mode
/// and port. Tooling reads its fields: Redis's test suite waits for
/// ` PID: <pid>` in the server's output to know it started. The art is
/// ours (a redoubt, a small fort); the fields are the ones Redis shows.
fn show_logo(config: &Config, mode: &str, port: u16) {
    let wanted = config.get_bool(Directive::AlwaysShowLogo)
        || (!config.get_bool(Directive::SyslogEnabled) && log::to_terminal());
    if !wanted {
        log_notice!("Running mode={mode}, port={port}.");
        return;
    }
    let version = crate::REDOUBT_VERSION;
    let redis = crate::REDIS_VERSION;
    let pid = std::process::id();
    log::write_raw(
        log::Level::Notice,
        &format!(
            "
        _   _   _   _   _
       | |_| |_| |_| |_| |      Redoubt {version} (redis_version {redis}) 64 bit
       |                 |
       |   _    _    _   |      Running in {mode} mode
       |  | |  | |  | |  |      Port: {port}
       |  |_|  |_|  |_|  |      PID: {pid}
    ___|_________________|___
                                Redis-compatible cache server

"
        ),
    );
}

/// Runs the server until shutdown. Returns the process exit code.
pub fn run(mut config: Config, families: &'static [HandlerTable]) -> i32 {
    // Before any thread exists: the title's room is found and the
    // environment moved out of it.
    crate::proctitle::init();
    let daemon = config.get_bool(Directive::Daemonize);
    if let Some(m) = config.mode {
        log::set_role(m.log_role);
    }
    log::set_file(&config.get_str(Directive::Logfile));
    if config.get_bool(Directive::SyslogEnabled) {
        log::syslog::open(
            &config.get_str(Directive::SyslogIdent),
            &config.get_str(Directive::SyslogFacility),
        );
    }
    if let Some(l) = log::Level::parse(&config.get_str(Directive::Loglevel)) {
        log::set_level(l);
    }
    if daemon {
        daemonize();
    }
    // Before any thread exists, so threads started later without a list
    // of their own inherit the executor's.
    crate::os::apply_cpulists(&config);
    crate::crash::start();
    // The working directory is already `dir`: loading the config entered
    // it when it read the line, as Redis does (a relative `dir` entered a
    // second time would go one level too deep).
    log_notice!("oO0OoO0OoO0Oo Redoubt is starting oO0OoO0OoO0Oo");
    log_notice!(
        "Redoubt version={}, redis_version={}, bits=64, pid={}, just started",
        crate::REDOUBT_VERSION,
        crate::REDIS_VERSION,
        std::process::id()
    );
    match &config.file {
        Some(_) => log_notice!("Configuration loaded"),
        None => log_warning!("Warning: no config file specified, using the default config. In order to specify a config file use redoubt server /path/to/redis.conf"),
    }
    let mut pidfile = config.get_str(Directive::Pidfile);
    if daemon && pidfile.is_empty() {
        // Redis's default for a daemon; kept in the config so CONFIG GET
        // and CONFIG REWRITE show it as Redis does.
        pidfile = "/var/run/redis.pid".into();
        let _ = config.set("pidfile", std::slice::from_ref(&pidfile));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log_warning!("Failed to start the event loop: {e}");
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, serve(config, families, pidfile.clone()));
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    code
}

/// SHUTDOWN NOSAVE served while a script is busy: Redis exits from inside
/// the script (its event loop is the script's hook), and so do we — the
/// AOF is flushed, the pidfile removed, and the process ends without
/// returning to the script.
pub fn exit_during_script(srv: &mut Server) -> ! {
    srv.listeners.close_for_exit();
    crate::persistence::aof::shutdown(srv);
    let pidfile = srv.config.get_str(Directive::Pidfile);
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    log_notice!("Redoubt is now ready to exit, bye bye...");
    std::process::exit(0)
}

async fn serve(config: Config, families: &[HandlerTable], pidfile: String) -> i32 {
    // Before the listeners open, so a signal during start-up (or loading)
    // still ends in an orderly shutdown rather than killing the process.
    if !crate::signals::install() {
        log_warning!("Could not install the SIGTERM/SIGINT handlers; use SHUTDOWN to stop.");
    }
    let port = config.get_int(Directive::Port) as u16;
    let backlog = config.get_int(Directive::TcpBacklog);
    let bind = config.get_list(Directive::Bind);
    let mode = config.mode;
    let tls_port = config.get_int(Directive::TlsPort) as u16;
    let tls = if crate::tls::wanted(&config) {
        match crate::tls::configure(&config) {
            Ok(t) => Some(t),
            Err(why) => {
                log_warning!("{why}");
                log_warning!("Failed to configure TLS. Check logs for more info.");
                return 1;
            }
        }
    } else {
        None
    };
    // A server started with `replicaof` takes the replica's OOM class.
    let replica = !config.get_list(Directive::Replicaof).is_empty();
    crate::os::apply_at_startup(&config, replica);
    let srv = Rc::new(RefCell::new(Server::new(config, families)));
    srv.borrow_mut().tls = tls;
    if let Err(e) = crate::acl::file::load_at_startup(&mut srv.borrow_mut()) {
        for line in e.lines() {
            log_warning!("{line}");
        }
        return 1;
    }
    if mode.is_none() && srv.borrow().config.get_bool(Directive::ClusterEnabled) {
        if let Err(e) = crate::cluster::init(&mut srv.borrow_mut()) {
            log_warning!("{e}");
            return 1;
        }
    }
    if mode.is_none() {
        crate::persistence::load::prepare(&mut srv.borrow_mut());
    }
    let (ls, tls_ls) = match (
        Listeners::bind_all(&bind, port, backlog as i32),
        Listeners::bind_all(&bind, tls_port, backlog as i32),
    ) {
        (Ok(ls), Ok(tls_ls)) => (ls, tls_ls),
        (Err(_), _) => {
            log_warning!("Failed listening on port {port} (tcp), aborting.");
            return 1;
        }
        (_, Err(_)) => {
            log_warning!("Failed listening on port {tls_port} (tls), aborting.");
            return 1;
        }
    };
    let unix_path = srv.borrow().config.get_str(Directive::Unixsocket);
    let unix = if unix_path.is_empty() {
        None
    } else {
        let perm = srv.borrow().config.get_int(Directive::Unixsocketperm) as u32;
        let opened = crate::listeners::open_unix(&unix_path, perm, backlog as i32)
            .and_then(|l| tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string()));
        match opened {
            Ok(l) => Some(l),
            Err(e) => {
                log_warning!("{e}");
                return 1;
            }
        }
    };
    if ls.is_empty() && tls_ls.is_empty() && unix.is_none() {
        log_warning!("Configured to not listen anywhere, exiting.");
        return 1;
    }
    // After the listeners are bound, as Redis prints its logo (and the
    // `PID:` line its test harness waits for) only once it listens: a
    // client that read it can connect at once.
    show_logo(
        &srv.borrow().config,
        mode.map(|m| m.name)
            .unwrap_or(if srv.borrow().cluster.is_some() {
                "cluster"
            } else {
                "standalone"
            }),
        if port != 0 { port } else { tls_port },
    );
    check_somaxconn(backlog);
    let serves_tcp = !ls.is_empty();
    if let Some(l) = unix {
        srv.borrow_mut().listeners.unix_path = Some(unix_path.clone().into());
        tokio::task::spawn_local(crate::listeners::accept_unix_loop(srv.clone(), l));
    }
    let serves_tls = !tls_ls.is_empty();
    srv.borrow_mut()
        .listeners
        .open_at_start(ls, tls_ls, backlog as i32);
    tokio::task::spawn_local(crate::listeners::accept_new_listeners(srv.clone()));
    if srv.borrow().cluster.is_some() {
        let cport = crate::cluster::bus_port(&srv.borrow());
        match Listeners::bind_all(&bind, cport, backlog as i32) {
            Ok(ls) => crate::cluster::bus::start(&srv, ls),
            Err(_) => {
                log_warning!("Failed listening on port {cport} (cluster), aborting.");
                return 1;
            }
        }
    }
    // A mode (Sentinel) serves its own metrics: see `metrics::spawn`.
    if mode.is_none() && crate::metrics::start(&srv).await.is_err() {
        return 1;
    }
    write_pidfile(&pidfile);
    if let Some(m) = mode {
        // A mode keeps no dataset: no loading, persistence or replication.
        (m.start)(&srv);
        crate::sdnotify::mode_ready(&srv.borrow());
        // A mode has no server cron: signals are acted on here.
        let cron_srv = srv.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                crate::crash::watchdog::beat();
                let mut s = cron_srv.borrow_mut();
                s.refresh_time();
                crate::shutdown::cron(&mut s);
            }
        });
        return wait_for_exit(srv).await;
    }
    log_notice!("Server initialized");
    crate::os::check_transparent_huge_pages(&srv.borrow().config);
    if serves_tcp {
        log_notice!("Ready to accept connections tcp");
    }
    if serves_tls {
        log_notice!("Ready to accept connections tls");
    }
    if srv.borrow().listeners.unix_path.is_some() {
        log_notice!("The server is now ready to accept connections at {unix_path}");
    }

    tokio::task::spawn_local(crate::evict::eviction_task(srv.clone()));
    tokio::task::spawn_local(crate::net::adopt_task(srv.clone()));
    let cron_srv = srv.clone();
    tokio::task::spawn_local(async move {
        loop {
            let hz = cron_srv.borrow().hz.max(1);
            tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
            cron_srv.borrow_mut().cron();
        }
    });

    tokio::task::spawn_local(crate::persistence::save::persistence_task(srv.clone()));
    tokio::task::spawn_local(crate::persistence::aof::flush_task(srv.clone()));
    tokio::task::spawn_local(crate::replication::replica::link_task(srv.clone()));
    tokio::task::spawn_local(crate::replication::fullsync::transfer_task(srv.clone()));
    let loader = srv.clone();
    crate::sdnotify::loading(&srv.borrow());
    tokio::task::spawn_local(async move {
        if let Err(e) = crate::persistence::load::load_at_startup(loader.clone()).await {
            if let crate::persistence::load::StartupLoadError::Reason(e) = e {
                log_warning!("{e}");
                log_warning!("Unrecoverable error loading the dataset, aborting now.");
            }
            loader.borrow_mut().fatal = true;
            let n = loader.borrow().shutdown_notify.clone();
            n.notify_one();
            return;
        }
        // `replicaof` in the configuration: follow once the data is in.
        crate::replication::replica::start_from_config(&mut loader.borrow_mut());
        crate::sdnotify::after_load(loader.clone());
    });

    wait_for_exit(srv).await
}

/// Waits until a shutdown finished (`shutdown`: the final save, the AOF,
/// the pid file and the unix socket are done) or start-up failed; returns
/// the exit status.
async fn wait_for_exit(srv: Rc<RefCell<Server>>) -> i32 {
    let done = srv.borrow().shutdown_notify.clone();
    loop {
        done.notified().await;
        let s = srv.borrow();
        if s.fatal {
            return 1;
        }
        if s.shutdown_requested {
            return 0;
        }
    }
}
