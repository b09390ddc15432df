//! `redoubt check-aof [--fix] PATH`: validates an append-only file, in the
//! shape of `redis-check-aof` 7.0. PATH is a manifest (every file it lists
//! is checked, the base first) or a single AOF file (old style, or one
//! file of a multi-part AOF). With `--fix`, a broken last file is cut back
//! to its last whole command after confirmation. Exit code 0 when
//! everything is valid (or was fixed), 1 otherwise.
//!
//! The command reader is the server's own (`aof::parser`), so the tool
//! and start-up loading judge a file the same way.

use server::persistence::aof::manifest::{FileType, Manifest};
use server::persistence::aof::parser::{has_rdb_preamble, CommandReader, Step};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

const USAGE: &str = "Usage: redoubt check-aof [--fix] <file.manifest|file.aof>";

/// The outcome of checking one file.
struct Checked {
    size: u64,
    ok_up_to: u64,
    line: u64,
    /// The problem, when there was one.
    error: Option<String>,
}

pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        crate::cli::print_help(crate::cli::check_aof());
        return 0;
    }
    let (fix, path) = match args {
        [p] if p != "--fix" => (false, p),
        [f, p] if f == "--fix" => (true, p),
        _ => {
            println!("{USAGE}");
            return 1;
        }
    };
    let path = PathBuf::from(path);
    if !path.exists() {
        println!(
            "Cannot open file {}: No such file or directory",
            path.display()
        );
        return 1;
    }
    if is_manifest(&path) {
        check_multi_part(&path, fix)
    } else {
        println!("Start checking Old-Style AOF");
        let name = path.display().to_string();
        match check_file(&path, &name) {
            Ok(c) => finish_file(&path, &name, c, fix, true, "AOF"),
            Err(e) => {
                println!("{e}");
                1
            }
        }
    }
}

/// Whether `path` is a manifest: named so, or its first line that is not
/// a comment (an AOF may start with a `#TS:` annotation too) says
/// `file ...`.
fn is_manifest(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "manifest") {
        return true;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = std::io::BufReader::new(f);
    for _ in 0..64 {
        let mut line = Vec::new();
        match std::io::Read::take(&mut r, 1024).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) if line.starts_with(b"#") => continue,
            Ok(_) => return line.starts_with(b"file "),
        }
    }
    false
}

fn check_multi_part(mpath: &Path, fix: bool) -> i32 {
    println!("Start checking Multi Part AOF");
    let text = match std::fs::read(mpath) {
        Ok(t) => t,
        Err(e) => {
            println!("Cannot read the AOF manifest {}: {e}", mpath.display());
            return 1;
        }
    };
    let m = match Manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            // The server's own fatal block, as redis-check-aof prints it.
            for line in e.report() {
                println!("{line}");
            }
            return 1;
        }
    };
    let dir = mpath.parent().unwrap_or(Path::new("."));
    // Every listed file must exist before anything is judged.
    for f in m.load_order() {
        let p = dir.join(&f.name);
        if let Err(e) = std::fs::metadata(&p) {
            println!("Cannot open the AOF file {}: {e}", f.name);
            return 1;
        }
    }
    let files: Vec<_> = m.load_order().cloned().collect();
    for (i, f) in files.iter().enumerate() {
        let p = dir.join(&f.name);
        let last = i + 1 == files.len();
        if f.kind == FileType::Base {
            let fmt = match has_rdb_preamble(&p) {
                Ok(true) => "RDB",
                _ => "AOF",
            };
            println!("Start to check BASE AOF ({fmt} format).");
        } else if i == 0 || files[i - 1].kind == FileType::Base {
            println!("Start to check INCR files.");
        }
        let kind = if f.kind == FileType::Base {
            "BASE AOF"
        } else {
            "INCR AOF"
        };
        let c = match check_file(&p, &f.name) {
            Ok(c) => c,
            Err(e) => {
                println!("{e}");
                return 1;
            }
        };
        let code = finish_file(&p, &f.name, c, fix, last, kind);
        if code != 0 {
            return code;
        }
    }
    println!("All AOF files and manifest are valid");
    0
}

/// Reports a checked file; with `fix`, truncates a broken last file.
fn finish_file(path: &Path, name: &str, c: Checked, fix: bool, last: bool, kind: &str) -> i32 {
    let diff = c.size - c.ok_up_to;
    println!(
        "AOF analyzed: filename={name}, size={}, ok_up_to={}, ok_up_to_line={}, diff={diff}",
        c.size, c.ok_up_to, c.line
    );
    let Some(_) = c.error else {
        println!("{kind} {name} is valid");
        return 0;
    };
    if !fix {
        println!("AOF {name} is not valid. Use the --fix option to try fixing it.");
        return 1;
    }
    if !last {
        println!(
            "AOF {name} is not valid and is not the last file: it cannot be fixed by truncation."
        );
        return 1;
    }
    println!(
        "This will shrink the AOF {name} from {} bytes, with {diff} bytes, to {} bytes",
        c.size, c.ok_up_to
    );
    print!("Continue? [y/N]: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if !answer.trim().eq_ignore_ascii_case("y") {
        println!("Aborting...");
        return 1;
    }
    let r = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| {
            f.set_len(c.ok_up_to)?;
            f.sync_all()
        });
    match r {
        Ok(()) => {
            println!("Successfully truncated AOF {name}");
            0
        }
        Err(e) => {
            println!("Failed to truncate AOF {name}: {e}");
            1
        }
    }
}

/// Checks one file: its RDB preamble (if any) with the RDB checker, then
/// its commands.
fn check_file(path: &Path, name: &str) -> Result<Checked, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("Cannot open file {name}: {e}"))?
        .len();
    let open = || std::fs::File::open(path).map_err(|e| format!("Cannot open file {name}: {e}"));
    let mut offset = 0;
    if has_rdb_preamble(path).map_err(|e| format!("Cannot open file {name}: {e}"))? {
        let now_ms = server::util::time::unix_ms();
        let stdout = std::io::stdout();
        let input = std::io::BufReader::with_capacity(1 << 16, open()?);
        let ok = rdb::check::check(input, name, now_ms, &mut stdout.lock())
            .map(|(_, ok)| ok)
            .unwrap_or(false);
        if !ok {
            println!("RDB preamble of AOF file is not sane, aborting.");
            return Ok(Checked {
                size,
                ok_up_to: 0,
                line: 1,
                error: Some("bad RDB preamble".into()),
            });
        }
        println!("RDB preamble is OK, proceeding with AOF tail...");
        // Where the RDB ends: the AOF tail (if any) starts there.
        let mut r =
            rdb::Reader::new(std::io::BufReader::new(open()?)).map_err(|e| e.to_string())?;
        while r.next_item().map_err(|e| e.to_string())?.is_some() {}
        offset = r.offset();
    }
    let mut f = open()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset)).map_err(|e| e.to_string())?;
    let mut r = CommandReader::new(std::io::BufReader::with_capacity(1 << 16, f), offset);
    // Inside a MULTI without EXEC yet: where it began.
    let mut before_multi = None;
    loop {
        let start = r.offset();
        match r.next_step() {
            Ok(Step::Eof) => {
                if let Some(at) = before_multi {
                    println!(
                        "0x{:16x}: Reached EOF before reading EXEC for MULTI",
                        r.last_arg_at
                    );
                    return Ok(Checked {
                        size,
                        ok_up_to: at,
                        line: r.line_no(),
                        error: Some("MULTI without EXEC".into()),
                    });
                }
                return Ok(Checked {
                    size,
                    ok_up_to: r.offset(),
                    line: r.line_no(),
                    error: None,
                });
            }
            Ok(Step::Annotation(_)) => {}
            Ok(Step::Command) => {
                let cmd = r.args().get(0);
                if cmd.eq_ignore_ascii_case(b"multi") {
                    if before_multi.is_some() {
                        println!("0x{:16x}: Unexpected MULTI in AOF {name}", r.last_arg_at);
                        return Ok(Checked {
                            size,
                            ok_up_to: before_multi.unwrap_or(start),
                            line: r.line_no(),
                            error: Some("Unexpected MULTI".into()),
                        });
                    }
                    before_multi = Some(start);
                } else if cmd.eq_ignore_ascii_case(b"exec") && before_multi.take().is_none() {
                    println!("0x{:16x}: Unexpected EXEC in AOF {name}", r.last_arg_at);
                    return Ok(Checked {
                        size,
                        ok_up_to: start,
                        line: r.line_no(),
                        error: Some("Unexpected EXEC".into()),
                    });
                }
            }
            Err(e) => {
                if e.not_a_command {
                    println!("AOF {name} format error");
                } else {
                    println!("0x{:16x}: {}", e.at, e.reason);
                }
                return Ok(Checked {
                    size,
                    ok_up_to: before_multi.unwrap_or(e.valid_up_to),
                    line: e.line,
                    error: Some(e.reason),
                });
            }
        }
    }
}
