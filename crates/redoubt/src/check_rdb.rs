//! `redoubt check-rdb FILE`: validates an RDB file and prints what it
//! holds (the walk itself is `rdb::check`, which knows nothing of files
//! or processes). Exit code 0 for a sound file, 1 otherwise.

use std::io::Write;

pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        crate::cli::print_help(crate::cli::check_rdb());
        return 0;
    }
    let [path] = args else {
        eprintln!("Usage: redoubt check-rdb <rdb-file-name>");
        return 1;
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            println!("Cannot check RDB file {path}: {e}");
            return 1;
        }
    };
    let now_ms = server::util::time::unix_ms();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let input = std::io::BufReader::with_capacity(1 << 16, file);
    match rdb::check::check(input, path, now_ms, &mut out) {
        Ok((_, true)) => 0,
        Ok((_, false)) => 1,
        Err(e) => {
            let _ = writeln!(out, "Cannot write the report: {e}");
            1
        }
    }
}
