//! Scripting as applications and operators meet it: redis-py's `Lock`
//! (its release and extend are scripts), script effects replicated to and
//! from real Redis replicas, function libraries travelling in RDB files
//! both ways, and a runaway script answered with `-BUSY` until `SCRIPT
//! KILL` (or `SHUTDOWN NOSAVE`) stops it — each on Redoubt and, where it
//! is a comparison, on real Redis side by side.

use crate::harness::{
    blocked_clients, dataset, on_both, output_text, q, start_replica, text, wait_blocked, wait_for,
    Flavor, Raw, ServerHandle,
};
use std::time::Duration;

/// A library that writes, reads and reports, loaded on the master.
const LIBRARY: &str = "#!lua name=shop\n\
    redis.register_function('buy', function(keys, args)\n\
      redis.call('HINCRBY', keys[1], args[1], 1)\n\
      return redis.call('INCRBY', keys[2], args[2])\n\
    end)\n\
    redis.register_function{function_name='stock', flags={'no-writes'},\n\
      callback=function(keys) return redis.call('HGETALL', keys[1]) end}";

/// Writes through scripts of every kind: several effects in one script,
/// a script that fails half-way (its first write stays), effects a
/// script keeps from the replicas (`redis.set_repl`), EVALSHA, functions.
fn script_writes(c: &mut redis::Connection) {
    q(c, &["EVAL", "redis.call('SET', KEYS[1], ARGV[1]); redis.call('EXPIRE', KEYS[1], 1000); return redis.call('INCR', KEYS[2])", "2", "s1", "n1", "v1"]);
    let sha = text(q(
        c,
        &[
            "SCRIPT",
            "LOAD",
            "return redis.call('RPUSH', KEYS[1], unpack(ARGV))",
        ],
    ));
    q(c, &["EVALSHA", &sha, "1", "l1", "a", "b", "c"]);
    let failed: redis::RedisResult<redis::Value> = redis::cmd("EVAL")
        .arg("redis.call('INCR', 'half'); redis.call('NOSUCH')")
        .arg(0)
        .query(c);
    assert!(failed.is_err());
    q(
        c,
        &[
            "EVAL",
            "redis.call('SELECT', 3); redis.call('SET', 'in3', 'x'); return 1",
            "0",
        ],
    );
    q(
        c,
        &[
            "EVAL",
            "local t = redis.call('TIME'); redis.call('SET', 'now', t[1]); return 1",
            "0",
        ],
    );
    q(
        c,
        &[
            "EVAL",
            "redis.call('SADD', 'set1', 'a', 'b', 'c'); return redis.call('SPOP', 'set1')",
            "0",
        ],
    );
    q(c, &["FCALL", "buy", "2", "orders", "total", "apple", "5"]);
    q(c, &["FCALL", "buy", "2", "orders", "total", "pear", "7"]);
}

fn wait_same_dataset(master: &mut redis::Connection, replica: &mut redis::Connection) {
    let want = dataset(master);
    wait_for(
        "the replica's dataset to equal the master's",
        Duration::from_secs(10),
        || dataset(replica) == want,
    );
}

/// A Redoubt master replicates what scripts did — never the scripts — to
/// a real Redis replica, which applies it as its own (effects replication,
/// MULTI/EXEC-wrapped); libraries travel with the full sync and with
/// FUNCTION LOAD.
#[test]
fn script_effects_replicate_from_redoubt_to_a_real_redis_replica() {
    script_effects_replicate(Flavor::Redoubt, Flavor::Redis);
}

/// The reverse: a Redoubt replica applies a real Redis master's scripts'
/// effects and libraries.
#[test]
fn script_effects_replicate_from_real_redis_to_a_redoubt_replica() {
    script_effects_replicate(Flavor::Redis, Flavor::Redoubt);
}

fn script_effects_replicate(master_flavor: Flavor, replica_flavor: Flavor) {
    let master = ServerHandle::start(master_flavor, &[]);
    let mut m = master.client();
    // Loaded before the replica attaches: it comes with the full sync.
    q(&mut m, &["FUNCTION", "LOAD", LIBRARY]);
    let replica = start_replica(replica_flavor, &master, &[]);
    let mut r = replica.client();
    script_writes(&mut m);
    // A library loaded afterwards is propagated.
    q(&mut m, &["FUNCTION", "LOAD", "#!lua name=late\nredis.register_function('late', function() return redis.call('SET', 'late', 'yes') end)"]);
    q(&mut m, &["FCALL", "late", "0"]);
    // Effects kept from the replicas stay on the master.
    q(&mut m, &["EVAL", "redis.set_repl(redis.REPL_NONE); redis.call('SET', 'unreplicated', 1); redis.set_repl(redis.REPL_ALL); redis.call('SET', 'replicated', 1)", "0"]);
    q(&mut m, &["SET", "fence", "1"]);
    wait_for(
        "the fence to reach the replica",
        Duration::from_secs(10),
        || text(q(&mut r, &["GET", "fence"])) == "1",
    );
    assert_eq!(text(q(&mut r, &["GET", "unreplicated"])), "(nil)");
    q(&mut m, &["DEL", "unreplicated"]);
    wait_same_dataset(&mut m, &mut r);
    assert_eq!(text(q(&mut r, &["HGET", "orders", "apple"])), "1");
    assert_eq!(text(q(&mut r, &["GET", "total"])), "12");
    // The replica has the libraries and runs their read-only functions.
    assert_eq!(
        text(q(&mut r, &["FCALL_RO", "stock", "1", "orders"])),
        text(q(&mut m, &["FCALL_RO", "stock", "1", "orders"]))
    );
    let libs = text(q(&mut r, &["FUNCTION", "LIST"]));
    assert!(libs.contains("shop") && libs.contains("late"), "{libs}");
    // The script cache is not replicated: EVALSHA of a script loaded on
    // the master is unknown on the replica, as in Redis 7.0.
    let sha = text(q(&mut m, &["SCRIPT", "LOAD", "return 1"]));
    let r2 = replica.raw().cmd_str(&["EVALSHA", &sha, "0"]);
    assert!(r2.starts_with("-NOSCRIPT"), "{r2}");
    // FUNCTION DELETE and FLUSH are propagated too.
    q(&mut m, &["FUNCTION", "DELETE", "late"]);
    q(&mut m, &["SET", "fence", "2"]);
    wait_for(
        "FUNCTION DELETE to reach the replica",
        Duration::from_secs(10),
        || !text(q(&mut r, &["FUNCTION", "LIST"])).contains("late"),
    );
    q(&mut m, &["FUNCTION", "FLUSH"]);
    wait_for(
        "FUNCTION FLUSH to reach the replica",
        Duration::from_secs(10),
        || text(q(&mut r, &["FUNCTION", "LIST"])) == "[]",
    );
}

/// Libraries are saved in the RDB file (a FUNCTION2 record) that
/// redis-check-rdb accepts and real Redis loads, and a real Redis RDB
/// with libraries loads into Redoubt.
#[test]
fn function_libraries_travel_in_rdb_files_both_ways() {
    // Redoubt → real Redis.
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut c = s.client();
    q(&mut c, &["FUNCTION", "LOAD", LIBRARY]);
    q(
        &mut c,
        &["FCALL", "buy", "2", "orders", "total", "fig", "3"],
    );
    assert_eq!(q(&mut c, &["SAVE"]), redis::Value::Okay);
    let path = s.dir.join("dump.rdb");
    let out = std::process::Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("redis-check-rdb");
    assert!(
        out.status.success() && output_text(&out).contains("RDB looks OK!"),
        "{}",
        output_text(&out)
    );
    let d = s.dir.display().to_string();
    let r = ServerHandle::start(Flavor::Redis, &[("dir", &d)]);
    let mut rc = r.client();
    assert_eq!(
        text(q(
            &mut rc,
            &["FCALL", "buy", "2", "orders", "total", "fig", "1"]
        )),
        "4"
    );
    // The same library (each side's DUMP may compress differently, and
    // Redis lists a library's functions in hash order).
    let listed = text(q(&mut rc, &["FUNCTION", "LIST", "WITHCODE"]));
    assert!(listed.contains(LIBRARY), "{listed}");
    assert!(
        listed.contains("[name,buy,description,(nil),flags,[]]")
            && listed.contains("[name,stock,description,(nil),flags,[no-writes]]"),
        "{listed}"
    );

    // Real Redis → Redoubt.
    let r2 = ServerHandle::start(Flavor::Redis, &[]);
    let mut rc2 = r2.client();
    q(&mut rc2, &["FUNCTION", "LOAD", "#!lua name=fromredis\nredis.register_function('hello', function(k, a) return 'hello ' .. a[1] end)"]);
    q(&mut rc2, &["SET", "k", "v"]);
    assert_eq!(q(&mut rc2, &["SAVE"]), redis::Value::Okay);
    let d2 = r2.dir.display().to_string();
    let s2 = ServerHandle::start(Flavor::Redoubt, &[("dir", &d2)]);
    let mut c2 = s2.client();
    assert_eq!(
        text(q(&mut c2, &["FCALL", "hello", "0", "world"])),
        "hello world"
    );
    assert_eq!(text(q(&mut c2, &["GET", "k"])), "v");
    assert_eq!(
        text(q(&mut c2, &["FUNCTION", "LIST", "WITHCODE"])),
        text(q(&mut rc2, &["FUNCTION", "LIST", "WITHCODE"]))
    );
    // And the DUMP payloads restore across: Redis's into Redoubt, ours
    // into Redis.
    let theirs = q(&mut rc2, &["FUNCTION", "DUMP"]);
    let ours = q(&mut c2, &["FUNCTION", "DUMP"]);
    let restore = |c: &mut redis::Connection, payload: &redis::Value| -> String {
        let redis::Value::BulkString(p) = payload else {
            panic!("no payload: {payload:?}");
        };
        text(
            redis::cmd("FUNCTION")
                .arg("RESTORE")
                .arg(p.as_slice())
                .arg("REPLACE")
                .query::<redis::Value>(c)
                .expect("FUNCTION RESTORE"),
        )
    };
    assert_eq!(restore(&mut c2, &theirs), "OK");
    assert_eq!(restore(&mut rc2, &ours), "OK");
}

/// redis-py's `Lock`: acquire (SET NX PX), a second owner refused,
/// extend and reacquire (scripts checking the token), release (a script
/// deleting only its own token), and release by a stranger refused.
#[test]
fn redis_py_lock_acquires_extends_reacquires_and_releases() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let script = format!(
        "import redis, time\n\
         from redis.exceptions import LockNotOwnedError, LockError\n\
         r = redis.Redis(port={port})\n\
         a = r.lock('resource', timeout=5)\n\
         b = r.lock('resource', timeout=5, blocking=False)\n\
         assert a.acquire(blocking=False)\n\
         assert not b.acquire()\n\
         assert a.owned() and not b.owned()\n\
         ttl = r.pttl('resource')\n\
         assert 0 < ttl <= 5000, ttl\n\
         assert a.extend(10)\n\
         assert 10000 < r.pttl('resource') <= 15000, r.pttl('resource')\n\
         assert a.reacquire()\n\
         assert 0 < r.pttl('resource') <= 5000, r.pttl('resource')\n\
         try:\n\
         \x20   b.release()\n\
         \x20   raise SystemExit('a stranger released the lock')\n\
         except LockError:\n\
         \x20   pass\n\
         try:\n\
         \x20   b.extend(5)\n\
         \x20   raise SystemExit('a stranger extended the lock')\n\
         except LockError:\n\
         \x20   pass\n\
         a.release()\n\
         assert r.get('resource') is None\n\
         assert b.acquire()\n\
         with r.lock('other', timeout=1):\n\
         \x20   assert r.exists('other')\n\
         assert not r.exists('other')\n\
         print('ok')\n",
        port = s.port
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success() && output_text(&out).trim() == "ok",
        "redis-py: {}",
        output_text(&out)
    );
}

/// Starts `script` on a connection of its own without reading the reply,
/// and waits until the server answers others with -BUSY.
fn start_busy(s: &ServerHandle, script: &str) -> Raw {
    let mut admin = s.raw();
    admin.cmd_str(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
    let mut busy = s.raw();
    busy.send_cmd(&[b"EVAL", script.as_bytes(), b"0"]);
    wait_for(
        "the script to be reported busy",
        Duration::from_secs(10),
        || {
            // A new connection each time: a busy server accepts them too.
            s.raw().cmd_str(&["PING"]).starts_with("-BUSY")
        },
    );
    busy
}

/// A runaway read-only script: other clients (existing and new
/// connections) get -BUSY, SCRIPT KILL stops it, its caller gets the
/// error, and the server serves everyone again.
fn busy_script_is_killed_by_script_kill(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut existing = s.raw();
    existing.cmd_str(&["PING"]);
    let mut busy = start_busy(&s, "local i = 0 while true do i = i + 1 end");
    let r = existing.cmd_str(&["GET", "x"]);
    assert!(
        r.starts_with("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
        "{r}"
    );
    assert!(s.raw().cmd_str(&["FUNCTION", "KILL"]).starts_with("-BUSY"));
    assert_eq!(s.raw().cmd_str(&["SCRIPT", "KILL"]), "+OK\r\n");
    let killed = String::from_utf8_lossy(&busy.read_reply().unwrap_or_default()).into_owned();
    assert!(
        killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."),
        "{killed}"
    );
    assert_eq!(existing.cmd_str(&["PING"]), "+PONG\r\n");
    assert_eq!(
        s.raw().cmd_str(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
}

/// A runaway script that wrote cannot be killed (its writes would be
/// half applied); SHUTDOWN NOSAVE stops the server anyway.
fn busy_script_that_wrote_is_unkillable_until_shutdown_nosave(flavor: Flavor) {
    let mut s = ServerHandle::start(flavor, &[]);
    let _busy = start_busy(&s, "redis.call('SET', 'x', 1) while true do end");
    let r = s.raw().cmd_str(&["SCRIPT", "KILL"]);
    assert!(
        r.starts_with("-UNKILLABLE Sorry the script already executed write commands"),
        "{r}"
    );
    assert!(s.raw().cmd_str(&["SHUTDOWN"]).starts_with("-BUSY"));
    let mut c = s.raw();
    c.send_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.is_closed(), "SHUTDOWN NOSAVE closes the connection");
    let status = s.terminate(Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
}

/// The AOF records what scripts did (wrapped in MULTI/EXEC when several
/// effects), never the script, and a restart loads it back; libraries are
/// in it as FUNCTION LOAD.
fn script_effects_reach_the_aof_and_survive_a_restart(flavor: Flavor) {
    let mut s = ServerHandle::start(flavor, &[("appendonly", "yes"), ("appendfsync", "always")]);
    let mut c = s.client();
    q(&mut c, &["FUNCTION", "LOAD", LIBRARY]);
    script_writes(&mut c);
    let before = dataset(&mut c);
    let dir = s.dir.join("appendonlydir");
    let aof: String = std::fs::read_dir(&dir)
        .expect("appendonlydir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned())
        .collect();
    assert!(aof.contains("MULTI") && aof.contains("EXEC"), "{aof}");
    assert!(aof.contains("FUNCTION") && !aof.contains("FCALL"), "{aof}");
    assert!(!aof.to_ascii_uppercase().contains("EVAL"), "{aof}");
    drop(c);
    s.kill();
    s.restart();
    let mut c = s.client();
    assert_eq!(dataset(&mut c), before);
    assert_eq!(
        text(q(
            &mut c,
            &["FCALL", "buy", "2", "orders", "total", "kiwi", "1"]
        )),
        "13"
    );
}

/// `CLIENT PAUSE WRITE` holds back scripts that may write, and lets
/// those that declared `no-writes` run (EVAL with a shebang, FCALL of a
/// no-writes function); a request with the wrong arity is refused at once
/// rather than held.
fn no_writes_scripts_run_during_a_write_pause(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let lib = "#!lua name=ro\nredis.register_function{function_name='peek', flags={'no-writes'}, callback=function(keys) return redis.call('GET', keys[1]) end}";
    assert_eq!(admin.cmd_str(&["FUNCTION", "LOAD", lib]), "$2\r\nro\r\n");
    admin.cmd_str(&["SET", "k", "v"]);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "PAUSE", "20000", "WRITE"]),
        "+OK\r\n"
    );
    let mut c = s.raw();
    let ro = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])";
    assert_eq!(c.cmd_str(&["EVAL", ro, "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.cmd_str(&["EVAL", ro, "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(c.cmd_str(&["FCALL", "peek", "1", "k"]), "$1\r\nv\r\n");
    assert_eq!(
        c.cmd_str(&["SET", "k"]),
        "-ERR wrong number of arguments for 'set' command\r\n"
    );
    assert_eq!(blocked_clients(&mut admin), 0);
    // Without flags a script may write: it waits for the pause.
    c.send_cmd(&[
        b"EVAL",
        b"return redis.call('SET', KEYS[1], 'w')",
        b"1",
        b"k",
    ]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd_str(&["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(admin.cmd_str(&["CLIENT", "UNPAUSE"]), "+OK\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.read_reply().unwrap_or_default()),
        "+OK\r\n"
    );
}

/// Client-side caching and scripts: a script that runs a read-only
/// command makes its caller track the keys it declared; one that only
/// writes or pings (EVAL_RO included) tracks nothing.
fn tracking_follows_what_a_script_reads(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut t = s.raw();
    t.cmd_str(&["HELLO", "3"]);
    assert_eq!(t.cmd_str(&["CLIENT", "TRACKING", "ON"]), "+OK\r\n");
    let mut w = s.raw();
    let quiet = |t: &mut Raw| assert_eq!(t.cmd_str(&["PING"]), "+PONG\r\n");
    t.cmd_str(&["EVAL", "redis.call('SET', 'other', 'x')", "2", "k1", "k2"]);
    w.cmd_str(&["MSET", "k1", "1", "k2", "1"]);
    quiet(&mut t);
    t.cmd_str(&["EVAL_RO", "redis.call('PING')", "2", "k1", "k2"]);
    w.cmd_str(&["MSET", "k1", "2", "k2", "2"]);
    quiet(&mut t);
    t.cmd_str(&[
        "EVAL_RO",
        "return redis.call('GET', 'other')",
        "2",
        "k1",
        "k2",
    ]);
    w.cmd_str(&["MSET", "k2", "3", "k1", "3"]);
    assert_eq!(
        t.cmd_str(&["PING"]),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk2\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&t.read_reply().unwrap_or_default()),
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk1\r\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&t.read_reply().unwrap_or_default()),
        "+PONG\r\n"
    );
    // The key a script read but did not declare is not tracked.
    w.cmd_str(&["SET", "other", "y"]);
    quiet(&mut t);
}

/// `redis-cli --functions-rdb` gets a snapshot holding the function
/// libraries and no keys; `--rdb` gets both. Each file loads in a server
/// of the same kind.
fn redis_cli_functions_rdb_holds_only_the_libraries(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut c = s.client();
    q(&mut c, &["FUNCTION", "LOAD", LIBRARY]);
    q(&mut c, &["DEBUG", "POPULATE", "100"]);
    for (option, keys) in [("--functions-rdb", 0), ("--rdb", 100)] {
        let file = s.dir.join(format!("cli{}.rdb", option.len()));
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &s.port.to_string(), option])
            .arg(&file)
            .output()
            .expect("redis-cli");
        let report = output_text(&out);
        assert!(
            report.contains("Transfer finished with success"),
            "{report}"
        );
        let dir = s.dir.display().to_string();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let loaded = ServerHandle::start(flavor, &[("dir", &dir), ("dbfilename", &name)]);
        let mut l = loaded.client();
        assert_eq!(text(q(&mut l, &["DBSIZE"])), keys.to_string(), "{option}");
        let libs = text(q(&mut l, &["FUNCTION", "LIST"]));
        assert!(libs.contains("shop"), "{option}: {libs}");
    }
    // The server goes on as it was: the transfers were no replicas.
    assert_eq!(text(q(&mut c, &["DBSIZE"])), "100");
    let mut raw = s.raw();
    wait_for("no replica left", Duration::from_secs(5), || {
        crate::harness::info_field(&mut raw, "replication", "connected_slaves") == "0"
    });
}

on_both!(
    no_writes_scripts_run_during_a_write_pause,
    tracking_follows_what_a_script_reads,
    redis_cli_functions_rdb_holds_only_the_libraries,
    busy_script_is_killed_by_script_kill,
    busy_script_that_wrote_is_unkillable_until_shutdown_nosave,
    script_effects_reach_the_aof_and_survive_a_restart,
);
