//! Start-up and shutdown: daemonize, pidfile, listeners, the cron, and
//! orderly exit on SIGTERM/SIGINT, with Redis's log lines.

use crate::config::Config;
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

/// Runs the server until shutdown. Returns the process exit code.
pub fn run(config: Config) -> i32 {
    let daemon = config.get_bool("daemonize");
    log::set_file(&config.get_str("logfile"));
    if let Some(l) = log::Level::parse(&config.get_str("loglevel")) {
        log::set_level(l);
    }
    if daemon {
        daemonize();
    }
    let dir = config.get_str("dir");
    if !dir.is_empty() {
        if let Err(e) = std::env::set_current_dir(&dir) {
            log_warning!("Can't chdir to '{dir}': {e}");
            return 1;
        }
    }
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
    let mut pidfile = config.get_str("pidfile");
    if daemon && pidfile.is_empty() {
        pidfile = "/var/run/redis.pid".into();
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
    let code = local.block_on(&rt, serve(config, pidfile.clone()));
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    code
}

async fn serve(config: Config, pidfile: String) -> i32 {
    let port = config.get_int("port") as u16;
    let backlog = config.get_int("tcp-backlog");
    let bind = config.get_list("bind");
    let srv = Rc::new(RefCell::new(Server::new(config)));
    log_notice!("Running mode=standalone, port={port}.");
    check_somaxconn(backlog);
    if port != 0 {
        let mut bound = 0;
        for (addr, optional) in crate::net::bind_addrs(&bind, port) {
            match crate::net::listen(addr, backlog as i32) {
                Ok(l) => {
                    bound += 1;
                    tokio::task::spawn_local(crate::net::accept_loop(srv.clone(), l));
                }
                Err(e) if optional => {
                    log_notice!("Could not create server TCP listening socket {addr}: {e} (optional, skipped)");
                }
                Err(e) => {
                    log_warning!(
                        "Warning: Could not create server TCP listening socket {addr}: bind: {e}"
                    );
                    log_warning!("Failed listening on port {port} (tcp), aborting.");
                    return 1;
                }
            }
        }
        if bound == 0 {
            log_warning!("Failed listening on port {port} (tcp), aborting.");
            return 1;
        }
    }
    write_pidfile(&pidfile);
    log_notice!("Server initialized");
    log_notice!("Ready to accept connections tcp");

    tokio::task::spawn_local(crate::evict::eviction_task(srv.clone()));
    let cron_srv = srv.clone();
    tokio::task::spawn_local(async move {
        loop {
            let hz = cron_srv.borrow().hz.max(1);
            tokio::time::sleep(Duration::from_millis(1000 / hz as u64)).await;
            cron_srv.borrow_mut().cron();
        }
    });

    let why = wait_for_shutdown(srv.clone()).await;
    log_warning!("{why}");
    log_warning!("User requested shutdown...");
    log_notice!("Redoubt is now ready to exit, bye bye...");
    0
}

/// Waits for SIGTERM, SIGINT or a `SHUTDOWN` command.
async fn wait_for_shutdown(srv: Rc<RefCell<Server>>) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return "Could not install signal handlers";
    };
    let shutdown = srv.borrow().shutdown_notify.clone();
    tokio::select! {
        _ = term.recv() => "Received SIGTERM scheduling shutdown...",
        _ = int.recv() => "Received SIGINT scheduling shutdown...",
        _ = shutdown.notified() => "Shutdown requested by client",
    }
}
