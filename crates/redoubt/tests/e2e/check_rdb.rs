//! `redoubt check-rdb` as an operator runs it: files saved by Redoubt and
//! by real Redis pass with a summary; a truncated file or a flipped byte
//! fails with a non-zero exit naming the offset.

use crate::harness::{redoubt_bin, temp_dir, Flavor, ServerHandle};
use std::path::{Path, PathBuf};
use std::process::Command;

fn check(path: &Path) -> (i32, String) {
    let out = Command::new(redoubt_bin())
        .arg("check-rdb")
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// Saves a small dataset on a server of `flavor` and returns its file.
fn saved_file(flavor: Flavor) -> (ServerHandle, PathBuf) {
    let s = ServerHandle::start(flavor, &[]);
    let mut c = s.client();
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("x".repeat(500))
        .arg("PXAT")
        .arg("4102444800000")
        .query(&mut c)
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: i64 = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SELECT").arg(2).query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("in2").arg("1").query(&mut c).unwrap();
    let _: () = redis::cmd("SAVE").query(&mut c).unwrap();
    let path = s.dir.join("dump.rdb");
    (s, path)
}

fn good_file_passes(flavor: Flavor) {
    let (_s, path) = saved_file(flavor);
    let (code, text) = check(&path);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("RDB looks OK!"), "{text}");
    assert!(text.contains("AUX FIELD redis-ver = '7.0.15'"), "{text}");
    assert!(text.contains("[info] 5 keys read"), "{text}");
    assert!(text.contains("[info] 1 expires"), "{text}");
    assert!(
        text.contains("[info] db0: 4 keys (hash=1, list=1, string=2)"),
        "{text}"
    );
    assert!(text.contains("[info] db2: 1 keys (string=1)"), "{text}");
}

#[test]
fn check_rdb_accepts_a_file_saved_by_redoubt() {
    good_file_passes(Flavor::Redoubt);
}

#[test]
fn check_rdb_accepts_a_file_saved_by_redis() {
    good_file_passes(Flavor::Redis);
}

#[test]
fn check_rdb_refuses_truncated_and_flipped_files_naming_the_offset() {
    let (_s, path) = saved_file(Flavor::Redis);
    let good = std::fs::read(&path).unwrap();
    let dir = temp_dir("check-rdb");
    let cut = dir.join("cut.rdb");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let (code, text) = check(&cut);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("--- RDB ERROR DETECTED ---"), "{text}");
    assert!(text.contains("unexpected end of file"), "{text}");
    assert!(
        text.contains(&format!("[offset {}]", good.len() / 2)),
        "{text}"
    );
    // Every single flipped byte is caught: by the parser or the checksum.
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0x04;
        let f = dir.join("flip.rdb");
        std::fs::write(&f, &bad).unwrap();
        let (code, text) = check(&f);
        assert_eq!(code, 1, "byte {i}: {text}");
        assert!(
            text.contains("--- RDB ERROR DETECTED ---\n[offset "),
            "{text}"
        );
    }
    let missing = check(&dir.join("nope.rdb"));
    assert_eq!(missing.0, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
