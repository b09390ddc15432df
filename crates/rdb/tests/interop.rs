//! Interoperability with real Redis 7.0: our reader understands every
//! encoding a real `redis-server` writes, and a file from our writer passes
//! `redis-check-rdb` and loads into a real `redis-server` with the same data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rdb::{Item, RdbValue, Reader, Writer};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Redis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port(seed: u16) -> u16 {
    (0..2000u16)
        .map(|i| 36000 + (std::process::id() as u16 % 100) * 20 + seed + i * 7 % 2000)
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("free port")
}

fn start_redis(dir: &Path, seed: u16) -> Redis {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port(seed);
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
        ])
        .arg(dir)
        .args(["--dbfilename", "dump.rdb", "--logfile", "redis.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server installed");
    let r = Redis {
        child,
        port,
        dir: dir.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) {
            if let Ok(mut conn) = c.get_connection() {
                if redis::cmd("PING").query::<String>(&mut conn).is_ok() {
                    return r;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server did not start");
}

fn conn(r: &Redis) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{}/", r.port))
        .unwrap()
        .get_connection()
        .unwrap()
}

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("redoubt-rdb-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read_file(path: &Path) -> Vec<Item> {
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut r = Reader::new(f).unwrap();
    let mut v = Vec::new();
    while let Some(i) = r.next_item().unwrap() {
        v.push(i);
    }
    v
}

fn entries(items: &[Item]) -> BTreeMap<Vec<u8>, (RdbValue, Option<i64>)> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Entry {
                key,
                value,
                expire_ms,
                ..
            } => Some((key.clone(), (value.clone(), *expire_ms))),
            _ => None,
        })
        .collect()
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[test]
fn reads_every_encoding_real_redis_writes() {
    let dir = tmp("read");
    let r = start_redis(&dir, 0);
    let mut c = conn(&r);
    let q = |c: &mut redis::Connection, args: &[&str]| {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<redis::Value>(c).unwrap();
    };
    q(&mut c, &["SET", "int", "12345"]);
    q(&mut c, &["SET", "neg", "-7"]);
    q(&mut c, &["SET", "big", &"x".repeat(5000)]);
    q(&mut c, &["SET", "ttl", "v", "PXAT", "4102444800000"]);
    q(&mut c, &["RPUSH", "list", "a", "1", "-200", "70000", "b"]);
    let many: Vec<String> = (0..1000).map(|i| format!("element-{i}")).collect();
    let mut args = vec!["RPUSH", "biglist"];
    args.extend(many.iter().map(|s| s.as_str()));
    q(&mut c, &args);
    q(
        &mut c,
        &["SADD", "intset", "1", "-5", "100000", "5000000000"],
    );
    q(&mut c, &["SADD", "strset", "a", "b", "c"]);
    q(&mut c, &["HSET", "smallhash", "f1", "v1", "f2", "2"]);
    let big = "v".repeat(100);
    q(&mut c, &["HSET", "bighash", "f", &big, "g", "1"]);
    q(&mut c, &["ZADD", "smallz", "1.5", "a", "-2", "b", "3", "c"]);
    q(&mut c, &["ZADD", "bigz", "1", &big, "2.25", "x"]);
    q(&mut c, &["SAVE"]);

    let items = read_file(&dir.join("dump.rdb"));
    assert!(items
        .iter()
        .any(|i| matches!(i, Item::Aux { key, .. } if key == b"redis-ver")));
    let e = entries(&items);
    let s = |k: &str| e[k.as_bytes()].0.clone();
    assert_eq!(s("int"), RdbValue::String(b"12345".to_vec()));
    assert_eq!(s("neg"), RdbValue::String(b"-7".to_vec()));
    assert_eq!(s("big"), RdbValue::String("x".repeat(5000).into_bytes()));
    assert_eq!(e[&b"ttl"[..]].1, Some(4102444800000));
    assert_eq!(
        s("list"),
        RdbValue::List(
            ["a", "1", "-200", "70000", "b"]
                .iter()
                .map(|x| x.as_bytes().to_vec())
                .collect()
        )
    );
    assert_eq!(
        s("biglist"),
        RdbValue::List(many.iter().map(|x| x.as_bytes().to_vec()).collect())
    );
    match s("intset") {
        RdbValue::Set(v) => assert_eq!(
            v,
            ["-5", "1", "100000", "5000000000"]
                .iter()
                .map(|x| x.as_bytes().to_vec())
                .collect::<Vec<_>>()
        ),
        other => panic!("{other:?}"),
    }
    match s("strset") {
        RdbValue::Set(v) => assert_eq!(
            sorted(&v),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s("smallhash"),
        RdbValue::Hash(vec![
            (b"f1".to_vec(), b"v1".to_vec()),
            (b"f2".to_vec(), b"2".to_vec())
        ])
    );
    match s("bighash") {
        RdbValue::Hash(v) => assert_eq!(
            sorted(&v),
            vec![
                (b"f".to_vec(), big.clone().into_bytes()),
                (b"g".to_vec(), b"1".to_vec())
            ]
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s("smallz"),
        RdbValue::ZSet(vec![
            (b"b".to_vec(), -2.0),
            (b"a".to_vec(), 1.5),
            (b"c".to_vec(), 3.0)
        ])
    );
    match s("bigz") {
        RdbValue::ZSet(mut v) => {
            v.sort_by(|a, b| a.1.total_cmp(&b.1));
            assert_eq!(
                v,
                vec![(big.clone().into_bytes(), 1.0), (b"x".to_vec(), 2.25)]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn our_file_passes_redis_check_rdb_and_loads_into_redis() {
    let dir = tmp("write");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.rdb");
    let items: Vec<Vec<u8>> = (0..2000)
        .map(|i| format!("item-{i}").into_bytes())
        .collect();
    {
        let f = std::fs::File::create(&path).unwrap();
        let mut w = Writer::new(std::io::BufWriter::new(f), true, true).unwrap();
        w.aux(b"redis-ver", b"7.0.15").unwrap();
        w.aux(b"redis-bits", b"64").unwrap();
        w.select_db(0).unwrap();
        w.resize_db(6, 1).unwrap();
        w.put_string(b"s", b"hello", None).unwrap();
        w.put_string(b"n", b"42", Some(4102444800000)).unwrap();
        w.put_string(b"long", "abc".repeat(1000).as_bytes(), None)
            .unwrap();
        w.put_list(b"l", items.iter().map(|v| v.as_slice()), None)
            .unwrap();
        w.put_set(b"set", 3, [&b"x"[..], b"y", b"7"], None).unwrap();
        w.put_hash(b"h", 2, [(&b"f"[..], &b"1"[..]), (b"g", b"two")], None)
            .unwrap();
        w.put_zset(b"z", 2, [(&b"a"[..], 1.0), (b"b", -0.5)], None)
            .unwrap();
        w.select_db(3).unwrap();
        w.put_string(b"in3", b"v", None).unwrap();
        w.finish().unwrap();
    }
    let out = Command::new("redis-check-rdb")
        .arg(&path)
        .output()
        .expect("redis-check-rdb installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK!"),
        "{text}"
    );

    let r = start_redis(&dir, 100);
    let mut c = conn(&r);
    let get = |c: &mut redis::Connection, args: &[&str]| -> redis::Value {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(c).unwrap()
    };
    assert_eq!(
        get(&mut c, &["GET", "s"]),
        redis::Value::BulkString(b"hello".to_vec())
    );
    assert_eq!(
        get(&mut c, &["PEXPIRETIME", "n"]),
        redis::Value::Int(4102444800000)
    );
    assert_eq!(get(&mut c, &["STRLEN", "long"]), redis::Value::Int(3000));
    assert_eq!(get(&mut c, &["LLEN", "l"]), redis::Value::Int(2000));
    assert_eq!(
        get(&mut c, &["LINDEX", "l", "1999"]),
        redis::Value::BulkString(b"item-1999".to_vec())
    );
    assert_eq!(get(&mut c, &["SCARD", "set"]), redis::Value::Int(3));
    assert_eq!(
        get(&mut c, &["HGET", "h", "g"]),
        redis::Value::BulkString(b"two".to_vec())
    );
    assert_eq!(
        get(&mut c, &["ZSCORE", "z", "b"]),
        redis::Value::BulkString(b"-0.5".to_vec())
    );
    get(&mut c, &["SELECT", "3"]);
    assert_eq!(
        get(&mut c, &["GET", "in3"]),
        redis::Value::BulkString(b"v".to_vec())
    );
}
