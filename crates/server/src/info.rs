//! `INFO [section ...]`: the server's state as `field:value` lines grouped
//! in `# Section` blocks, with Redis 7.0's sections, field names and order
//! (clients and monitoring tools parse it by name, some by position).
//!
//! Values that describe machinery Redoubt does not have (Lua, fork,
//! jemalloc, active defrag) are reported as the idle values Redis shows
//! when that machinery is not in use. Our own additions go at the end of a
//! section (`redoubt_version` in `# Server`), never between Redis's fields.
//!
//! Intentionally absent fields: none — every field Redis 7.0.15 prints is
//! here, in its place. Values that are ours: `redis_build_id:0`,
//! `gcc_version:0.0.0` (not built by gcc), `mem_allocator:libc` with
//! `used_memory` counted by our allocator wrapper (`alloc.rs`). The
//! replication section comes from `replication::master::info`.

use crate::alloc;
use crate::client::Kind;
use crate::config::Directive;
use crate::latency::LatencyHistograms;
use crate::server::Server;
use std::fmt::Write;

/// Sections in `INFO` / `INFO default` order.
pub const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Every section in the order `INFO all` prints them (module-generated
/// sections, of which there are none, would follow for `everything`).
pub const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Renders the requested sections, each once, in canonical order.
pub fn render(srv: &mut Server, wanted: &[&str]) -> String {
    // Memory is measured before the text takes any: the reply being built
    // is not the server's memory use.
    let used = crate::evict::used_memory(srv);
    let mut out = String::with_capacity(4096);
    let mut first = true;
    for sec in ALL {
        if !wanted.contains(sec) {
            continue;
        }
        if !first {
            out.push_str("\r\n");
        }
        first = false;
        let mut body = String::new();
        let title = match *sec {
            "server" => {
                server(srv, &mut body);
                "Server"
            }
            "clients" => {
                clients(srv, &mut body);
                "Clients"
            }
            "memory" => {
                memory(srv, used, &mut body);
                "Memory"
            }
            "persistence" => {
                persistence(srv, &mut body);
                "Persistence"
            }
            "stats" => {
                stats(srv, &mut body);
                "Stats"
            }
            "replication" => {
                replication(srv, &mut body);
                "Replication"
            }
            "cpu" => {
                cpu(&mut body);
                "CPU"
            }
            "module_list" => "Modules",
            "commandstats" => {
                commandstats(srv, &mut body);
                "Commandstats"
            }
            "errorstats" => {
                for (code, n) in &srv.stats.errors {
                    let _ = write!(body, "errorstat_{code}:count={n}\r\n");
                }
                "Errorstats"
            }
            "latencystats" => {
                for cmd in &srv.commands.commands {
                    let Some(h) = srv.latency_hist.get(&LatencyHistograms::key(cmd.meta)) else {
                        continue;
                    };
                    let _ = write!(body, "latency_percentiles_usec_{}:", cmd.meta.name);
                    for (i, p) in srv.latency_percentiles.iter().enumerate() {
                        let sep = if i == 0 { "" } else { "," };
                        // The label as Redis prints it: `%f` with its
                        // trailing zeros (and a bare point) trimmed.
                        let label = format!("{p:.6}");
                        let label = label.trim_end_matches('0').trim_end_matches('.');
                        let usec = h.percentile(*p) as f64 / 1000.0;
                        let _ = write!(body, "{sep}p{label}={usec:.3}");
                    }
                    body.push_str("\r\n");
                }
                "Latencystats"
            }
            "cluster" => {
                body.push_str(crate::cluster::info_fields(srv));
                "Cluster"
            }
            "keyspace" => {
                keyspace(srv, &mut body);
                "Keyspace"
            }
            _ => continue,
        };
        if *sec == "server" {
            let _ = write!(body, "redoubt_version:{}\r\n", crate::REDOUBT_VERSION);
        }
        out.push_str("# ");
        out.push_str(title);
        out.push_str("\r\n");
        out.push_str(&body);
    }
    out
}

/// `uname -s -r -m`, as Redis prints in `os:`.
fn os_string() -> String {
    // SAFETY: utsname is plain old data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

fn server(srv: &Server, b: &mut String) {
    let uptime = (srv.now_ms - srv.start_time_ms).max(0) / 1000;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let config_file = srv
        .config
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = write!(
        b,
        "redis_version:{}\r\n\
         redis_git_sha1:00000000\r\n\
         redis_git_dirty:0\r\n\
         redis_build_id:0\r\n\
         redis_mode:{}\r\n\
         os:{}\r\n\
         arch_bits:64\r\n\
         monotonic_clock:POSIX clock_gettime\r\n\
         multiplexing_api:epoll\r\n\
         atomicvar_api:c11-builtin\r\n\
         gcc_version:0.0.0\r\n\
         process_id:{}\r\n\
         process_supervised:no\r\n\
         run_id:{}\r\n\
         tcp_port:{}\r\n\
         server_time_usec:{}\r\n\
         uptime_in_seconds:{}\r\n\
         uptime_in_days:{}\r\n\
         hz:{}\r\n\
         configured_hz:{}\r\n\
         lru_clock:{}\r\n\
         executable:{}\r\n\
         config_file:{}\r\n\
         io_threads_active:0\r\n",
        crate::REDIS_VERSION,
        srv.config
            .mode
            .map(|m| m.name)
            .unwrap_or(if srv.cluster.is_some() {
                "cluster"
            } else {
                "standalone"
            }),
        os_string(),
        std::process::id(),
        srv.run_id,
        srv.config.get_int(Directive::Port),
        srv.now_us,
        uptime,
        uptime / 86400,
        srv.hz,
        srv.config.get_int(Directive::Hz),
        srv.lru_clock,
        exe,
        config_file,
    );
    if let Some(ms) = crate::shutdown::remaining_ms(srv) {
        let _ = write!(b, "shutdown_in_milliseconds:{ms}\r\n");
    }
}

fn clients(srv: &Server, b: &mut String) {
    let mut normal = 0;
    for c in srv.clients.values() {
        if c.try_borrow().is_ok_and(|c| c.kind == Kind::Replica) {
            continue;
        }
        // The caller is borrowed already; it is a normal client too.
        normal += 1;
    }
    let (max_qbuf, max_obuf) = srv.client_peaks.recent(srv.now_ms);
    let _ = write!(
        b,
        "connected_clients:{normal}\r\n\
         cluster_connections:0\r\n\
         maxclients:{}\r\n\
         client_recent_max_input_buffer:{max_qbuf}\r\n\
         client_recent_max_output_buffer:{max_obuf}\r\n\
         blocked_clients:{}\r\n\
         tracking_clients:{}\r\n\
         clients_in_timeout_table:0\r\n",
        srv.maxclients, srv.blocking.blocked_clients, srv.tracking.clients
    );
}

/// Memory figures shared by `INFO memory` and `MEMORY STATS`.
pub struct MemFigures {
    pub used: u64,
    pub rss: u64,
    pub peak: u64,
    pub startup: u64,
    pub overhead: u64,
    pub dataset: u64,
    pub keys: u64,
}

pub fn mem_figures(srv: &mut Server) -> MemFigures {
    let used = crate::evict::used_memory(srv);
    mem_figures_at(srv, used)
}

/// The figures with `used_memory` sampled by the caller.
fn mem_figures_at(srv: &mut Server, used: u64) -> MemFigures {
    srv.mem_peak = srv.mem_peak.max(used);
    let keys: u64 = srv.dbs.iter().map(|d| d.len() as u64).sum();
    // Overhead: what the server holds besides the dataset — the start-up
    // footprint, the clients (as `client_memory` accounts them), the
    // replication buffers — estimated like Redis's `used_memory_overhead`
    // with a per-key dictionary part.
    let cm = &srv.clients_memory;
    let clients_mem = cm.by_class.iter().sum::<usize>() as u64;
    let dict_overhead = keys * 48;
    let overhead = (srv.mem_startup + clients_mem + dict_overhead).min(used);
    MemFigures {
        used,
        rss: alloc::rss() as u64,
        peak: srv.mem_peak,
        startup: srv.mem_startup,
        overhead,
        dataset: used - overhead,
        keys,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn memory(srv: &mut Server, used: u64, b: &mut String) {
    let m = mem_figures_at(srv, used);
    let h = alloc::bytes_to_human;
    let total = alloc::total_system_memory();
    let maxmemory = srv.config.get_int(Directive::Maxmemory).max(0) as u64;
    let policy = srv.config.get_str(Directive::MaxmemoryPolicy);
    let dataset_perc = ratio(m.dataset * 100, m.used.saturating_sub(m.startup));
    let frag = ratio(m.rss, m.used);
    let sc = &srv.scripting;
    let (vm_eval, vm_functions) = sc.vm_memory();
    let vm_total = vm_eval + vm_functions;
    let scripts_eval = sc.eval.scripts_mem;
    let cached = sc.eval.scripts.len();
    let nfunctions = sc.functions.functions.len();
    let nlibs = sc.functions.libraries.len();
    let mem_functions = sc.functions.memory();
    let mem_scripts = scripts_eval + mem_functions;
    let repl_mem = crate::replication::master::memory(srv);
    let _ = write!(
        b,
        "used_memory:{used}\r\n\
         used_memory_human:{}\r\n\
         used_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\n\
         used_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\n\
         used_memory_overhead:{}\r\n\
         used_memory_startup:{}\r\n\
         used_memory_dataset:{}\r\n\
         used_memory_dataset_perc:{:.2}%\r\n\
         allocator_allocated:{used}\r\n\
         allocator_active:{used}\r\n\
         allocator_resident:{rss}\r\n\
         total_system_memory:{total}\r\n\
         total_system_memory_human:{}\r\n\
         used_memory_lua:{vm_eval}\r\n\
         used_memory_vm_eval:{vm_eval}\r\n\
         used_memory_lua_human:{}\r\n\
         used_memory_scripts_eval:{scripts_eval}\r\n\
         number_of_cached_scripts:{cached}\r\n\
         number_of_functions:{nfunctions}\r\n\
         number_of_libraries:{nlibs}\r\n\
         used_memory_vm_functions:{vm_functions}\r\n\
         used_memory_vm_total:{vm_total}\r\n\
         used_memory_vm_total_human:{}\r\n\
         used_memory_functions:{mem_functions}\r\n\
         used_memory_scripts:{mem_scripts}\r\n\
         used_memory_scripts_human:{}\r\n\
         maxmemory:{maxmemory}\r\n\
         maxmemory_human:{}\r\n\
         maxmemory_policy:{policy}\r\n\
         allocator_frag_ratio:1.00\r\n\
         allocator_frag_bytes:0\r\n\
         allocator_rss_ratio:{frag:.2}\r\n\
         allocator_rss_bytes:{}\r\n\
         rss_overhead_ratio:1.00\r\n\
         rss_overhead_bytes:0\r\n\
         mem_fragmentation_ratio:{frag:.2}\r\n\
         mem_fragmentation_bytes:{}\r\n\
         mem_not_counted_for_evict:{not_counted}\r\n\
         mem_replication_backlog:{backlog}\r\n\
         mem_total_replication_buffers:{repl_buffers}\r\n\
         mem_clients_slaves:{replica_clients}\r\n\
         mem_clients_normal:{}\r\n\
         mem_cluster_links:{cluster_links}\r\n\
         mem_aof_buffer:{aof_buffer}\r\n\
         mem_allocator:libc\r\n\
         active_defrag_running:0\r\n\
         lazyfree_pending_objects:{lazy_pending}\r\n\
         lazyfreed_objects:{lazy_freed}\r\n",
        h(m.used),
        h(m.rss),
        h(m.peak),
        ratio(m.used * 100, m.peak),
        m.overhead,
        m.startup,
        m.dataset,
        dataset_perc,
        h(total),
        h(vm_eval as u64),
        h(vm_total as u64),
        h(mem_scripts as u64),
        h(maxmemory),
        m.rss as i64 - m.used as i64,
        m.rss as i64 - m.used as i64,
        srv.clients_memory.not_replicas(),
        used = m.used,
        rss = m.rss,
        peak = m.peak,
        not_counted = crate::evict::not_counted(srv),
        backlog = repl_mem.backlog,
        repl_buffers = repl_mem.buffer,
        replica_clients = repl_mem.replica_pending
            + srv.clients_memory.by_class[crate::client_memory::MemClass::Replica as usize],
        aof_buffer = srv.aof.feed.borrow().buf.capacity(),
        cluster_links = crate::cluster::links_memory(srv),
        lazy_pending = srv.lazyfree.pending(),
        lazy_freed = srv.lazyfree.freed(),
    );
}

fn persistence(srv: &Server, b: &mut String) {
    let p = &srv.persist;
    let now_secs = srv.now_ms / 1000;
    let loading = p.loading.is_some() as u8;
    let _ = write!(
        b,
        "loading:{loading}\r\nasync_loading:{}\r\n",
        srv.repl.async_loading as u8
    );
    // We never fork: the "cow" fields report what writes cost the running
    // save (bytes it took ahead of its walk because a write was about to
    // change them), the progress fields how far its walk got. A replica's
    // full sync is a snapshot too: Redis reports its child as a BGSAVE in
    // progress.
    let rewrite = srv
        .aof
        .rewrite
        .as_ref()
        .map(|r| (r.started_secs, r.progress));
    let (in_progress, current_secs) = match (&p.bgsave, &srv.repl.transfer) {
        (Some(r), _) => (1, now_secs - r.started_secs),
        (None, Some(t)) => (1, now_secs - t.started_secs),
        (None, None) => (0, -1),
    };
    let progress = p
        .bgsave
        .as_ref()
        .map(|r| r.progress)
        .or(rewrite.map(|r| r.1))
        .unwrap_or_default();
    let cow = progress.early_bytes;
    let _ = write!(
        b,
        "current_cow_peak:{cow}\r\n\
         current_cow_size:{cow}\r\n\
         current_cow_size_age:0\r\n\
         current_fork_perc:{:.2}\r\n\
         current_save_keys_processed:{}\r\n\
         current_save_keys_total:{}\r\n\
         rdb_changes_since_last_save:{}\r\n\
         rdb_bgsave_in_progress:{in_progress}\r\n\
         rdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\n\
         rdb_last_bgsave_time_sec:{}\r\n\
         rdb_current_bgsave_time_sec:{current_secs}\r\n\
         rdb_saves:{}\r\n\
         rdb_last_cow_size:{}\r\n\
         rdb_last_load_keys_expired:{}\r\n\
         rdb_last_load_keys_loaded:{}\r\n",
        progress.percent(),
        progress.processed,
        progress.total,
        srv.dirty,
        p.last_save_secs,
        if p.last_bgsave_ok { "ok" } else { "err" },
        p.last_bgsave_time_sec,
        p.saves,
        p.last_cow_size,
        p.load_keys_expired,
        p.load_keys_loaded,
    );
    crate::persistence::aof::info(srv, b);
    // Redis prints the loading progress last.
    if let Some(l) = &p.loading {
        let perc = if l.total_bytes > 0 {
            l.loaded_bytes as f64 * 100.0 / l.total_bytes as f64
        } else {
            0.0
        };
        let elapsed = l.started.elapsed().as_secs_f64();
        let eta = if l.loaded_bytes > 0 {
            ((l.total_bytes - l.loaded_bytes.min(l.total_bytes)) as f64 * elapsed
                / l.loaded_bytes as f64) as i64
        } else {
            1
        };
        let _ = write!(
            b,
            "loading_start_time:{}\r\n\
             loading_total_bytes:{}\r\n\
             loading_rdb_used_mem:0\r\n\
             loading_loaded_bytes:{}\r\n\
             loading_loaded_perc:{perc:.2}\r\n\
             loading_eta_seconds:{eta}\r\n",
            l.start_secs, l.total_bytes, l.loaded_bytes
        );
    }
}

fn stats(srv: &Server, b: &mut String) {
    let s = &srv.stats;
    let exceeded = crate::evict::exceeded_time_ms(srv);
    let im = &srv.inst_metrics;
    let tracking_totals = srv.tracking.totals();
    let _ = write!(
        b,
        "total_connections_received:{}\r\n\
         total_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{}\r\n\
         total_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\n\
         total_net_repl_input_bytes:{}\r\n\
         total_net_repl_output_bytes:{}\r\n\
         instantaneous_input_kbps:{:.2}\r\n\
         instantaneous_output_kbps:{:.2}\r\n\
         instantaneous_input_repl_kbps:{:.2}\r\n\
         instantaneous_output_repl_kbps:{:.2}\r\n\
         rejected_connections:{}\r\n\
         sync_full:{}\r\n\
         sync_partial_ok:{}\r\n\
         sync_partial_err:{}\r\n\
         expired_keys:{}\r\n\
         expired_stale_perc:{:.2}\r\n\
         expired_time_cap_reached_count:0\r\n\
         expire_cycle_cpu_milliseconds:{}\r\n\
         evicted_keys:{}\r\n\
         evicted_clients:{}\r\n\
         total_eviction_exceeded_time:{}\r\n\
         current_eviction_exceeded_time:{}\r\n\
         keyspace_hits:{}\r\n\
         keyspace_misses:{}\r\n\
         pubsub_channels:{}\r\n\
         pubsub_patterns:{}\r\n\
         pubsubshard_channels:{}\r\n\
         latest_fork_usec:{}\r\n\
         total_forks:{}\r\n\
         migrate_cached_sockets:{}\r\n\
         slave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\n\
         active_defrag_misses:0\r\n\
         active_defrag_key_hits:0\r\n\
         active_defrag_key_misses:0\r\n\
         total_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\n\
         tracking_total_keys:{}\r\n\
         tracking_total_items:{}\r\n\
         tracking_total_prefixes:{}\r\n\
         unexpected_error_replies:{}\r\n\
         total_error_replies:{}\r\n\
         dump_payload_sanitizations:0\r\n\
         total_reads_processed:{}\r\n\
         total_writes_processed:{}\r\n\
         io_threaded_reads_processed:0\r\n\
         io_threaded_writes_processed:0\r\n\
         reply_buffer_shrinks:{}\r\n\
         reply_buffer_expands:{}\r\n",
        s.total_connections_received,
        s.total_commands,
        im.mean(0).round() as u64,
        s.net_input_bytes,
        s.net_output_bytes,
        s.net_repl_input_bytes,
        s.net_repl_output_bytes,
        im.mean(1) / 1024.0,
        im.mean(2) / 1024.0,
        im.mean(3) / 1024.0,
        im.mean(4) / 1024.0,
        s.rejected_connections,
        s.sync_full,
        s.sync_partial_ok,
        s.sync_partial_err,
        s.expired_keys,
        s.expired_stale_perc * 100.0,
        s.expire_cycle_cpu_ms,
        s.evicted_keys,
        s.evicted_clients,
        exceeded.0,
        exceeded.1,
        s.keyspace_hits,
        s.keyspace_misses,
        srv.pubsub.len(crate::pubsub::Kind::Channel),
        srv.pubsub.len(crate::pubsub::Kind::Pattern),
        srv.pubsub.len(crate::pubsub::Kind::Shard),
        s.latest_fork_usec,
        s.total_forks,
        srv.migrate.cached_sockets(),
        tracking_totals.0,
        tracking_totals.1,
        tracking_totals.2,
        s.unexpected_error_replies,
        s.total_error_replies,
        s.total_reads_processed,
        s.total_writes_processed,
        s.reply_buffer_shrinks,
        s.reply_buffer_expands,
    );
}

fn replication(srv: &Server, b: &mut String) {
    crate::replication::master::info(srv, b);
}

/// CPU time of `who` in seconds (system, user).
fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut r) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(r.ru_stime), secs(r.ru_utime))
}

fn cpu(b: &mut String) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    // Commands run on the thread that answers INFO.
    let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
    let _ = write!(
        b,
        "used_cpu_sys:{sys:.6}\r\n\
         used_cpu_user:{user:.6}\r\n\
         used_cpu_sys_children:{csys:.6}\r\n\
         used_cpu_user_children:{cuser:.6}\r\n\
         used_cpu_sys_main_thread:{tsys:.6}\r\n\
         used_cpu_user_main_thread:{tuser:.6}\r\n"
    );
}

fn commandstats(srv: &Server, b: &mut String) {
    for (cmd, st) in srv.commands.commands.iter().zip(&srv.commands.stats) {
        if st.calls == 0 && st.rejected_calls == 0 && st.failed_calls == 0 {
            continue;
        }
        let per = if st.calls == 0 {
            0.0
        } else {
            st.usec as f64 / st.calls as f64
        };
        let _ = write!(
            b,
            "cmdstat_{}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
            cmd.meta.name, st.calls, st.usec, st.rejected_calls, st.failed_calls
        );
    }
}

fn keyspace(srv: &Server, b: &mut String) {
    for (i, db) in srv.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            b,
            "db{i}:keys={},expires={},avg_ttl={}\r\n",
            db.len(),
            db.volatile_len(),
            db.avg_ttl
        );
    }
}
